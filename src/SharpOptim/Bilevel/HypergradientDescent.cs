using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// The double-loop outer iteration of AID, ITD and stocBiO (Ji, Yang and Liang, "Bilevel Optimization: Convergence
/// Analysis and Enhanced Design", ICML 2021, arXiv 2010.07962, Algorithms 1-2): ĥ_k from the estimator (whose inner
/// loop warm-starts from the previous y), then x_{k+1} = x_k − β ĥ_k.
/// </summary>
public sealed class HypergradientDescent : BilevelSolver
{
    /// <summary>Gradient descent on <paramref name="problem"/>'s x with <paramref name="estimator"/>'s hypergradients and step β.</summary>
    public HypergradientDescent(BilevelProblem problem, IHypergradientEstimator estimator, StepSchedule outerLr) : base(problem)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        Estimator = estimator;
        OuterLr = outerLr;
    }

    /// <summary>The hypergradient estimator.</summary>
    public IHypergradientEstimator Estimator { get; }
    /// <summary>β_k, the upper step.</summary>
    public StepSchedule OuterLr { get; }

    /// <inheritdoc />
    protected override Tensor StepCore(long t)
    {
        var h = Estimator.Estimate(Oracle, Problem.X, Problem.Y, Problem.UpperBatches, Problem.LowerBatches);
        TensorMath.Axpy(Problem.X, -OuterLr.At(t), h);
        return h;
    }
}
