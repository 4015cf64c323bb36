using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// MA-SOBA, SOBA with a moving average of the hypergradient (Chen, Xiao and Balasubramanian, "Optimal Algorithms for
/// Stochastic Bilevel Optimization under Relaxed Smoothness Conditions", arXiv 2306.12067). Update rule from the
/// paper's abstract (single loop, Hessian-inversion free, a moving-average hypergradient) and two independent
/// third-party implementations (MingruiLiu-ML-Lab's and jhao6's ma_soba.py); no official code was found, so the step
/// constants are this library's choice. State y, z (≈ +[∇²_yy g]⁻¹∇_y f, starts at 0), h (starts at 0). Step k, all
/// oracles at (x_k, y_k, z_k), one lower batch φ and one upper batch ξ:
/// y ← y − β ∇_y g(φ); z ← z − γ(∇²_yy g(φ)·z − ∇_y f(ξ)); w = ∇_x f(ξ) − ∇²_xy g(φ)·z;
/// h ← (1 − θ)h + θw; x ← x − α h (or α h_k, the average before this step, with <see cref="UsePreviousAverage"/>).
/// <see cref="ZRadius"/> optionally projects z onto a ball (the paper's analysis may bound z; off by default).
/// <para>Deviation from the third-party code: it evaluates the HVP before the y step and ∇_y f after it; here every
/// oracle of step k is at (x_k, y_k), as in the method's statement.</para>
/// </summary>
public sealed class MaSoba : BilevelSolver
{
    private readonly Tensor _z;
    private readonly Tensor _h;

    /// <summary>MA-SOBA with steps α (x), β (y), γ (z) and averaging weight θ ∈ (0, 1].</summary>
    public MaSoba(BilevelProblem problem, StepSchedule outerLr, StepSchedule innerLr, StepSchedule systemLr, double averaging,
        double? zRadius = null, bool usePreviousAverage = false) : base(problem)
    {
        if (!(averaging > 0 && averaging <= 1)) throw new ArgumentException($"averaging (θ) must be in (0, 1], got {averaging}.", nameof(averaging));
        if (zRadius is { } r && !(r > 0)) throw new ArgumentException($"zRadius must be positive, got {r}.", nameof(zRadius));
        OuterLr = outerLr;
        InnerLr = innerLr;
        SystemLr = systemLr;
        Averaging = averaging;
        ZRadius = zRadius;
        UsePreviousAverage = usePreviousAverage;
        using var _ = no_grad();
        _z = zeros_like(problem.Y).detach().DetachFromDisposeScope();
        _h = zeros_like(problem.X).detach().DetachFromDisposeScope();
    }

    /// <summary>α_k for x.</summary>
    public StepSchedule OuterLr { get; }
    /// <summary>β_k for y.</summary>
    public StepSchedule InnerLr { get; }
    /// <summary>γ_k for z.</summary>
    public StepSchedule SystemLr { get; }
    /// <summary>θ, the moving-average weight.</summary>
    public double Averaging { get; }
    /// <summary>Radius of the ball z is projected onto (null: no projection).</summary>
    public double? ZRadius { get; }
    /// <summary>Step x with h_k (before the average is updated) instead of h_{k+1}.</summary>
    public bool UsePreviousAverage { get; }
    /// <summary>The linear-system variable z.</summary>
    public Tensor Z => _z;
    /// <summary>The averaged hypergradient h.</summary>
    public Tensor H => _h;

    /// <inheritdoc />
    protected override Tensor StepCore(long t)
    {
        var x = Problem.X;
        var y = Problem.Y;
        var phi = LowerBatch();
        var xi = UpperBatch();
        var gy = Oracle.LowerGradientY(x, y, phi);
        var (hz, cz) = Oracle.LowerSecondOrder(x, y, _z, phi);
        var (fx, fy) = Oracle.UpperGradient(x, y, xi);
        var w = TensorMath.Combine(fx, -1.0, cz!);
        var dz = TensorMath.Combine(hz, -1.0, fy);
        var step = UsePreviousAverage ? _h.clone() : null;
        TensorMath.Blend(_h, 1 - Averaging, Averaging, w);
        TensorMath.Axpy(y, -InnerLr.At(t), gy);
        TensorMath.Axpy(_z, -SystemLr.At(t), dz);
        if (ZRadius is { } r) TensorMath.ClipNorm(_z, r);
        TensorMath.Axpy(x, -OuterLr.At(t), step ?? _h);
        return step ?? _h.clone();
    }
}
