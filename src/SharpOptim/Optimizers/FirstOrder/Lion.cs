using SharpOptim.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// Lion (EvoLved Sign Momentum): Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023
/// (arXiv:2302.06675); official code google/automl, lion/lion_pytorch.py.
/// <para>Update, for gradient g (negated when <c>maximize</c>), decoupled weight decay λ:</para>
/// <code>
/// θ ← θ (1 − lr λ)
/// u ← β1 m + (1 − β1) g
/// θ ← θ − lr · sign(u)
/// m ← β2 m + (1 − β2) g
/// </code>
/// <para>
/// One state tensor (4 bytes per float32 parameter). Defaults as in the paper and official code: lr = 1e-4,
/// β1 = 0.9, β2 = 0.99, λ = 0. The paper recommends a learning rate 3–10x smaller and a weight decay 3–10x larger
/// than AdamW's. <c>maximize</c> is an addition for API uniformity. sign(0) = 0, as torch.sign.
/// </para>
/// </summary>
public sealed class Lion : OptimizerBase, TorchSharp.torch.optim.IBetas
{
    /// <summary>β1 and β2 of the defaults, for TorchSharp's schedulers that cycle momentum (OneCycleLR); each group's own are in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    (double, double) TorchSharp.torch.optim.IBetas.Betas { get => DefaultBetas; set => DefaultBetas = value; }

    private readonly FusedJob<LionKernel> _job = new();

    /// <summary>Lion over a flat list of parameters.</summary>
    public Lion(IEnumerable<Parameter> parameters, double lr = 1e-4, double beta1 = 0.9, double beta2 = 0.99,
        double weight_decay = 0, bool maximize = false)
        : base(SingleGroup(parameters), MakeDefaults(lr, beta1, beta2, weight_decay, maximize), null) { }

    /// <summary>Lion over named parameters.</summary>
    public Lion(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-4, double beta1 = 0.9,
        double beta2 = 0.99, double weight_decay = 0, bool maximize = false)
        : this(SingleGroup(parameters), MakeDefaults(lr, beta1, beta2, weight_decay, maximize)) { }

    /// <summary>Lion over parameter groups; unset options take these defaults.</summary>
    public Lion(IEnumerable<ParamGroup> groups, double lr = 1e-4, double beta1 = 0.9, double beta2 = 0.99,
        double weight_decay = 0, bool maximize = false)
        : base(groups, MakeDefaults(lr, beta1, beta2, weight_decay, maximize), null) { }

    private Lion((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names) { }

    private static Options MakeDefaults(double lr, double beta1, double beta2, double wd, bool maximize) =>
        new() { LearningRate = lr, Beta1 = beta1, Beta2 = beta2, WeightDecay = wd, Maximize = maximize };

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state) =>
        state.AddZeros("exp_avg");

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, b1 = o.Beta1!.Value, b2 = o.Beta2!.Value;
        using var s = new ScalarHold();
        var grad = o.Maximize!.Value ? g.neg() : g;
        var m = state["exp_avg"];
        p.mul_(s[1 - lr * o.WeightDecay!.Value]);
        var update = m.mul(s[b1]).add(grad.mul(s[1 - b1]), s[1]);
        p.add_(update.sign(), s[-lr]);
        m.mul_(s[b2]).add_(grad, s[1 - b2]);
        state.Step++;
    }

    /// <inheritdoc />
    protected override unsafe void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, b1 = o.Beta1!.Value, b2 = o.Beta2!.Value;
        _job.Run(new LionKernel
        {
            P = OptimizerPointers.Of(p), G = OptimizerPointers.Of(g), M = OptimizerPointers.Of(state["exp_avg"]),
            Sign = o.Maximize!.Value ? -1f : 1f, Decay = (float)(1 - lr * o.WeightDecay!.Value),
            Beta1 = (float)b1, OneMinusBeta1 = (float)(1 - b1), Beta2 = (float)b2, OneMinusBeta2 = (float)(1 - b2),
            NegLr = (float)-lr,
        }, p.NumberOfElements);
        state.Step++;
    }

    /// <summary>Lion's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Interpolation between momentum and gradient for the update direction, in [0, 1).</summary>
        public double? Beta1 { get; set; }
        /// <summary>Decay of the momentum, in [0, 1).</summary>
        public double? Beta2 { get; set; }
        /// <summary>Decoupled weight decay λ, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>Maximize the objective instead of minimizing.</summary>
        public bool? Maximize { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireUnitInterval("beta1", Beta1);
            RequireUnitInterval("beta2", Beta2);
            RequireNonNegative("weight_decay", WeightDecay);
            RequireSet("maximize", Maximize);
        }
    }
}
