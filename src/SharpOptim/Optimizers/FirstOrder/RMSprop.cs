using SharpOptim.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// RMSprop: Tieleman and Hinton, "Lecture 6.5 — RMSprop: Divide the gradient by a running average of its recent
/// magnitude", COURSERA: Neural Networks for Machine Learning, 2012; centered variant from Graves, "Generating
/// Sequences With Recurrent Neural Networks", 2013 (arXiv:1308.0850).
/// <para>Update, for gradient g (negated when <c>maximize</c>), smoothing α, momentum μ, L2 weight decay λ:</para>
/// <code>
/// g ← g + λ θ
/// v ← α v + (1 − α) g²
/// ḡ ← α ḡ + (1 − α) g                       (centered)
/// d ← √(v − ḡ²) + ε   (centered)   or   √v + ε
/// b ← μ b + g / d;  θ ← θ − lr b           (μ &gt; 0)
/// θ ← θ − lr g / d                         (μ = 0)
/// </code>
/// <para>
/// torch.optim.RMSprop's formulation (ε outside the root, as PyTorch); agrees with PyTorch 1.13 to rtol 1e-5
/// (golden tests). α is restricted to [0, 1] (PyTorch accepts any α ≥ 0, which is meaningless above 1).
/// </para>
/// </summary>
public sealed class RMSprop : OptimizerBase, TorchSharp.torch.optim.IMomentum
{
    /// <summary>The defaults' momentum, for TorchSharp's schedulers that cycle momentum (OneCycleLR, CyclicLR); each group's own is in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    double TorchSharp.torch.optim.IMomentum.Momentum { get => DefaultMomentum; set => DefaultMomentum = value; }

    private readonly FusedJob<RmspropKernel> _job = new();

    /// <summary>RMSprop over a flat list of parameters.</summary>
    public RMSprop(IEnumerable<Parameter> parameters, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8,
        double weight_decay = 0, double momentum = 0, bool centered = false, bool maximize = false)
        : base(SingleGroup(parameters), MakeDefaults(lr, alpha, eps, weight_decay, momentum, centered, maximize), null) { }

    /// <summary>RMSprop over named parameters (names appear in error messages and checkpoints).</summary>
    public RMSprop(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8,
        double weight_decay = 0, double momentum = 0, bool centered = false, bool maximize = false)
        : this(SingleGroup(parameters), MakeDefaults(lr, alpha, eps, weight_decay, momentum, centered, maximize)) { }

    private RMSprop((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names) { }

    /// <summary>RMSprop over parameter groups; unset options take these defaults.</summary>
    public RMSprop(IEnumerable<ParamGroup> groups, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8,
        double weight_decay = 0, double momentum = 0, bool centered = false, bool maximize = false)
        : base(groups, MakeDefaults(lr, alpha, eps, weight_decay, momentum, centered, maximize), null) { }

    /// <inheritdoc />
    /// <remarks>Adds the largest step of one update, lr / √(1 − α): g / √v reaches 1 / √(1 − α) when a gradient
    /// follows a history of zeros (the first step), so a larger product would write infinities.</remarks>
    protected override IEnumerable<(string Name, double Value)> StepScalars(OptionsBase options, Parameter parameter, ParameterState state)
    {
        foreach (var x in base.StepScalars(options, parameter, state)) yield return x;
        var o = (Options)options;
        yield return ("lr / √(1 − alpha)", o.LearningRate!.Value / Math.Sqrt(1 - o.Alpha!.Value));
    }

    private static Options MakeDefaults(double lr, double alpha, double eps, double wd, double momentum, bool centered, bool maximize) =>
        new() { LearningRate = lr, Alpha = alpha, Eps = eps, WeightDecay = wd, Momentum = momentum, Centered = centered, Maximize = maximize };

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        var o = (Options)options;
        state.AddZeros("square_avg");
        if (o.Momentum!.Value > 0) state.AddZeros("momentum_buffer");
        if (o.Centered!.Value) state.AddZeros("grad_avg");
    }

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double alpha = o.Alpha!.Value, mom = o.Momentum!.Value;
        using var s = new ScalarHold();
        state.Step++;
        var grad = o.Maximize!.Value ? g.neg() : g;
        if (o.WeightDecay!.Value != 0) grad = grad.add(p, s[o.WeightDecay.Value]);
        var v = state["square_avg"];
        v.mul_(s[alpha]).addcmul_(grad, grad, s[1 - alpha]);
        Tensor avg;
        if (o.Centered!.Value)
        {
            var a = state.TryGet("grad_avg") ?? state.AddZeros("grad_avg");
            a.mul_(s[alpha]).add_(grad, s[1 - alpha]);
            avg = v.addcmul(a, a, s[-1]).sqrt_();
        }
        else avg = v.sqrt();
        avg.add_(s[o.Eps!.Value], s[1]);
        if (mom > 0)
        {
            var b = state.TryGet("momentum_buffer") ?? state.AddZeros("momentum_buffer");
            b.mul_(s[mom]).addcdiv_(grad, avg, s[1]);
            p.add_(b, s[-o.LearningRate!.Value]);
        }
        else p.addcdiv_(grad, avg, s[-o.LearningRate!.Value]);
    }

    /// <inheritdoc />
    protected override unsafe void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        state.Step++;
        var a = o.Centered!.Value ? state.TryGet("grad_avg") ?? state.AddZeros("grad_avg") : null;
        var b = o.Momentum!.Value > 0 ? state.TryGet("momentum_buffer") ?? state.AddZeros("momentum_buffer") : null;
        _job.Run(new RmspropKernel
        {
            P = OptimizerPointers.Of(p), G = OptimizerPointers.Of(g), V = OptimizerPointers.Of(state["square_avg"]),
            A = a is null ? null : OptimizerPointers.Of(a), B = b is null ? null : OptimizerPointers.Of(b),
            Sign = o.Maximize!.Value ? -1f : 1f, WeightDecay = (float)o.WeightDecay!.Value, Alpha = (float)o.Alpha!.Value,
            OneMinusAlpha = (float)(1 - o.Alpha.Value), Eps = (float)o.Eps!.Value, Momentum = (float)o.Momentum.Value,
            NegLr = (float)-o.LearningRate!.Value,
        }, p.NumberOfElements);
    }

    /// <summary>RMSprop's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Smoothing constant α of the squared-gradient average, in [0, 1].</summary>
        public double? Alpha { get; set; }
        /// <summary>Added to the denominator, &gt;= 0.</summary>
        public double? Eps { get; set; }
        /// <summary>L2 penalty added to the gradient, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>Momentum μ, &gt;= 0 (0: no buffer).</summary>
        public double? Momentum { get; set; }
        /// <summary>Normalize by the estimated variance instead of the second moment.</summary>
        public bool? Centered { get; set; }
        /// <summary>Maximize the objective instead of minimizing.</summary>
        public bool? Maximize { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireClosedUnitInterval("alpha", Alpha);
            RequireNonNegative("eps", Eps);
            RequireNonNegative("weight_decay", WeightDecay);
            RequireNonNegative("momentum", Momentum);
            RequireSet("centered", Centered);
            RequireSet("maximize", Maximize);
        }
    }
}
