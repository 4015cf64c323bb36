using SharpOptim.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// AdaGrad: Duchi, Hazan and Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
/// Optimization", JMLR 12 (2011).
/// <para>Update at step t, for gradient g (negated when <c>maximize</c>), L2 weight decay λ, learning-rate decay δ:</para>
/// <code>
/// g   ← g + λ θ
/// s   ← s + g²                       (s starts at initial_accumulator_value)
/// θ   ← θ − (lr / (1 + (t − 1) δ)) · g / (√s + ε)
/// </code>
/// <para>
/// torch.optim.Adagrad's formulation (the paper's diagonal variant, with PyTorch's ε outside the root and its
/// learning-rate decay); agrees with PyTorch 1.13 to rtol 1e-5 (golden tests). One state tensor.
/// </para>
/// </summary>
public sealed class Adagrad : OptimizerBase
{
    private readonly FusedJob<AdagradKernel> _job = new();

    /// <summary>AdaGrad over a flat list of parameters.</summary>
    public Adagrad(IEnumerable<Parameter> parameters, double lr = 1e-2, double lr_decay = 0, double weight_decay = 0,
        double initial_accumulator_value = 0, double eps = 1e-10, bool maximize = false)
        : base(SingleGroup(parameters), MakeDefaults(lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize), null) { }

    /// <summary>Adagrad over named parameters (names appear in error messages and checkpoints).</summary>
    public Adagrad(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-2, double lr_decay = 0, double weight_decay = 0,
        double initial_accumulator_value = 0, double eps = 1e-10, bool maximize = false)
        : this(SingleGroup(parameters), MakeDefaults(lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize)) { }

    private Adagrad((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names) { }

    /// <summary>AdaGrad over parameter groups; unset options take these defaults.</summary>
    public Adagrad(IEnumerable<ParamGroup> groups, double lr = 1e-2, double lr_decay = 0, double weight_decay = 0,
        double initial_accumulator_value = 0, double eps = 1e-10, bool maximize = false)
        : base(groups, MakeDefaults(lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize), null) { }

    private static Options MakeDefaults(double lr, double lrDecay, double wd, double init, double eps, bool maximize) =>
        new() { LearningRate = lr, LrDecay = lrDecay, WeightDecay = wd, InitialAccumulatorValue = init, Eps = eps, Maximize = maximize };

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        using var s = new ScalarHold();
        state.Add("sum", full_like(parameter, s[((Options)options).InitialAccumulatorValue!.Value]));
    }

    private static double ClippedLr(Options o, long step) => o.LearningRate!.Value / (1 + (step - 1) * o.LrDecay!.Value);

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        using var s = new ScalarHold();
        long step = ++state.Step;
        var grad = o.Maximize!.Value ? g.neg() : g;
        if (o.WeightDecay!.Value != 0) grad = grad.add(p, s[o.WeightDecay.Value]);
        var sum = state["sum"];
        sum.addcmul_(grad, grad, s[1]);
        var std = sum.sqrt().add_(s[o.Eps!.Value], s[1]);
        p.addcdiv_(grad, std, s[-ClippedLr(o, step)]);
    }

    /// <inheritdoc />
    protected override unsafe void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        long step = ++state.Step;
        _job.Run(new AdagradKernel
        {
            P = OptimizerPointers.Of(p), G = OptimizerPointers.Of(g), S = OptimizerPointers.Of(state["sum"]),
            Sign = o.Maximize!.Value ? -1f : 1f, WeightDecay = (float)o.WeightDecay!.Value, Eps = (float)o.Eps!.Value,
            NegClr = (float)-ClippedLr(o, step),
        }, p.NumberOfElements);
    }

    /// <summary>AdaGrad's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Learning-rate decay δ: the rate at step t is lr / (1 + (t − 1) δ); &gt;= 0.</summary>
        public double? LrDecay { get; set; }
        /// <summary>L2 penalty added to the gradient, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>Starting value of the sum of squared gradients, &gt;= 0.</summary>
        public double? InitialAccumulatorValue { get; set; }
        /// <summary>Added to the denominator, &gt;= 0.</summary>
        public double? Eps { get; set; }
        /// <summary>Maximize the objective instead of minimizing.</summary>
        public bool? Maximize { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireNonNegative("lr_decay", LrDecay);
            RequireNonNegative("weight_decay", WeightDecay);
            RequireNonNegative("initial_accumulator_value", InitialAccumulatorValue);
            RequireNonNegative("eps", Eps);
            RequireSet("maximize", Maximize);
        }
    }
}
