using SharpOptim.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// Sophia: Liu, Li, Hall, Liang and Ma, "Sophia: A Scalable Stochastic Second-order Optimizer for Language Model
/// Pre-training", ICLR 2024 (arXiv:2305.14342); official code Liuhong99/Sophia (sophia.py, SophiaG).
/// <para>Every step, for gradient g (negated when <c>maximize</c>):</para>
/// <code>
/// θ ← θ (1 − lr λ)
/// m ← β1 m + (1 − β1) g
/// θ ← θ − lr · sign(m) · min(|m| / D, 1)
///   D = ρ · B · h + ε          (Sophia-G, as the official code; B = batch_size, ε = 1e-15)
///   D = max(ρ · h, ε)          (Sophia-H, the paper's clip(m / max(γh, ε), 1))
/// </code>
/// <para>Every k steps the user refreshes the diagonal Hessian estimate h ← β2 h + (1 − β2) ĥ:</para>
/// <list type="bullet">
/// <item>Sophia-G: ĥ = ĝ⊙ĝ, with ĝ the gradient of <see cref="SampledLabelLoss"/> (labels drawn from the model's own
/// softmax); the factor B of the paper's B·ĝ⊙ĝ is applied in D, as in the official code. Call
/// <see cref="UpdateHessian()"/> after that backward pass.</item>
/// <item>Sophia-H: ĥ = u⊙(∇²L u), u Rademacher, through a Hessian-vector product; call
/// <see cref="UpdateHessian(Func{Tensor}, Generator?)"/> with a closure that computes the loss.</item>
/// </list>
/// <example>
/// <code>
/// var opt = new Sophia(model.parameters(), lr: 2e-4, rho: 0.05, batch_size: tokensPerBatch);
/// for (int t = 0; t &lt; steps; t++) {
///     opt.zero_grad(); loss(model, batch).backward(); opt.step();
///     if (t % k == k - 1) {                                   // Sophia-G estimator, every k steps
///         opt.zero_grad();
///         Sophia.SampledLabelLoss(model.forward(batch.X)).backward();
///         opt.UpdateHessian();
///         opt.zero_grad();
///     }
/// }
/// </code>
/// </example>
/// <para>
/// Deviation: for Sophia-H the denominator follows the paper (max with ε), because a Hutchinson estimate can be
/// negative and the official SophiaG formula (ρBh + ε) would then reverse the step. Defaults follow the official
/// code (lr 1e-4, β = (0.965, 0.99), ρ = 0.04, λ = 0.1). Two state tensors (8 bytes per float32 parameter).
/// </para>
/// </summary>
public sealed class Sophia : OptimizerBase, TorchSharp.torch.optim.IBetas
{
    /// <summary>β1 and β2 of the defaults, for TorchSharp's schedulers that cycle momentum (OneCycleLR); each group's own are in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    (double, double) TorchSharp.torch.optim.IBetas.Betas { get => DefaultBetas; set => DefaultBetas = value; }

    private readonly FusedJob<SophiaKernel> _job = new();

    /// <summary>Sophia over a flat list of parameters.</summary>
    public Sophia(IEnumerable<Parameter> parameters, double lr = 1e-4, double beta1 = 0.965, double beta2 = 0.99,
        double rho = 0.04, double weight_decay = 0.1, SophiaEstimator estimator = SophiaEstimator.GaussNewtonBartlett,
        long batch_size = 5120, double eps = 1e-15, bool maximize = false)
        : this(SingleGroup(parameters), lr, beta1, beta2, rho, weight_decay, estimator, batch_size, eps, maximize) { }

    /// <summary>Sophia over named parameters (names appear in error messages and checkpoints).</summary>
    public Sophia(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-4, double beta1 = 0.965, double beta2 = 0.99,
        double rho = 0.04, double weight_decay = 0.1, SophiaEstimator estimator = SophiaEstimator.GaussNewtonBartlett,
        long batch_size = 5120, double eps = 1e-15, bool maximize = false)
        : this(SingleGroup(parameters), MakeDefaults(lr, beta1, beta2, rho, weight_decay, batch_size, eps, maximize), CheckEstimator(estimator)) { }

    /// <summary>Sophia over parameter groups; unset options take these defaults.</summary>
    public Sophia(IEnumerable<ParamGroup> groups, double lr = 1e-4, double beta1 = 0.965, double beta2 = 0.99,
        double rho = 0.04, double weight_decay = 0.1, SophiaEstimator estimator = SophiaEstimator.GaussNewtonBartlett,
        long batch_size = 5120, double eps = 1e-15, bool maximize = false)
        : base(groups, MakeDefaults(lr, beta1, beta2, rho, weight_decay, batch_size, eps, maximize), null)
    {
        Estimator = CheckEstimator(estimator);
    }

    private Sophia((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults, SophiaEstimator estimator)
        : base(named.Groups, defaults, named.Names)
    {
        Estimator = estimator;
    }

    private static Options MakeDefaults(double lr, double beta1, double beta2, double rho, double wd, long batchSize, double eps, bool maximize) => new()
    {
        LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Rho = rho, WeightDecay = wd, BatchSize = batchSize, Eps = eps, Maximize = maximize,
    };

    private static SophiaEstimator CheckEstimator(SophiaEstimator estimator) => Enum.IsDefined(estimator) ? estimator
        : throw new ArgumentException(FormattableString.Invariant($"Invalid estimator: {estimator}."), nameof(estimator));

    /// <summary>The Hessian estimator this optimizer's denominator is built for.</summary>
    public SophiaEstimator Estimator { get; }

    /// <summary>How many times the Hessian estimate has been refreshed.</summary>
    public long HessianUpdates { get; private set; }

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        state.AddZeros("exp_avg");
        state.AddZeros("hessian");
    }

    /// <summary>
    /// Cross-entropy of <paramref name="logits"/> ([..., classes]) against labels sampled from their own softmax:
    /// the loss whose gradient ĝ gives the Gauss-Newton-Bartlett estimate.
    /// </summary>
    public static Tensor SampledLabelLoss(Tensor logits, Generator? generator = null)
    {
        var flat = logits.reshape(-1, logits.shape[^1]);
        using var probs = nn.functional.softmax(flat.detach(), -1);
        using var labels = multinomial(probs, 1, replacement: true, generator: generator).squeeze(-1);
        return nn.functional.cross_entropy(flat, labels);
    }

    /// <summary>Sophia-G: h ← β2 h + (1 − β2) g⊙g from the current gradients (those of <see cref="SampledLabelLoss"/>).</summary>
    public void UpdateHessian()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var work = new List<(Options O, Parameter P, ParameterState S, Tensor G)>();
        foreach (var (o, p, s) in Parameters())
        {
            var g = p.grad;
            if (g is null) continue;
            if (!g.shape.SequenceEqual(p.shape))
                throw new ArgumentException(FormattableString.Invariant($"The gradient of parameter '{s.Name}' has shape [{string.Join(", ", g.shape)}], the parameter [{string.Join(", ", p.shape)}]."));
            if (!g.isfinite().all().item<bool>())
                throw new NonFiniteGradientException(s.Name);
            work.Add(((Options)o, p, s, g));
        }
        using var held = new ScalarHold();
        foreach (var (o, p, s, g) in work)
        {
            EnsureState(o, p, s);
            s["hessian"].mul_(held[o.Beta2!.Value]).addcmul_(g, g, held[1 - o.Beta2.Value]);
        }
        HessianUpdates++;
    }

    /// <summary>
    /// Sophia-H: h ← β2 h + (1 − β2) u⊙(∇²L u) with Rademacher probes u, where L is what <paramref name="loss"/>
    /// returns. Needs a loss that is twice differentiable; parameters' .grad are left untouched.
    /// </summary>
    public void UpdateHessian(Func<Tensor> loss, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(loss);
        var ps = Parameters().Where(x => x.Parameter.requires_grad).Select(x => x.Parameter).ToList();
        using var s = new ScalarHold();
        var probes = ps.Select(p => randint(0, 2, p.shape, dtype: p.dtype, device: p.device, generator: generator).mul_(s[2]).sub_(s[1])).ToList();
        try
        {
            UpdateHessianWithProbes(loss, probes);
        }
        finally
        {
            foreach (var u in probes) u.Dispose();
        }
    }

    /// <summary>The Hutchinson update with given probe vectors (one per trainable parameter, in group order).</summary>
    internal void UpdateHessianWithProbes(Func<Tensor> loss, IReadOnlyList<Tensor> probes)
    {
        var items = Parameters().Where(x => x.Parameter.requires_grad).ToList();
        if (probes.Count != items.Count) throw new ArgumentException(FormattableString.Invariant($"{probes.Count} probes for {items.Count} parameters."));
        using var scope = NewDisposeScope();
        using var held = new ScalarHold();
        IList<Tensor> hv;
        using (enable_grad())
        {
            var l = loss();
            var ps = items.Select(x => (Tensor)x.Parameter).ToList();
            // TorchSharp aborts the process on create_graph without retain_graph, so both are set.
            var grads = autograd.grad(new[] { l }, ps, create_graph: true, retain_graph: true);
            Tensor dot = zeros(1, dtype: l.dtype, device: l.device);
            for (int i = 0; i < grads.Count; i++) dot = dot.add((grads[i] * probes[i]).sum(), held[1]);
            hv = autograd.grad(new[] { dot }, ps, retain_graph: false, create_graph: false);
        }
        using var _ = no_grad();
        var estimates = new List<Tensor>();
        for (int i = 0; i < items.Count; i++)
        {
            var est = probes[i] * hv[i];
            if (!est.isfinite().all().item<bool>()) throw new NonFiniteGradientException(items[i].State.Name);
            estimates.Add(est);
        }
        for (int i = 0; i < items.Count; i++)
        {
            var (o, p, s) = items[i];
            EnsureState(o, p, s);
            double b2 = ((Options)o).Beta2!.Value;
            s["hessian"].mul_(held[b2]).add_(estimates[i], held[1 - b2]);
        }
        HessianUpdates++;
    }

    private (float RhoScale, float Eps, bool Max) Denominator(Options o) => Estimator == SophiaEstimator.GaussNewtonBartlett
        ? ((float)(o.Rho!.Value * o.BatchSize!.Value), (float)o.Eps!.Value, false)
        : ((float)o.Rho!.Value, (float)o.Eps!.Value, true);

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, b1 = o.Beta1!.Value;
        using var s = new ScalarHold();
        state.Step++;
        var grad = o.Maximize!.Value ? g.neg() : g;
        var m = state["exp_avg"];
        var h = state["hessian"];
        p.mul_(s[1 - lr * o.WeightDecay!.Value]);
        m.mul_(s[b1]).add_(grad, s[1 - b1]);
        var (rhoScale, eps, max) = Denominator(o);
        // The float values are widened exactly to double, so the scalars equal the official float32 arithmetic.
        var denom = max ? h.mul(s[rhoScale]).clamp_min(s[eps]) : h.mul(s[rhoScale]).add_(s[eps], s[1]);
        var ratio = (m.abs() / denom).clamp_max(s[1]);
        p.addcmul_(m.sign(), ratio, s[-lr]);
    }

    /// <inheritdoc />
    protected override unsafe void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, b1 = o.Beta1!.Value;
        state.Step++;
        var (rhoScale, eps, max) = Denominator(o);
        _job.Run(new SophiaKernel
        {
            P = OptimizerPointers.Of(p), G = OptimizerPointers.Of(g), M = OptimizerPointers.Of(state["exp_avg"]),
            H = OptimizerPointers.Of(state["hessian"]), Sign = o.Maximize!.Value ? -1f : 1f,
            Decay = (float)(1 - lr * o.WeightDecay!.Value), Beta1 = (float)b1, OneMinusBeta1 = (float)(1 - b1),
            RhoScale = rhoScale, Eps = eps, NegLr = (float)-lr, MaxDenominator = max,
        }, p.NumberOfElements);
    }

    /// <summary>Sophia's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Decay of the gradient momentum, in [0, 1).</summary>
        public double? Beta1 { get; set; }
        /// <summary>Decay of the Hessian estimate, in [0, 1).</summary>
        public double? Beta2 { get; set; }
        /// <summary>Clipping scale ρ (γ in the paper), &gt;= 0.</summary>
        public double? Rho { get; set; }
        /// <summary>Decoupled weight decay λ, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>Sophia-G: the batch size B (tokens or samples) in the denominator ρBh + ε, &gt; 0.</summary>
        public long? BatchSize { get; set; }
        /// <summary>The ε of the denominator, &gt;= 0.</summary>
        public double? Eps { get; set; }
        /// <summary>Maximize the objective instead of minimizing.</summary>
        public bool? Maximize { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireUnitInterval("beta1", Beta1);
            RequireUnitInterval("beta2", Beta2);
            RequireNonNegative("rho", Rho);
            RequireNonNegative("weight_decay", WeightDecay);
            if (BatchSize is not > 0) throw new ArgumentException(FormattableString.Invariant($"Invalid batch_size: {BatchSize} (must be > 0)."), "batch_size");
            RequireNonNegative("eps", Eps);
            RequireSet("maximize", Maximize);
        }
    }
}
