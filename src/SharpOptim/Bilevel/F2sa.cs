using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// F2SA, the fully first-order stochastic bilevel method (Kwon, Kwon, Wright and Nowak, "A Fully First-Order Method for
/// Stochastic Bilevel Optimization", ICML 2023, arXiv 2301.10945; read from benchopt/benchmark_bilevel solvers/f2sa.py).
/// With y*_λ = argmin_y f + λg and z ≈ y*(x), ∇_x f(x, y*_λ) + λ(∇_x g(x, y*_λ) − ∇_x g(x, y*)) approximates ∇Φ with
/// O(1/λ) error, using gradients only (no Hessian products). Step k: T inner steps, each with fresh batches:
/// z ← z − γ_k ∇_y g(x, z; φ), then y ← y − α_k(∇_y f(x, y; ξ) + λ_k ∇_y g(x, y; φ'));
/// ĥ = ∇_x f(x, y; ξ) + λ_k(∇_x g(x, y; φ₁) − ∇_x g(x, z; φ₂)) on three independent batches (or φ₁ = φ₂ with
/// <see cref="SharedLowerBatch"/>, this library's option, which also shares the inner steps' lower batch); x ← x − ξ_k ĥ;
/// λ_{k+1} = min(λ_k + δ_k, λ_max). The benchmark's schedules (the defaults of the CLI) are α_k = α/(k+1)^{5/7},
/// γ_k = γ/(k+1)^{4/7}, ξ_k = ξ/(k+1)^{4/7}, δ_k = δ/(k+1)^{1/7}; the paper's exponents were not read, so every
/// schedule is a parameter. y and z both start from the problem's y (y is the penalised variable that is reported).
/// <para>Pitfall handled by <see cref="MaxPenalty"/>: the y step's effective size on g is α_kλ_k; λ_max lets the
/// caller keep α_kλ_kL_g &lt; 1. <see cref="PenaltyHypergradient"/> exposes the penalty hypergradient at a fixed λ,
/// for checking the 1/λ error.</para>
/// </summary>
public sealed class F2sa : BilevelSolver
{
    private readonly Tensor _z;

    /// <summary>F2SA with y steps α_k, z steps γ_k, x steps ξ_k, penalty λ_0 growing by δ_k up to λ_max, T inner steps.</summary>
    public F2sa(BilevelProblem problem, StepSchedule innerLr, StepSchedule systemLr, StepSchedule outerLr, double initialPenalty,
        StepSchedule penaltyGrowth, int innerSteps, double maxPenalty = double.PositiveInfinity, bool sharedLowerBatch = false) : base(problem)
    {
        SharedLowerBatch = sharedLowerBatch;
        InnerLr = innerLr;
        SystemLr = systemLr;
        OuterLr = outerLr;
        Penalty = Positive(initialPenalty, nameof(initialPenalty));
        PenaltyGrowth = penaltyGrowth;
        InnerSteps = Count(innerSteps, nameof(innerSteps));
        if (!(maxPenalty >= initialPenalty)) throw new ArgumentException($"maxPenalty must be at least initialPenalty ({initialPenalty}), got {maxPenalty}.", nameof(maxPenalty));
        MaxPenalty = maxPenalty;
        using var _ = no_grad();
        _z = problem.Y.detach().clone().DetachFromDisposeScope();
    }

    /// <summary>α_k for y.</summary>
    public StepSchedule InnerLr { get; }
    /// <summary>γ_k for z.</summary>
    public StepSchedule SystemLr { get; }
    /// <summary>ξ_k for x.</summary>
    public StepSchedule OuterLr { get; }
    /// <summary>δ_k, the penalty increment.</summary>
    public StepSchedule PenaltyGrowth { get; }
    /// <summary>The current penalty λ_k.</summary>
    public double Penalty { get; private set; }
    /// <summary>λ_max.</summary>
    public double MaxPenalty { get; }
    /// <summary>Use ONE lower batch where the method compares y with z (common random numbers): the z step and the y
    /// step of each inner iteration share a batch, and so do the two ∇_x g terms of the hypergradient. Still unbiased per
    /// term; the signal is the O(1/λ) difference between y and z, which independent batches bury in noise (with
    /// per-example hyperparameters the two ∇_x g terms are even non-zero on different examples). Default false (the
    /// benchmark code's independent batches); this library's option, not the paper's.</summary>
    public bool SharedLowerBatch { get; }
    /// <summary>T, inner steps per outer step.</summary>
    public int InnerSteps { get; }
    /// <summary>The lower-level copy z ≈ y*(x).</summary>
    public Tensor Z => _z;

    /// <inheritdoc />
    protected override Tensor StepCore(long t)
    {
        var x = Problem.X;
        var y = Problem.Y;
        double lambda = Penalty;
        for (int i = 0; i < InnerSteps; i++)
        {
            using var inner = NewDisposeScope();
            var zBatch = LowerBatch();
            var gz = Oracle.LowerGradientY(x, _z, zBatch);
            var (_, fy) = Oracle.UpperGradient(x, y, UpperBatch());
            var gy = Oracle.LowerGradientY(x, y, SharedLowerBatch ? zBatch : LowerBatch());
            TensorMath.Axpy(_z, -SystemLr.At(t), gz);
            TensorMath.Axpy(y, -InnerLr.At(t), TensorMath.Combine(fy, lambda, gy));
        }
        var upper = UpperBatch();
        var lower1 = LowerBatch();
        var lower2 = SharedLowerBatch ? lower1 : LowerBatch();
        var h = PenaltyHypergradient(Oracle, x, y, _z, lambda, upper, lower1, lower2);
        TensorMath.Axpy(x, -OuterLr.At(t), h);
        Penalty = Math.Min(lambda + PenaltyGrowth.At(t), MaxPenalty);
        return h;
    }

    /// <summary>∇_x f(x, y; ξ) + λ(∇_x g(x, y; φ₁) − ∇_x g(x, z; φ₂)), F2SA's hypergradient estimate.</summary>
    public static Tensor PenaltyHypergradient(HypergradientOracle oracle, Tensor x, Tensor y, Tensor z, double lambda,
        Tensor? upperBatch = null, Tensor? lowerBatchY = null, Tensor? lowerBatchZ = null)
    {
        ArgumentNullException.ThrowIfNull(oracle);
        using var scope = NewDisposeScope();
        var (fx, _) = oracle.UpperGradient(x, y, upperBatch);
        var (gxy, _) = oracle.LowerGradient(x, y, lowerBatchY);
        var (gxz, _) = oracle.LowerGradient(x, z, lowerBatchZ);
        var diff = TensorMath.Combine(gxy, -1.0, gxz);
        return TensorMath.Combine(fx, lambda, diff).MoveToOuterDisposeScope();
    }
}
