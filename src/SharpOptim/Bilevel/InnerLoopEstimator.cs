using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// The inner loop shared by the double-loop estimators (Ji, Yang and Liang, arXiv 2010.07962, Algorithms 1-2): D
/// gradient steps y ← y − α ∇_y g(x, y; batch) from the warm-started y, one lower batch per step.
/// </summary>
public abstract class InnerLoopEstimator : IHypergradientEstimator
{
    /// <summary>D inner steps (0: use y as given) of size α.</summary>
    protected InnerLoopEstimator(int innerSteps, double innerLr)
    {
        if (innerSteps < 0) throw new ArgumentException($"innerSteps must be at least 0, got {innerSteps}.", nameof(innerSteps));
        if (!(innerLr > 0) || double.IsInfinity(innerLr)) throw new ArgumentException($"innerLr must be positive and finite, got {innerLr}.", nameof(innerLr));
        InnerSteps = innerSteps;
        InnerLr = innerLr;
    }

    /// <summary>D, the inner gradient steps per estimate.</summary>
    public int InnerSteps { get; }
    /// <summary>α, the inner step size.</summary>
    public double InnerLr { get; }

    /// <inheritdoc />
    public abstract Tensor Estimate(HypergradientOracle oracle, Tensor x, Tensor y, BatchStream upperBatches, BatchStream lowerBatches);

    /// <summary>Runs the D inner steps on <paramref name="y"/> in place.</summary>
    protected void RunInnerLoop(HypergradientOracle oracle, Tensor x, Tensor y, BatchStream lowerBatches)
    {
        for (int t = 0; t < InnerSteps; t++)
        {
            using var scope = NewDisposeScope();
            var gy = oracle.LowerGradientY(x, y, lowerBatches.Next());
            TensorMath.Axpy(y, -InnerLr, gy);
        }
    }
}
