using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// BO-REP, bilevel optimization with lower-level initialization refinement and periodic updates (Hao, Gong and Liu,
/// "Bilevel Optimization under Unbounded Smoothness: A New Algorithm and Convergence Analysis", ICLR 2024,
/// arXiv 2401.09587; read from the official code MingruiLiu-ML-Lab/Bilevel-Optimization-under-Unbounded-Smoothness,
/// data_cleaning/bo_rep.py). State y, z (≈ +[∇²_yy g]⁻¹∇_y f, starts at 0), m (momentum, starts at 0). Step t:
/// (a) if t mod I = 0, N SGD steps y ← y − ν_y ∇_y g(x_t, y; ζ) with fresh lower batches (at t = 0, first
/// <see cref="InitSteps"/> more: the paper's initialization refinement); (b) with one lower batch ζ and one upper
/// batch ξ: z ← z − ν(∇²_yy g(ζ)·z − ∇_y f(ξ)); ĥ = ∇_x f(ξ) − ∇²_xy g(ζ)·z (z before its update);
/// (c) m ← βm + (1 − β)ĥ; x ← x − η m/(‖m‖ + 1e-10) (normalized momentum: the step length is η whatever the
/// hypergradient's scale).
/// <para>Deviations from the official code: its HVP is taken before the lower-level step and ∇_y f after it, here both
/// after; it uses separate batches for the HVP and the cross product, here one batch and one double-backward gives both;
/// its z starts Xavier-random, here 0; the paper's initialization subroutine was not read and is approximated by
/// <see cref="InitSteps"/> plain SGD steps.</para>
/// </summary>
public sealed class BoRep : BilevelSolver
{
    private readonly Tensor _z;
    private readonly Tensor _m;

    /// <summary>BO-REP with upper step η, z step ν, momentum β, lower step ν_y, period I, N lower steps per period.</summary>
    public BoRep(BilevelProblem problem, StepSchedule outerLr, double systemLr, double momentum, double innerLr, int period, int innerSteps, int initSteps = 0)
        : base(problem)
    {
        OuterLr = outerLr;
        SystemLr = Positive(systemLr, nameof(systemLr));
        if (!(momentum >= 0 && momentum < 1)) throw new ArgumentException($"momentum must be in [0, 1), got {momentum}.", nameof(momentum));
        Momentum = momentum;
        InnerLr = Positive(innerLr, nameof(innerLr));
        Period = Count(period, nameof(period));
        InnerSteps = Count(innerSteps, nameof(innerSteps));
        InitSteps = Count(initSteps, nameof(initSteps), allowZero: true);
        using var _ = no_grad();
        _z = zeros_like(problem.Y).detach().DetachFromDisposeScope();
        _m = zeros_like(problem.X).detach().DetachFromDisposeScope();
    }

    /// <summary>η, the normalized upper step.</summary>
    public StepSchedule OuterLr { get; }
    /// <summary>ν, the z step.</summary>
    public double SystemLr { get; }
    /// <summary>β, the momentum.</summary>
    public double Momentum { get; }
    /// <summary>ν_y, the lower SGD step.</summary>
    public double InnerLr { get; }
    /// <summary>I, the period of lower-level updates.</summary>
    public int Period { get; }
    /// <summary>N, lower SGD steps per update.</summary>
    public int InnerSteps { get; }
    /// <summary>Extra lower steps at t = 0 (initialization refinement).</summary>
    public int InitSteps { get; }
    /// <summary>The linear-system variable z.</summary>
    public Tensor Z => _z;

    /// <inheritdoc />
    protected override Tensor StepCore(long t)
    {
        var x = Problem.X;
        var y = Problem.Y;
        if (t % Period == 0)
        {
            int n = InnerSteps + (t == 0 ? InitSteps : 0);
            for (int i = 0; i < n; i++)
            {
                using var inner = NewDisposeScope();
                TensorMath.Axpy(y, -InnerLr, Oracle.LowerGradientY(x, y, LowerBatch()));
            }
        }
        var zeta = LowerBatch();
        var xi = UpperBatch();
        var (hz, cz) = Oracle.LowerSecondOrder(x, y, _z, zeta);
        var (fx, fy) = Oracle.UpperGradient(x, y, xi);
        var h = TensorMath.Combine(fx, -1.0, cz!);
        TensorMath.Axpy(_z, -SystemLr, TensorMath.Combine(hz, -1.0, fy));
        TensorMath.Blend(_m, Momentum, 1 - Momentum, h);
        double norm = TensorMath.Norm(_m);
        TensorMath.Axpy(x, -OuterLr.At(t) / (norm + 1e-10), _m);
        return h;
    }
}
