using SharpOptim.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// diffGrad: Dubey, Chakraborty, Roy, Mukherjee, Singh and Chaudhuri, "diffGrad: An Optimization Method for
/// Convolutional Neural Networks", IEEE TNNLS 31(11), 2020 (arXiv:1909.11015); official code shivram1987/diffGrad.
/// <para>Adam whose first moment is scaled per coordinate by a friction coefficient of the gradient change:</para>
/// <code>
/// g  ← g + λ θ
/// m  ← β1 m + (1 − β1) g
/// v  ← β2 v + (1 − β2) g²
/// ξ  ← sigmoid(|g_prev − g|) = 1 / (1 + exp(−|g_prev − g|))      (g_prev starts at 0)
/// θ  ← θ − lr (√(1 − β2^t) / (1 − β1^t)) · ξ m / (√v + ε)
/// g_prev ← g
/// </code>
/// <para>
/// As the official code: ε is added to √v before the bias correction is applied through the step size, and the
/// stored previous gradient includes the weight-decay term. The previous gradient is a copy, as in the repository's
/// diffGrad_v2.py; its diffGrad.py (the version the paper used) keeps a reference to the gradient tensor, which
/// differs only when a training loop accumulates gradients in place (the difference then reads 0 and ξ sticks at 0.5). Three state tensors (12 bytes per float32 parameter).
/// <c>maximize</c> is an addition for API uniformity.
/// </para>
/// </summary>
public sealed class DiffGrad : OptimizerBase, TorchSharp.torch.optim.IBetas
{
    /// <summary>β1 and β2 of the defaults, for TorchSharp's schedulers that cycle momentum (OneCycleLR); each group's own are in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    (double, double) TorchSharp.torch.optim.IBetas.Betas { get => DefaultBetas; set => DefaultBetas = value; }

    private readonly FusedJob<DiffGradKernel> _job = new();

    /// <summary>diffGrad over a flat list of parameters.</summary>
    public DiffGrad(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 0, bool maximize = false)
        : base(SingleGroup(parameters), MakeDefaults(lr, beta1, beta2, eps, weight_decay, maximize), null) { }

    /// <summary>DiffGrad over named parameters (names appear in error messages and checkpoints).</summary>
    public DiffGrad(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 0, bool maximize = false)
        : this(SingleGroup(parameters), MakeDefaults(lr, beta1, beta2, eps, weight_decay, maximize)) { }

    private DiffGrad((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names) { }

    /// <summary>diffGrad over parameter groups; unset options take these defaults.</summary>
    public DiffGrad(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 0, bool maximize = false)
        : base(groups, MakeDefaults(lr, beta1, beta2, eps, weight_decay, maximize), null) { }

    private static Options MakeDefaults(double lr, double beta1, double beta2, double eps, double wd, bool maximize) =>
        new() { LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps, WeightDecay = wd, Maximize = maximize };

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        state.AddZeros("exp_avg");
        state.AddZeros("exp_avg_sq");
        state.AddZeros("previous_grad");
    }

    private static double StepSize(Options o, long step) =>
        o.LearningRate!.Value * Math.Sqrt(1 - Math.Pow(o.Beta2!.Value, step)) / (1 - Math.Pow(o.Beta1!.Value, step));

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double b1 = o.Beta1!.Value, b2 = o.Beta2!.Value;
        using var s = new ScalarHold();
        long step = ++state.Step;
        var grad = o.Maximize!.Value ? g.neg() : g;
        if (o.WeightDecay!.Value != 0) grad = grad.add(p.mul(s[o.WeightDecay.Value]), s[1]);
        var m = state["exp_avg"];
        var v = state["exp_avg_sq"];
        var prev = state["previous_grad"];
        m.mul_(s[b1]).add_(grad, s[1 - b1]);
        v.mul_(s[b2]).addcmul_(grad, grad, s[1 - b2]);
        var denom = v.sqrt().add_(s[o.Eps!.Value], s[1]);
        var dfc = (prev - grad).abs().neg().exp().add(s[1], s[1]).reciprocal();
        prev.copy_(grad);
        p.addcdiv_(m * dfc, denom, s[-StepSize(o, step)]);
    }

    /// <inheritdoc />
    protected override unsafe void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        long step = ++state.Step;
        _job.Run(new DiffGradKernel
        {
            P = OptimizerPointers.Of(p), G = OptimizerPointers.Of(g), M = OptimizerPointers.Of(state["exp_avg"]),
            V = OptimizerPointers.Of(state["exp_avg_sq"]), Prev = OptimizerPointers.Of(state["previous_grad"]),
            Sign = o.Maximize!.Value ? -1f : 1f, WeightDecay = (float)o.WeightDecay!.Value,
            Beta1 = (float)o.Beta1!.Value, OneMinusBeta1 = (float)(1 - o.Beta1.Value),
            Beta2 = (float)o.Beta2!.Value, OneMinusBeta2 = (float)(1 - o.Beta2.Value),
            Eps = (float)o.Eps!.Value, NegStepSize = (float)-StepSize(o, step),
        }, p.NumberOfElements);
    }

    /// <summary>diffGrad's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : AdamStyleOptions
    {
        /// <summary>Maximize the objective instead of minimizing.</summary>
        public bool? Maximize { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireSet("maximize", Maximize);
        }
    }
}
