using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// AdaGrad-Norm (scalar AdaGrad): one step size for the whole model, adapted by the accumulated squared norm of all
/// gradients. As defined by Ward, Wu and Bottou, "AdaGrad stepsizes: sharp convergence over nonconvex landscapes"
/// (ICML 2019, arXiv:1806.01811), and used as the base optimizer of AdAdaGrad-Norm in Lau, Liu and Kolar,
/// "AdAdaGrad: Adaptive Batch Size Schemes for Adaptive Gradient Methods" (arXiv:2402.11215).
/// <para>Update at step t, for gradients g (negated when <c>maximize</c>, plus L2 penalty λθ), summed over every
/// parameter of every group that has a gradient this step:</para>
/// <code>
/// b²  ← b² + Σ_p ‖g_p‖²                 (b² starts at initial_accumulator_value = b₀²)
/// θ_p ← θ_p − lr_p · g_p / (b + ε)
/// </code>
/// <para>
/// Defaults follow the official AdAdaGrad code (timlautk/AdAdaGrad, adagradnorm.py): lr = 1, b₀² = 1e-2, ε = 1e-10.
/// Deviations and choices: (1) the norm is over the whole model, as the paper defines AdaGrad-Norm; the official
/// code's <c>Adagradnorm</c> class keeps one accumulator per output row of each weight matrix (a per-row variant),
/// which is not what the paper analyses. (2) weight decay is an L2 penalty added to the gradient before the norm
/// (the official code adds <c>−lr·wd·grad</c> after the step, which is not a weight decay; we do not reproduce it);
/// the official code's optional momentum and learning-rate decay are not included. (3) b₀² is optimizer-wide (a
/// constructor argument, not a per-group option), because there is one accumulator; lr, ε, weight decay and
/// maximize may differ per group. (4) The accumulator is a host double during a step and is stored, for checkpoints,
/// as a 0-dimensional tensor in every parameter's state (all copies equal; in the parameter's dtype, so float32
/// parameters round it to float32 between steps). There is no fused kernel: the update needs a global reduction first.
/// </para>
/// <para>
/// AdAdaGrad-Norm is this optimizer plus <see cref="SharpOptim.Training.AdaptiveBatchSize"/> choosing each next batch size
/// (see that class for the training loop).
/// </para>
/// </summary>
public sealed class AdaGradNorm : OptimizerBase
{
    private readonly double _initialAccumulator;
    private double _accumulator;

    /// <summary>AdaGrad-Norm over a flat list of parameters.</summary>
    public AdaGradNorm(IEnumerable<Parameter> parameters, double lr = 1.0, double initial_accumulator_value = 1e-2,
        double eps = 1e-10, double weight_decay = 0, bool maximize = false)
        : base(SingleGroup(parameters), MakeDefaults(lr, eps, weight_decay, maximize, initial_accumulator_value), null)
    {
        _initialAccumulator = initial_accumulator_value;
    }

    /// <summary>AdaGrad-Norm over named parameters.</summary>
    public AdaGradNorm(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1.0,
        double initial_accumulator_value = 1e-2, double eps = 1e-10, double weight_decay = 0, bool maximize = false)
        : this(SingleGroup(parameters), MakeDefaults(lr, eps, weight_decay, maximize, initial_accumulator_value), initial_accumulator_value) { }

    /// <summary>AdaGrad-Norm over parameter groups; unset options take these defaults.</summary>
    public AdaGradNorm(IEnumerable<ParamGroup> groups, double lr = 1.0, double initial_accumulator_value = 1e-2,
        double eps = 1e-10, double weight_decay = 0, bool maximize = false)
        : base(groups, MakeDefaults(lr, eps, weight_decay, maximize, initial_accumulator_value), null)
    {
        _initialAccumulator = initial_accumulator_value;
    }

    private AdaGradNorm((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults, double init)
        : base(named.Groups, defaults, named.Names)
    {
        _initialAccumulator = init;
    }

    private static Options MakeDefaults(double lr, double eps, double wd, bool maximize, double init)
    {
        // b₀² is not a group option; it is checked here so a bad value fails before anything exists.
        if (!double.IsFinite(init) || init < 0)
            throw new ArgumentException(FormattableString.Invariant($"Invalid initial_accumulator_value: {init:R} (must be a finite number >= 0)."), "initial_accumulator_value");
        return new() { LearningRate = lr, Eps = eps, WeightDecay = wd, Maximize = maximize };
    }

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override bool ShapeFlexibleState => true;

    /// <summary>The accumulated b² after the last step (b₀² before the first).</summary>
    public double Accumulator => CurrentAccumulator();

    private double CurrentAccumulator()
    {
        foreach (var (_, _, s) in Parameters())
            if (s.IsInitialized) return s["sum"].to_type(ScalarType.Float64).item<double>();
        return _initialAccumulator;
    }

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        using var s = new ScalarHold();
        state.Add("sum", full(Array.Empty<long>(), s[_initialAccumulator], dtype: parameter.dtype, device: parameter.device));
    }

    private static Tensor Effective(Options o, Parameter p, Tensor g, ScalarHold s)
    {
        var grad = o.Maximize!.Value ? g.neg() : g;
        return o.WeightDecay!.Value != 0 ? grad.add(p, s[o.WeightDecay.Value]) : grad;
    }

    /// <inheritdoc />
    protected override void BeforeUpdates()
    {
        double previous = CurrentAccumulator();
        double total = 0;
        using var held = new ScalarHold();
        foreach (var (opts, p, _) in Parameters())
        {
            if (p.grad is not { } g) continue;
            total += Effective((Options)opts, p, g, held).pow(held[2]).sum().to_type(ScalarType.Float64).item<double>();
        }
        double accumulator = previous + total;
        // b² is kept in every parameter's dtype: refuse a sum it cannot hold (before anything is written).
        foreach (var (_, p, s) in Parameters())
            if ((s.IsInitialized || p.grad is not null) && !(accumulator <= MaxFinite(p.dtype)))
                throw new ArgumentException(FormattableString.Invariant(
                    $"The accumulated squared gradient norm b² = {accumulator:R} is not finite in the dtype {p.dtype} of parameter '{s.Name}' (largest finite value {MaxFinite(p.dtype):R}); nothing was changed."));
        _accumulator = accumulator;
        foreach (var (opts, p, s) in Parameters())
        {
            if (p.grad is not null) EnsureState(opts, p, s);
            if (s.IsInitialized) s["sum"].fill_(held[_accumulator]);
        }
    }

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double denom = Math.Sqrt(_accumulator) + o.Eps!.Value;
        // denom is 0 only when b₀² = ε = 0 and every gradient so far was 0: then the update is 0, not NaN.
        double step = denom > 0 ? o.LearningRate!.Value / denom : 0;
        using var s = new ScalarHold();
        p.add_(Effective(o, p, g, s), s[-step]);
        state.Step++;
    }

    /// <summary>AdaGrad-Norm's per-group hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Added to b in the denominator, &gt;= 0.</summary>
        public double? Eps { get; set; }
        /// <summary>L2 penalty added to the gradient (it enters the norm), &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>Maximize the objective instead of minimizing.</summary>
        public bool? Maximize { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireNonNegative("eps", Eps);
            RequireNonNegative("weight_decay", WeightDecay);
            RequireSet("maximize", Maximize);
        }
    }
}
