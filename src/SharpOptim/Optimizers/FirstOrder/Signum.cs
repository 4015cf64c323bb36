using SharpOptim.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// Signum (sign momentum): Bernstein, Wang, Azizzadenesheli and Anandkumar, "signSGD: Compressed Optimisation for
/// Non-Convex Problems", ICML 2018 (arXiv:1802.04434), Algorithm 3.
/// <para>Update, for gradient g (negated when <c>maximize</c>), momentum β and L2 weight decay λ:</para>
/// <code>
/// m ← β m + (1 − β)(g + λ θ)      (m starts at 0)
/// θ ← θ − lr · sign(m)
/// </code>
/// <para>One state tensor (4 bytes per float32 parameter). Weight decay enters the gradient, as in the authors' code.</para>
/// </summary>
public sealed class Signum : OptimizerBase, TorchSharp.torch.optim.IMomentum
{
    /// <summary>The defaults' momentum, for TorchSharp's schedulers that cycle momentum (OneCycleLR, CyclicLR); each group's own is in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    double TorchSharp.torch.optim.IMomentum.Momentum { get => DefaultMomentum; set => DefaultMomentum = value; }

    private readonly FusedJob<SignKernel> _job = new();

    /// <summary>Signum over a flat list of parameters.</summary>
    public Signum(IEnumerable<Parameter> parameters, double lr = 1e-3, double momentum = 0.9, double weight_decay = 0, bool maximize = false)
        : base(SingleGroup(parameters), MakeDefaults(lr, momentum, weight_decay, maximize), null) { }

    /// <summary>Signum over named parameters (names appear in error messages and checkpoints).</summary>
    public Signum(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double momentum = 0.9, double weight_decay = 0, bool maximize = false)
        : this(SingleGroup(parameters), MakeDefaults(lr, momentum, weight_decay, maximize)) { }

    private Signum((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names) { }

    /// <summary>Signum over parameter groups; unset options take these defaults.</summary>
    public Signum(IEnumerable<ParamGroup> groups, double lr = 1e-3, double momentum = 0.9, double weight_decay = 0, bool maximize = false)
        : base(groups, MakeDefaults(lr, momentum, weight_decay, maximize), null) { }

    private static Options MakeDefaults(double lr, double momentum, double wd, bool maximize) =>
        new() { LearningRate = lr, Momentum = momentum, WeightDecay = wd, Maximize = maximize };

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state) =>
        state.AddZeros("momentum_buffer");

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        SignUpdate.Portable(p, g, state["momentum_buffer"], o.LearningRate!.Value, o.WeightDecay!.Value, o.Momentum!.Value, o.Maximize!.Value);
        state.Step++;
    }

    /// <inheritdoc />
    protected override unsafe void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        _job.Run(SignUpdate.Kernel(p, g, state["momentum_buffer"], o.LearningRate!.Value, o.WeightDecay!.Value, o.Momentum!.Value, o.Maximize!.Value), p.NumberOfElements);
        state.Step++;
    }

    /// <summary>Signum's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Momentum β, in [0, 1).</summary>
        public double? Momentum { get; set; }
        /// <summary>L2 penalty added to the gradient, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>Maximize the objective instead of minimizing.</summary>
        public bool? Maximize { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireUnitInterval("momentum", Momentum);
            RequireNonNegative("weight_decay", WeightDecay);
            RequireSet("maximize", Maximize);
        }
    }
}
