using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// AdamW with adaptive-memory momentum (AM-AdamW): Topollai and Choromanska, "Adaptive Memory Momentum via a
/// Model-Based Framework for Deep Learning Optimization" (arXiv:2510.04988; AISTATS 2026), the paper's Algorithm 3 in
/// its per-layer form: Adam's β1 becomes a coefficient β_t computed for each parameter tensor at each step from the
/// two-plane proximal model of <see cref="AdaptiveMomentumSGD"/>, taken in Adam's preconditioned metric.
/// <para>Step t of one parameter tensor x, gradient g, decoupled weight decay μ, learning rate η (η' the previous step's):</para>
/// <code>
/// v    ← β2 v + (1 − β2) g²
/// P    = (1 − β1max · Π_{i&lt;t} β_i) · (√(v / (1 − β2^t)) + ε)        (elementwise; first-moment bias correction inside P)
/// W    = 1 / (P (1 + λP))                                          (the model's metric)
/// β_t  = β1max at t = 1; else clip( N / Σ W (d − g)², 0, β1max )  (0 when the denominator is 0), with
///        N = (1 + μη) η' Σ g (d/P + μx) / η  −  Σ W (d − g)(g + λP d)  −  μ Σ x (d − g)
/// d    ← ((1 − β_t) g + (λP + β_t) d) / (1 + λP)                   (d starts at 0)
/// x    ← x (1 − ημ) − η d / P
/// </code>
/// <para>
/// The first term of N is the memory plane's height above the loss, f̂(x_t) − f(x_t) ≈ η' ⟨g, P⁻¹d + μx⟩ (the
/// first-order loss change since the last step), so no loss value is needed. With λ = 0 the first step is AdamW's
/// bias-corrected first step.
/// </para>
/// <para>
/// Sources: the paper's full text and official code could not be read; these formulas, the per-tensor coefficient
/// ("the efficient per-layer variant used for the paper's main experiments") and the defaults λ = 0.1,
/// β1max = 0.9 − 0.1λ = 0.89 are as reported by a third-party PyTorch implementation of the paper's Algorithm 3 found in
/// a public code index (repository not identified), re-implemented here from that description; with P = I and μ = 0
/// they reduce to <see cref="AdaptiveMomentumSGD"/>'s β_t, which we derived independently. Defaults otherwise AdamW's:
/// lr = 1e-3, β2 = 0.999, ε = 1e-8, weight_decay = 1e-2 (the reported implementation defaults weight_decay to 0 and
/// exempts one-dimensional parameters; here every parameter decays unless its group says otherwise). ε must be &gt; 0.
/// State per tensor: d and v (param-shaped), Π β_i and η' (0-dimensional, in the parameter's dtype, so float32
/// parameters store η' rounded to float32). No fused kernel (each tensor needs reductions before its update).
/// </para>
/// </summary>
public sealed class AdaptiveMomentumAdamW : OptimizerBase
{
    private readonly List<double> _betas = new();

    /// <summary>AM-AdamW over a flat list of parameters.</summary>
    public AdaptiveMomentumAdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1_max = 0.89, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 1e-2, double lambda = 0.1)
        : base(SingleGroup(parameters), MakeDefaults(lr, beta1_max, beta2, eps, weight_decay, lambda), null) { }

    /// <summary>AM-AdamW over named parameters.</summary>
    public AdaptiveMomentumAdamW(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta1_max = 0.89,
        double beta2 = 0.999, double eps = 1e-8, double weight_decay = 1e-2, double lambda = 0.1)
        : this(SingleGroup(parameters), MakeDefaults(lr, beta1_max, beta2, eps, weight_decay, lambda)) { }

    /// <summary>AM-AdamW over parameter groups; unset options take these defaults.</summary>
    public AdaptiveMomentumAdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1_max = 0.89, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 1e-2, double lambda = 0.1)
        : base(groups, MakeDefaults(lr, beta1_max, beta2, eps, weight_decay, lambda), null) { }

    private AdaptiveMomentumAdamW((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names) { }

    private static Options MakeDefaults(double lr, double b1, double b2, double eps, double wd, double lambda) =>
        new() { LearningRate = lr, Beta1Max = b1, Beta2 = b2, Eps = eps, WeightDecay = wd, Lambda = lambda };

    /// <summary>The mean over parameter tensors of β_t in the last step (NaN before the first).</summary>
    public double LastBeta { get; private set; } = double.NaN;

    /// <summary>β_t of each parameter tensor updated in the last step, in parameter order.</summary>
    public IReadOnlyList<double> LastBetas => _betas;

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override bool ShapeFlexibleState => true;

    /// <inheritdoc />
    protected override void BeforeUpdates() => _betas.Clear();

    /// <inheritdoc />
    /// <remarks>The per-parameter β report of the last step, which a failed step must not leave half rewritten.</remarks>
    protected override object? SaveTransientState() => (LastBeta, _betas.ToArray());

    /// <inheritdoc />
    protected override void RestoreTransientState(object? saved)
    {
        var (last, betas) = ((double, double[]))saved!;
        LastBeta = last;
        _betas.Clear();
        _betas.AddRange(betas);
    }

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        state.AddZeros("exp_avg");
        state.AddZeros("exp_avg_sq");
        state.Add("beta_product", ones(Array.Empty<long>(), dtype: parameter.dtype, device: parameter.device));
        state.Add("previous_lr", zeros(Array.Empty<long>(), dtype: parameter.dtype, device: parameter.device));
    }

    private static double Sum(Tensor t) => t.sum().to_type(ScalarType.Float64).item<double>();

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter x, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, b1max = o.Beta1Max!.Value, b2 = o.Beta2!.Value, mu = o.WeightDecay!.Value, lam = o.Lambda!.Value;
        using var s = new ScalarHold();
        long t = state.Step + 1;
        var d = state["exp_avg"];
        var v = state["exp_avg_sq"];
        var prod = state["beta_product"];
        v.mul_(s[b2]).addcmul_(g, g, s[1 - b2]);
        double firstCorrection = Math.Max(1 - b1max * prod.to_type(ScalarType.Float64).item<double>(), double.Epsilon);
        var precond = v.div(s[1 - Math.Pow(b2, t)]).sqrt_().add_(s[o.Eps!.Value], s[1]).mul_(s[firstCorrection]);
        var regularized = precond.mul(s[lam]).add_(s[1], s[1]);
        double beta;
        if (t == 1)
        {
            beta = b1max;
        }
        else
        {
            var diff = d.sub(g);
            var metric = precond.mul(regularized).reciprocal_();
            double denominator = Sum(diff.pow(s[2]).mul_(metric));
            double inner = Sum(diff.mul(g.add(precond.mul(d).mul_(s[lam]), s[1])).mul_(metric));
            double previousLr = state["previous_lr"].to_type(ScalarType.Float64).item<double>();
            var direction = d.div(precond);
            if (mu != 0) direction.add_(x, s[mu]);
            double gap = lr > 0 ? (1 + mu * lr) * previousLr * Sum(g.mul(direction)) / lr : 0;
            double wdInner = mu != 0 ? mu * Sum(x.mul(diff)) : 0;
            double numerator = gap - inner - wdInner;
            beta = denominator > 0 && !double.IsNaN(numerator / denominator) ? Math.Clamp(numerator / denominator, 0, b1max) : 0;
        }
        d.mul_(precond.mul(s[lam]).add_(s[beta], s[1])).add_(g, s[1 - beta]).div_(regularized);
        if (mu != 0) x.mul_(s[1 - lr * mu]);
        x.addcdiv_(d, precond, s[-lr]);
        prod.mul_(s[beta]);
        state["previous_lr"].fill_(s[lr]);
        state.Step++;
        _betas.Add(beta);
        LastBeta = _betas.Average();
    }

    /// <summary>AM-AdamW's per-group hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Upper clip of β_t (β1max), in [0, 1).</summary>
        public double? Beta1Max { get; set; }
        /// <summary>Decay of the second moment, in [0, 1).</summary>
        public double? Beta2 { get; set; }
        /// <summary>Added to the root of the second moment, &gt; 0.</summary>
        public double? Eps { get; set; }
        /// <summary>Decoupled weight decay μ, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>λ, the weight of the proximal term toward the heavy-ball point, &gt;= 0.</summary>
        public double? Lambda { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireUnitInterval("beta1_max", Beta1Max);
            RequireUnitInterval("beta2", Beta2);
            RequireNonNegative("eps", Eps);
            if (Eps == 0) throw new ArgumentException("Invalid eps: 0 (must be > 0: it keeps the preconditioner invertible).", "eps");
            RequireNonNegative("weight_decay", WeightDecay);
            RequireNonNegative("lambda", Lambda);
        }
    }
}
