using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// AID with conjugate gradient (approximate implicit differentiation; Ji, Yang and Liang, "Bilevel Optimization:
/// Convergence Analysis and Enhanced Design", ICML 2021, arXiv 2010.07962; official code JunjieYang97/stocBiO,
/// hypergradients.CG after prolearner/hypertorch). After the inner loop, solve ∇²_yy g·v = ∇_y f by at most N
/// conjugate-gradient iterations with Hessian-vector products, warm-started from the previous call's v and stopped when
/// the residual norm falls below the tolerance; then ĥ = ∇_x f − ∇²_xy g·v. All oracles on the full data of each level
/// (a batch is drawn per call if the problem's streams are stochastic).
/// <para>Deviation from the official script: hypertorch's CG solves (I − J_Ψᵀ)u = ∇_y f for the inner map
/// Ψ = y − α∇_y g, i.e. αHu = ∇_y f, and the MNIST script builds a step-1 map for it; here the system H v = ∇_y f is
/// solved directly, which is the same hypergradient without the map.</para>
/// </summary>
public sealed class AidConjugateGradient : InnerLoopEstimator
{
    private Tensor? _v;

    /// <summary>D inner steps of size α, then at most <paramref name="cgIterations"/> CG iterations to
    /// <paramref name="tolerance"/> (hypertorch's default 1e-10).</summary>
    public AidConjugateGradient(int innerSteps, double innerLr, int cgIterations, double tolerance = 1e-10, bool warmStart = true)
        : base(innerSteps, innerLr)
    {
        if (cgIterations < 1) throw new ArgumentException($"cgIterations must be at least 1, got {cgIterations}.", nameof(cgIterations));
        if (!(tolerance >= 0)) throw new ArgumentException($"tolerance must be at least 0, got {tolerance}.", nameof(tolerance));
        CgIterations = cgIterations;
        Tolerance = tolerance;
        WarmStart = warmStart;
    }

    /// <summary>N, the most CG iterations per estimate.</summary>
    public int CgIterations { get; }
    /// <summary>The residual-norm tolerance that stops CG early.</summary>
    public double Tolerance { get; }
    /// <summary>Whether v starts from the previous estimate's solution (else from 0).</summary>
    public bool WarmStart { get; }
    /// <summary>CG iterations the last estimate used.</summary>
    public int LastIterations { get; private set; }

    /// <inheritdoc />
    public override Tensor Estimate(HypergradientOracle oracle, Tensor x, Tensor y, BatchStream upperBatches, BatchStream lowerBatches)
    {
        RunInnerLoop(oracle, x, y, lowerBatches);
        using var scope = NewDisposeScope();
        var (fx, fy) = oracle.UpperGradient(x, y, upperBatches.Next());
        var lower = lowerBatches.Next();
        var v = WarmStart && _v is not null ? _v.clone() : zeros_like(y);
        var (hv0, _) = oracle.LowerSecondOrder(x, y, v, lower, withCross: false);
        var r = TensorMath.Combine(fy, -1.0, hv0);
        var p = r.clone();
        double rs = TensorMath.Dot(r, r);
        int it = 0;
        while (it < CgIterations && Math.Sqrt(rs) >= Tolerance)
        {
            var (hp, _) = oracle.LowerSecondOrder(x, y, p, lower, withCross: false);
            double php = TensorMath.Dot(p, hp);
            if (!(php > 0)) break;   // no positive curvature along p (H not positive definite here): keep the current v
            double a = rs / php;
            TensorMath.Axpy(v, a, p);
            TensorMath.Axpy(r, -a, hp);
            double rsNew = TensorMath.Dot(r, r);
            TensorMath.Blend(p, rsNew / rs, 1.0, r);
            rs = rsNew;
            it++;
        }
        LastIterations = it;
        var (_, cross) = oracle.LowerSecondOrder(x, y, v, lower);
        _v?.Dispose();
        _v = v.detach().clone().DetachFromDisposeScope();
        return TensorMath.Combine(fx, -1.0, cross!).MoveToOuterDisposeScope();
    }
}
