using SharpOptim.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// signSGD: Bernstein, Wang, Azizzadenesheli and Anandkumar, "signSGD: Compressed Optimisation for Non-Convex
/// Problems", ICML 2018 (arXiv:1802.04434), Algorithm 1.
/// <para>Update, for gradient g (negated when <c>maximize</c>) and L2 weight decay λ added to the gradient:</para>
/// <code>
/// θ ← θ − lr · sign(g + λ θ)
/// </code>
/// <para>No state. The paper has no weight decay; it enters the gradient as in the authors' Signum code.</para>
/// </summary>
public sealed class SignSGD : OptimizerBase
{
    private readonly FusedJob<SignKernel> _job = new();

    /// <summary>signSGD over a flat list of parameters.</summary>
    public SignSGD(IEnumerable<Parameter> parameters, double lr = 1e-3, double weight_decay = 0, bool maximize = false)
        : base(SingleGroup(parameters), new Options { LearningRate = lr, WeightDecay = weight_decay, Maximize = maximize }, null) { }

    /// <summary>SignSGD over named parameters (names appear in error messages and checkpoints).</summary>
    public SignSGD(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double weight_decay = 0, bool maximize = false)
        : this(SingleGroup(parameters), new Options { LearningRate = lr, WeightDecay = weight_decay, Maximize = maximize }) { }

    private SignSGD((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names) { }

    /// <summary>signSGD over parameter groups; unset options take these defaults.</summary>
    public SignSGD(IEnumerable<ParamGroup> groups, double lr = 1e-3, double weight_decay = 0, bool maximize = false)
        : base(groups, new Options { LearningRate = lr, WeightDecay = weight_decay, Maximize = maximize }, null) { }

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state) { }

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        SignUpdate.Portable(p, g, null, o.LearningRate!.Value, o.WeightDecay!.Value, 0, o.Maximize!.Value);
        state.Step++;
    }

    /// <inheritdoc />
    protected override unsafe void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        _job.Run(SignUpdate.Kernel(p, g, null, o.LearningRate!.Value, o.WeightDecay!.Value, 0, o.Maximize!.Value), p.NumberOfElements);
        state.Step++;
    }

    /// <summary>signSGD's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>L2 penalty added to the gradient before the sign, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>Maximize the objective instead of minimizing.</summary>
        public bool? Maximize { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireNonNegative("weight_decay", WeightDecay);
            RequireSet("maximize", Maximize);
        }
    }
}
