using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// AID by fixed-point iteration (Ji, Yang and Liang, arXiv 2010.07962; official code's hypergradients.fixed_point after
/// prolearner/hypertorch): the inner solver is the map Ψ(y, x) = y − α∇_y g(x, y); from u = 0 iterate
/// u ← J_Ψᵀ u + ∇_y f = u − α∇²_yy g·u + ∇_y f, K times, then ĥ = ∇_x f + (∂Ψ/∂x)ᵀu = ∇_x f − α∇²_xy g·u. Since
/// αu_K → (αH)⁻¹ α ∇_y f this is the AID hypergradient; αu_K equals <see cref="AidNeumann"/> with Q = K − 1, η = α.
/// </summary>
public sealed class AidFixedPoint : InnerLoopEstimator
{
    /// <summary>D inner steps of size α, then K fixed-point iterations of the map with the same α.</summary>
    public AidFixedPoint(int innerSteps, double innerLr, int iterations) : base(innerSteps, innerLr)
    {
        if (iterations < 1) throw new ArgumentException($"iterations must be at least 1, got {iterations}.", nameof(iterations));
        Iterations = iterations;
    }

    /// <summary>K, the fixed-point iterations per estimate.</summary>
    public int Iterations { get; }

    /// <inheritdoc />
    public override Tensor Estimate(HypergradientOracle oracle, Tensor x, Tensor y, BatchStream upperBatches, BatchStream lowerBatches)
    {
        RunInnerLoop(oracle, x, y, lowerBatches);
        using var scope = NewDisposeScope();
        var (fx, fy) = oracle.UpperGradient(x, y, upperBatches.Next());
        var lower = lowerBatches.Next();
        var u = zeros_like(y);
        for (int k = 0; k < Iterations; k++)
        {
            var (hu, _) = oracle.LowerSecondOrder(x, y, u, lower, withCross: false);
            TensorMath.Axpy(u, -InnerLr, hu);
            TensorMath.Axpy(u, 1.0, fy);
        }
        var (_, cross) = oracle.LowerSecondOrder(x, y, u, lower);
        return TensorMath.Combine(fx, -InnerLr, cross!).MoveToOuterDisposeScope();
    }
}
