using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// SGD with adaptive-memory momentum (AM-SGD): Topollai and Choromanska, "Adaptive Memory Momentum via a Model-Based
/// Framework for Deep Learning Optimization" (arXiv:2510.04988; AISTATS 2026). The momentum coefficient β_t is
/// recomputed at every step from a proximal model of the loss made of two planes: the linearization at the current
/// point (slope g_t) and a plane carried in memory (slope d_t, the momentum direction).
/// <code>
/// β_t     = clip( ((1 + λ)⟨g_t, d_t⟩ − ⟨d_t − g_t, g_t + λ d_t⟩) / ‖d_t − g_t‖², 0, β_max )   (0 when d_t = g_t)
/// d_{t+1} = ((β_t + λ) / (1 + λ)) d_t + ((1 − β_t) / (1 + λ)) g_t                      (d_0 = g_0)
/// x_{t+1} = x_t − lr · d_{t+1}
/// </code>
/// <para>
/// Sources. The paper's full text and official code could not be read while this was written. The update form is the
/// paper's (abstract and summaries). The closed form of β_t, d_0 = g_0 and the defaults λ = 0.1, β_max = 0.9 ("the
/// fixed settings of the paper's deep-learning experiments") are as reported by a third-party PyTorch implementation
/// of the paper's Algorithm 1 found in a public code index (repository not identified). We checked that formula
/// against our own derivation from the model the paper describes, and they agree:
/// </para>
/// <code>
/// ℓ_g(x) = f(x_t) + ⟨g_t, x − x_t⟩,   ℓ_d(x) = f̂_t + ⟨d_t, x − x_t⟩
/// x_{t+1} = argmin_x max(ℓ_g, ℓ_d)(x) + ‖x − x_t‖²/(2 lr) + λ ‖x − (x_t − lr d_t)‖²/(2 lr)
/// </code>
/// <para>
/// Writing the max as max over θ ∈ [0, 1] of θ ℓ_g + (1 − θ) ℓ_d gives x_{t+1} = x_t − lr d_{t+1} with the update above
/// for β = 1 − θ (the λ term, a pull toward the heavy-ball point, is what puts λ in the update), and the concave dual
/// D(θ) = −θ (c + a) − θ² q / (2(1 + λ)) (scaled by lr), c = (f̂_t − f(x_t))/lr, a = ⟨g − d, d⟩, q = ‖g − d‖². With the
/// memory plane's height estimated by the first-order loss change since the last step, f̂_t − f(x_t) ≈ lr ⟨g_t, d_t⟩,
/// so c = ⟨g_t, d_t⟩ and no loss value is needed, the maximizer over β ∈ [0, β_max] is exactly the clipped β_t above
/// (tested). β_t is one scalar for the whole model (inner products over every parameter with an initialized momentum).
/// </para>
/// <para>
/// Choices: inner products are unweighted, so groups with different learning rates share one β_t computed as if their
/// lr were equal, as in the reported implementation; the estimate uses the current lr in place of the previous step's
/// (they cancel). Optional coupled L2 weight decay is added to the gradient before everything (as in the reported
/// implementation; the paper's text on it could not be read). A parameter whose momentum is new this step (its first
/// gradient) starts at d = g and does not enter the inner products. No Nesterov variant. State: the momentum direction
/// (4 bytes per float32 parameter). No fused kernel: β_t needs model-wide reductions first.
/// </para>
/// </summary>
public sealed class AdaptiveMomentumSGD : OptimizerBase
{
    private readonly double _lambda;
    private readonly double _betaMax;
    private double _beta;

    /// <summary>AM-SGD over a flat list of parameters.</summary>
    public AdaptiveMomentumSGD(IEnumerable<Parameter> parameters, double lr = 0.1, double lambda = 0.1, double beta_max = 0.9,
        double weight_decay = 0)
        : base(SingleGroup(parameters), new Options { LearningRate = lr, WeightDecay = weight_decay }, null)
    {
        (_lambda, _betaMax) = Check(lambda, beta_max);
    }

    /// <summary>AM-SGD over named parameters.</summary>
    public AdaptiveMomentumSGD(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 0.1, double lambda = 0.1,
        double beta_max = 0.9, double weight_decay = 0)
        : this(SingleGroup(parameters), new Options { LearningRate = lr, WeightDecay = weight_decay }, Check(lambda, beta_max)) { }

    /// <summary>AM-SGD over parameter groups; unset options take these defaults.</summary>
    public AdaptiveMomentumSGD(IEnumerable<ParamGroup> groups, double lr = 0.1, double lambda = 0.1, double beta_max = 0.9,
        double weight_decay = 0)
        : base(groups, new Options { LearningRate = lr, WeightDecay = weight_decay }, null)
    {
        (_lambda, _betaMax) = Check(lambda, beta_max);
    }

    private AdaptiveMomentumSGD((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults, (double, double) lb)
        : base(named.Groups, defaults, named.Names)
    {
        (_lambda, _betaMax) = lb;
    }

    private static (double, double) Check(double lambda, double betaMax) =>
        (AdaptiveMemory.RequireLambda(lambda), AdaptiveMemory.RequireBetaMax(betaMax, "beta_max"));

    /// <summary>λ, the weight of the proximal term toward the heavy-ball point (optimizer-wide).</summary>
    public double Lambda => _lambda;

    /// <summary>β_max, the upper clip of β_t (optimizer-wide).</summary>
    public double BetaMax => _betaMax;

    /// <summary>β_t of the last step (NaN before the first).</summary>
    public double LastBeta { get; private set; } = double.NaN;

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    private static Tensor Effective(Options o, Parameter p, Tensor g, ScalarHold s) =>
        o.WeightDecay!.Value != 0 ? g.add(p, s[o.WeightDecay.Value]) : g;

    /// <inheritdoc />
    /// <remarks>False: the momentum buffer starts as the first (effective) gradient, so a fresh initialization does not show the saved layout.</remarks>
    protected override bool StateLayoutFollowsOptions => false;

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        using var s = new ScalarHold();
        using var grad = parameter.grad!;
        state.Add("momentum_buffer", Effective((Options)options, parameter, grad, s).detach().clone());
    }

    /// <inheritdoc />
    /// <remarks>The β of the step and its report, which a failed step must not leave at that step's values.</remarks>
    protected override object? SaveTransientState() => (_beta, LastBeta);

    /// <inheritdoc />
    protected override void RestoreTransientState(object? saved) => (_beta, LastBeta) = ((double, double))saved!;

    /// <inheritdoc />
    protected override void BeforeUpdates()
    {
        double gd = 0, diff2 = 0, diffGl = 0;
        using var held = new ScalarHold();
        foreach (var (opts, p, s) in Parameters())
        {
            if (p.grad is not { } grad || !s.IsInitialized) continue;
            var g = Effective((Options)opts, p, grad, held);
            var d = s["momentum_buffer"];
            var diff = d.sub(g);
            gd += g.mul(d).sum().to_type(ScalarType.Float64).item<double>();
            diff2 += diff.pow(held[2]).sum().to_type(ScalarType.Float64).item<double>();
            diffGl += diff.mul(g.add(d, held[_lambda])).sum().to_type(ScalarType.Float64).item<double>();
        }
        _beta = AdaptiveMemory.Beta(gd, diff2, diffGl, _lambda, _betaMax);
        LastBeta = _beta;
    }

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor grad, ParameterState state)
    {
        var o = (Options)options;
        using var s = new ScalarHold();
        var d = state["momentum_buffer"];
        if (state.Step > 0)   // a new momentum was initialized to this gradient: d₁ = g₀
            d.mul_(s[(_beta + _lambda) / (1 + _lambda)]).add_(Effective(o, p, grad, s), s[(1 - _beta) / (1 + _lambda)]);
        p.add_(d, s[-o.LearningRate!.Value]);
        state.Step++;
    }

    /// <summary>AM-SGD's per-group hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Coupled L2 penalty added to the gradient, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireNonNegative("weight_decay", WeightDecay);
        }
    }
}
