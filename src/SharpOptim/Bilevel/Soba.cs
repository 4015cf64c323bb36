using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// SOBA, the stochastic single-loop bilevel algorithm (Dagréou, Ablin, Vaiter and Moreau, "A framework for bilevel
/// optimization that enables stochastic and global variance reduction algorithms", NeurIPS 2022, arXiv 2201.13409;
/// read from the authors' benchopt/benchmark_bilevel solvers/soba.py). State y, v (v ≈ −[∇²_yy g]⁻¹∇_y f, starts at 0),
/// x. Each step draws one lower batch φ (shared by ∇_y g, the HVP and the cross product) and one upper batch ξ, and
/// computes all three directions at the same (x, y, v) before any update:
/// D_y = ∇_y g(x, y; φ), D_v = ∇²_yy g(x, y; φ)·v + ∇_y f(x, y; ξ), D_x = ∇²_xy g(x, y; φ)·v + ∇_x f(x, y; ξ);
/// y ← y − ρ_t D_y, v ← v − ρ_t D_v, x ← x − γ_t D_x. One gradient of g, one double-backward (HVP and cross
/// together) and one gradient of f per step. Step sizes: the benchmark's ρ_t = ρ/(t+1)^{1/2}, γ_t = γ/(t+1)^{1/2}
/// (the defaults here); the paper's theory uses other exponents, which <see cref="StepSchedule"/> can express.
/// </summary>
public sealed class Soba : BilevelSolver
{
    private readonly Tensor _v;

    /// <summary>SOBA on <paramref name="problem"/> with inner/linear-system steps ρ_t and outer steps γ_t.</summary>
    public Soba(BilevelProblem problem, StepSchedule innerLr, StepSchedule outerLr) : base(problem)
    {
        InnerLr = innerLr;
        OuterLr = outerLr;
        using var _ = no_grad();
        _v = zeros_like(problem.Y).detach().DetachFromDisposeScope();
    }

    /// <summary>ρ_t for y and v.</summary>
    public StepSchedule InnerLr { get; }
    /// <summary>γ_t for x.</summary>
    public StepSchedule OuterLr { get; }
    /// <summary>The linear-system variable v (≈ −H⁻¹∇_y f).</summary>
    public Tensor V => _v;

    /// <inheritdoc />
    protected override Tensor StepCore(long t)
    {
        var x = Problem.X;
        var y = Problem.Y;
        var phi = LowerBatch();
        var xi = UpperBatch();
        var dy = Oracle.LowerGradientY(x, y, phi);
        var (hv, cv) = Oracle.LowerSecondOrder(x, y, _v, phi);
        var (fx, fy) = Oracle.UpperGradient(x, y, xi);
        var dv = TensorMath.Combine(fy, 1.0, hv);
        var dx = TensorMath.Combine(fx, 1.0, cv!);
        double rho = InnerLr.At(t);
        TensorMath.Axpy(y, -rho, dy);
        TensorMath.Axpy(_v, -rho, dv);
        TensorMath.Axpy(x, -OuterLr.At(t), dx);
        return dx;
    }
}
