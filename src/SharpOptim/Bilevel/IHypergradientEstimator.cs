using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// A hypergradient estimator of the double-loop family (AID, ITD, stocBiO): from the current x and a warm-started y it
/// runs its inner loop on y (updating y in place) and returns an estimate of
/// ∇Φ(x) = ∇_x f − ∇²_xy g·[∇²_yy g]⁻¹∇_y f, using only the oracle it is given.
/// </summary>
public interface IHypergradientEstimator
{
    /// <summary>Runs the inner loop on <paramref name="y"/> and returns the hypergradient estimate (x's shape).</summary>
    Tensor Estimate(HypergradientOracle oracle, Tensor x, Tensor y, BatchStream upperBatches, BatchStream lowerBatches);
}
