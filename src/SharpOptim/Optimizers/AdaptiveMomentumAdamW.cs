using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// AdamW with adaptive-memory momentum (AM-AdamW): Topollai and Choromanska, "Adaptive Memory Momentum via a
/// Model-Based Framework for Deep Learning Optimization" (arXiv:2510.04988; AISTATS 2026). Adam's first-moment
/// coefficient β1 is replaced by the adaptive β_t of <see cref="AdaptiveMomentumSGD"/>, computed in Adam's
/// preconditioned metric (read that class for the derivation, which is ours: the paper's formula could not be read).
/// <para>Step t, for gradient g, with P = √(v / (1 − β2^t)) + ε and the metric M = lr · P⁻¹ (elementwise, per group):</para>
/// <code>
/// v       ← β2 v + (1 − β2) g²                           (Adam's second moment, bias-corrected in P)
/// θ*      = clip(−(1 + λ)(φ − f + ⟨g − m, m⟩_M) / ‖g − m‖²_M, 0, 1),   β_t = 1 − θ*
/// m       ← ((β_t + λ) m + (1 − β_t) g) / (1 + λ)        (m starts at the first gradient: no bias correction)
/// φ       ← ((β_t + λ) φ + (1 − β_t) f) / (1 + λ) − ‖m‖²_M
/// x       ← x (1 − lr · weight_decay)                    (decoupled, outside the model)
/// x       ← x − lr · m / P
/// </code>
/// <para>
/// f is the mini-batch loss at the current parameters: pass it through <c>step(closure)</c> or
/// <see cref="CurrentLoss"/>. Defaults: lr = 1e-3, β2 = 0.999, ε = 1e-8, weight_decay = 1e-2 (torch.optim.AdamW's),
/// λ = 0 (optimizer-wide). Choices: the proximal model uses Adam's preconditioner as its metric, which is how the paper
/// describes the integration with preconditioning; the decoupled weight decay is applied outside the model (the memory
/// plane moves by the model step −M m only); v is updated before β_t is computed, so the metric of step t includes g_t.
/// State: momentum and second moment (param-shaped) and φ (0-dimensional, one equal copy per parameter). No fused kernel.
/// </para>
/// </summary>
public sealed class AdaptiveMomentumAdamW : OptimizerBase
{
    private readonly double _lambda;
    private readonly Dictionary<ParameterState, Tensor> _denominators = new(ReferenceEqualityComparer.Instance);

    /// <summary>AM-AdamW over a flat list of parameters.</summary>
    public AdaptiveMomentumAdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 1e-2, double lambda = 0)
        : base(SingleGroup(parameters), MakeDefaults(lr, beta2, eps, weight_decay), null)
    {
        _lambda = AdaptiveMemory.RequireLambda(lambda);
    }

    /// <summary>AM-AdamW over named parameters.</summary>
    public AdaptiveMomentumAdamW(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 1e-2, double lambda = 0)
        : this(SingleGroup(parameters), MakeDefaults(lr, beta2, eps, weight_decay), AdaptiveMemory.RequireLambda(lambda)) { }

    /// <summary>AM-AdamW over parameter groups; unset options take these defaults.</summary>
    public AdaptiveMomentumAdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 1e-2, double lambda = 0)
        : base(groups, MakeDefaults(lr, beta2, eps, weight_decay), null)
    {
        _lambda = AdaptiveMemory.RequireLambda(lambda);
    }

    private AdaptiveMomentumAdamW((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults, double lambda)
        : base(named.Groups, defaults, named.Names)
    {
        _lambda = lambda;
    }

    private static Options MakeDefaults(double lr, double beta2, double eps, double wd) =>
        new() { LearningRate = lr, Beta2 = beta2, Eps = eps, WeightDecay = wd };

    /// <summary>λ, the weight of the proximal term toward the heavy-ball point.</summary>
    public double Lambda => _lambda;

    /// <summary>The mini-batch loss f_t at the current parameters, used (and cleared) by the next <c>step()</c>.</summary>
    public double? CurrentLoss { get; set; }

    /// <summary>β_t of the last step (NaN before the first).</summary>
    public double LastBeta { get; private set; } = double.NaN;

    /// <summary>The memory plane's height φ at the current parameters (NaN before the first step).</summary>
    public double MemoryPlane => AdaptiveMemory.ReadPlane(Parameters());

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override bool ShapeFlexibleState => true;

    /// <inheritdoc />
    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
        {
            using (enable_grad()) loss = closure();
            CurrentLoss = loss.to_type(ScalarType.Float64).item<double>();
        }
        try
        {
            base.step();
        }
        finally
        {
            _denominators.Clear();   // the tensors belonged to the step's dispose scope
        }
        return loss!;
    }

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        state.Add("exp_avg", parameter.grad!.detach().clone());
        state.AddZeros("exp_avg_sq");
        state.Add("memory_plane", zeros(Array.Empty<long>(), dtype: parameter.dtype, device: parameter.device));
    }

    /// <inheritdoc />
    protected override void BeforeUpdates()
    {
        double f = AdaptiveMemory.RequireLoss(CurrentLoss, nameof(AdaptiveMomentumAdamW));
        CurrentLoss = null;
        double phi = AdaptiveMemory.ReadPlane(Parameters());
        if (double.IsNaN(phi)) phi = f;
        double a = 0, q = 0;
        var active = new List<(Tensor W, Tensor G, Tensor M)>();
        _denominators.Clear();
        foreach (var (opts, p, s) in Parameters())
        {
            if (p.grad is not { } g) continue;
            var o = (Options)opts;
            EnsureState(opts, p, s);
            double b2 = o.Beta2!.Value;
            var v = s["exp_avg_sq"];
            v.mul_(b2).addcmul_(g, g, value: 1 - b2);
            double bc2 = 1 - Math.Pow(b2, s.Step + 1);
            var denom = v.div(bc2).sqrt_().add_(o.Eps!.Value);
            _denominators[s] = denom;
            var w = denom.reciprocal().mul_(o.LearningRate!.Value);     // the metric M = lr / P
            var m = s["exp_avg"];
            var delta = g.sub(m);
            a += w.mul(delta).mul_(m).sum().to_type(ScalarType.Float64).item<double>();
            q += w.mul(delta).mul_(delta).sum().to_type(ScalarType.Float64).item<double>();
            active.Add((w, g, m));
        }
        double theta = AdaptiveMemory.Theta(phi - f, a, q, _lambda);
        double beta = 1 - theta;
        double keep = (beta + _lambda) / (1 + _lambda), take = (1 - beta) / (1 + _lambda);
        double norm = 0;
        foreach (var (w, g, m) in active)
        {
            m.mul_(keep).add_(g, alpha: take);
            norm += w.mul(m).mul_(m).sum().to_type(ScalarType.Float64).item<double>();
        }
        LastBeta = beta;
        AdaptiveMemory.WritePlane(Parameters(), keep * phi + take * f - norm);
    }

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value;
        if (o.WeightDecay!.Value != 0) p.mul_(1 - lr * o.WeightDecay.Value);
        p.addcdiv_(state["exp_avg"], _denominators[state], value: -lr);
        state.Step++;
    }

    /// <summary>AM-AdamW's per-group hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Decay of the second moment, in [0, 1).</summary>
        public double? Beta2 { get; set; }
        /// <summary>Added to the root of the second moment, &gt;= 0.</summary>
        public double? Eps { get; set; }
        /// <summary>Decoupled weight decay, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireUnitInterval("beta2", Beta2);
            RequireNonNegative("eps", Eps);
            RequireNonNegative("weight_decay", WeightDecay);
        }
    }
}
