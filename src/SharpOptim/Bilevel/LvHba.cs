using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// LV-HBA, the single-loop Hessian-free method for bilevel problems with a constrained lower level (Yao, Yu, Zeng and
/// Zhang, "Constrained Bi-Level Optimization: Proximal Lagrangian Value function Approach and Hessian-free Algorithm",
/// ICLR 2024, arXiv 2401.16164; step order read from the official code SUSTech-Optimization/LV-HBA,
/// Toy-example/LLC/LV-HBA.py). The lower level's proximal Lagrangian value function
/// v_γ(x, y, z) = min_{θ∈Y} max_{λ} f(x, θ) + λᵀG(x, θ) + ‖θ − y‖²/(2γ₁) − ‖λ − z‖²/(2γ₂) turns the problem into
/// min F s.t. f(x, y) − v_γ(x, y, z) ≤ 0, solved with a penalty whose weight grows as c_k = c̲(k + 1)^p (F enters
/// divided by c_k). Only first-order oracles. Step k:
/// <list type="number">
/// <item>d_θ = ∇_y[f + λᵀG](x, θ) + (θ − y)/γ₁, d_λ = −G(x, θ) + (λ − z)/γ₂ (at the current θ, λ);</item>
/// <item>θ ← Proj_Y(θ − η d_θ); λ ← Proj_Λ(λ − η d_λ), Λ = [0, u]^k for inequalities, [−u, u]^k for equalities (the
/// toy's clip);</item>
/// <item>d_x = ∇_x F(x, y)/c_k + ∇_x f(x, y) − ∇_x[f + λᵀG](x, θ), d_y = ∇_y F(x, y)/c_k + ∇_y f(x, y) − (y − θ)/γ₁
/// (with the new θ, λ);</item>
/// <item>(x, y) ← Proj_C((x, y) − α(d_x, d_y));</item>
/// <item>z ← Proj_Z(z + β(λ − z)/γ₂), Z = [−u, u]^k.</item>
/// </list>
/// Toy defaults: α = 0.008, β = 0.02, η = 0.01, γ₁ = γ₂ = 10, c̲ = 0.025, p = 0.3, u = 1000, λ₀ = 1, z₀ = −1. θ starts at y
/// (projected onto Y). One upper and one lower batch per step, shared by all calls of that step.
/// <para>Deviations: none in the step. The data hyper-cleaning script of the same repository (γ's as multipliers,
/// constraints before the θ step, z never updated, a UL step that does not move the variable) is not followed; the toy
/// is the reference. Note, measured: the LLC toy with these defaults does NOT converge to its encoded solution
/// x* = −0.3·1 (relative error 118.6 after 1,500 steps, oscillating between 0.2 and 150 for 15,000 steps, in the
/// official script and here alike).</para>
/// </summary>
public sealed class LvHba : BilevelSolver
{
    private readonly ConstrainedBilevelProblem _constrained;
    private readonly Tensor _theta, _lambda, _z;
    private readonly HypergradientOracle _lagrangian;

    /// <summary>LV-HBA on <paramref name="problem"/>.</summary>
    public LvHba(ConstrainedBilevelProblem problem, double alpha, double beta, double eta, double gamma1, double gamma2,
        double penaltyBase, double penaltyExponent, double multiplierBound = 1000, double initialMultiplier = 0, double initialZ = 0)
        : base((problem ?? throw new ArgumentNullException(nameof(problem))).Problem)
    {
        Alpha = Positive(alpha, nameof(alpha));
        Beta = Positive(beta, nameof(beta));
        Eta = Positive(eta, nameof(eta));
        Gamma1 = Positive(gamma1, nameof(gamma1));
        Gamma2 = Positive(gamma2, nameof(gamma2));
        PenaltyBase = Positive(penaltyBase, nameof(penaltyBase));
        if (!(penaltyExponent >= 0 && penaltyExponent < 1)) throw new ArgumentException($"penaltyExponent must be in [0, 1) (the theory wants (0, 1/2)), got {penaltyExponent}.", nameof(penaltyExponent));
        PenaltyExponent = penaltyExponent;
        MultiplierBound = Positive(multiplierBound, nameof(multiplierBound));
        double lo = problem.Equality ? -multiplierBound : 0;
        if (!(initialMultiplier >= lo && initialMultiplier <= multiplierBound))
            throw new ArgumentException($"initialMultiplier must be in [{lo}, {multiplierBound}], got {initialMultiplier}.", nameof(initialMultiplier));
        if (!(Math.Abs(initialZ) <= multiplierBound)) throw new ArgumentException($"initialZ must be in [−{multiplierBound}, {multiplierBound}], got {initialZ}.", nameof(initialZ));
        _constrained = problem;
        using var s = new SharpOptim.Optimizers.ScalarHold();
        using var _ = no_grad();
        var y = problem.Problem.Y;
        _theta = y.detach().clone().DetachFromDisposeScope();
        problem.ProjectLower?.Invoke(_theta);
        _lambda = full(problem.ConstraintCount, s[initialMultiplier], dtype: y.dtype, device: y.device).DetachFromDisposeScope();
        _z = full(problem.ConstraintCount, s[initialZ], dtype: y.dtype, device: y.device).DetachFromDisposeScope();
        var inner = problem.Problem;
        // The Lagrangian f + λᵀG with the CURRENT λ (read when the oracle calls it), differentiated by the oracle layer.
        _lagrangian = new HypergradientOracle(new BilevelProblem(inner.Upper, Lagrangian, inner.X, inner.Y));
    }

    /// <summary>α, the (x, y) step.</summary>
    public double Alpha { get; }
    /// <summary>β, the z step.</summary>
    public double Beta { get; }
    /// <summary>η, the (θ, λ) step.</summary>
    public double Eta { get; }
    /// <summary>γ₁, the proximal parameter of θ.</summary>
    public double Gamma1 { get; }
    /// <summary>γ₂, the proximal parameter of λ.</summary>
    public double Gamma2 { get; }
    /// <summary>c̲ in c_k = c̲(k + 1)^p.</summary>
    public double PenaltyBase { get; }
    /// <summary>p in c_k = c̲(k + 1)^p.</summary>
    public double PenaltyExponent { get; }
    /// <summary>u: λ and z are kept in [−u, u] (λ in [0, u] for inequalities).</summary>
    public double MultiplierBound { get; }
    /// <summary>The lower copy θ.</summary>
    public Tensor Theta => _theta;
    /// <summary>The multipliers λ.</summary>
    public Tensor Multipliers => _lambda;
    /// <summary>The proximal centre z of the multipliers.</summary>
    public Tensor Z => _z;

    /// <inheritdoc />
    public override OracleCounts Counts
    {
        get
        {
            var a = Oracle.Counts;
            var b = _lagrangian.Counts;
            return new OracleCounts(a.UpperGradients + b.UpperGradients, a.LowerGradients + b.LowerGradients, a.SecondOrder + b.SecondOrder);
        }
    }

    private Tensor Lagrangian(Tensor x, Tensor y, Tensor? batch)
    {
        var g = _constrained.Constraint(x, y, batch);
        return TensorMath.Combine(_constrained.Problem.Lower(x, y, batch), 1.0, (g * _lambda).sum());
    }

    /// <inheritdoc />
    protected override Tensor StepCore(long t)
    {
        var x = Problem.X;
        var y = Problem.Y;
        var upper = UpperBatch();
        var lower = LowerBatch();
        double u = MultiplierBound, lo = _constrained.Equality ? -u : 0;
        double ck = PenaltyBase * Math.Pow(t + 1, PenaltyExponent);
        using var s = new SharpOptim.Optimizers.ScalarHold();

        var lagY = _lagrangian.LowerGradientY(x, _theta, lower);
        var dTheta = TensorMath.Combine(lagY, 1 / Gamma1, TensorMath.Combine(_theta, -1.0, y));
        Tensor g;
        using (no_grad()) g = _constrained.Constraint(x.detach(), _theta, lower);
        var dLambda = TensorMath.Combine(g.neg(), 1 / Gamma2, TensorMath.Combine(_lambda, -1.0, _z));
        TensorMath.Axpy(_theta, -Eta, dTheta);
        _constrained.ProjectLower?.Invoke(_theta);
        TensorMath.Axpy(_lambda, -Eta, dLambda);
        using (no_grad()) _lambda.clamp_(s[lo], s[u]);

        var (fxU, fyU) = Oracle.UpperGradient(x, y, upper);
        var (fxL, fyL) = Oracle.LowerGradient(x, y, lower);
        var (lagX, _) = _lagrangian.LowerGradient(x, _theta, lower);
        var dx = TensorMath.Combine(TensorMath.Combine(fxL, -1.0, lagX), 1 / ck, fxU);
        var dy = TensorMath.Combine(TensorMath.Combine(fyL, 1 / ck, fyU), -1 / Gamma1, TensorMath.Combine(y, -1.0, _theta));
        TensorMath.Axpy(x, -Alpha, dx);
        TensorMath.Axpy(y, -Alpha, dy);
        if (_constrained.ProjectUpper is { } project)
            using (no_grad()) project(x, y);

        TensorMath.Axpy(_z, Beta / Gamma2, TensorMath.Combine(_lambda, -1.0, _z));
        using (no_grad()) _z.clamp_(s[-u], s[u]);
        return dx;
    }
}
