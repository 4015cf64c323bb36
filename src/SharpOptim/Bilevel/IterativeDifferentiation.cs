using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// ITD, reverse-mode differentiation through the unrolled inner loop (Ji, Yang and Liang, "Bilevel Optimization:
/// Convergence Analysis and Enhanced Design", ICML 2021, arXiv 2010.07962; official code's hypergradients.reverse).
/// With y_{t+1} = y_t − α∇_y g(x, y_t) for t &lt; D and y_0 a constant, the exact derivative of f(x, y_D(x)) is
/// ĥ = ∇_x f(x, y_D) − α Σ_{t=0}^{D−1} ∇²_xy g(x, y_t) Π_{j=t+1}^{D−1}(I − α∇²_yy g(x, y_j)) ∇_y f(x, y_D),
/// accumulated backwards: p ← ∇_y f, a ← ∇_x f; for t = D−1 … 0: (Hp, Cp) at y_t; a ← a − αCp; p ← p − αHp.
/// One double-backward per inner step, through the oracle layer instead of a retained autograd graph of the whole
/// loop (same numbers; memory D×dy for the stored iterates and their batches). <see cref="TruncatedSteps"/> keeps only
/// the last K' terms (hypertorch's truncated reverse).
/// </summary>
public sealed class IterativeDifferentiation : InnerLoopEstimator
{
    /// <summary>D inner steps of size α; differentiate through the last <paramref name="truncatedSteps"/> (null: all D).</summary>
    public IterativeDifferentiation(int innerSteps, double innerLr, int? truncatedSteps = null) : base(innerSteps, innerLr)
    {
        if (innerSteps < 1) throw new ArgumentException($"ITD needs at least 1 inner step, got {innerSteps}.", nameof(innerSteps));
        if (truncatedSteps is { } k && (k < 1 || k > innerSteps))
            throw new ArgumentException($"truncatedSteps must be in [1, {innerSteps}], got {k}.", nameof(truncatedSteps));
        TruncatedSteps = truncatedSteps;
    }

    /// <summary>K', the inner steps differentiated through (null: all).</summary>
    public int? TruncatedSteps { get; }

    /// <inheritdoc />
    public override Tensor Estimate(HypergradientOracle oracle, Tensor x, Tensor y, BatchStream upperBatches, BatchStream lowerBatches)
    {
        using var scope = NewDisposeScope();
        var iterates = new List<Tensor>();
        var batches = new List<Tensor?>();
        for (int t = 0; t < InnerSteps; t++)
        {
            var batch = lowerBatches.Next();
            iterates.Add(y.detach().clone());
            batches.Add(batch);
            var gy = oracle.LowerGradientY(x, y, batch);
            TensorMath.Axpy(y, -InnerLr, gy);
        }
        var (fx, fy) = oracle.UpperGradient(x, y, upperBatches.Next());
        var p = fy.clone();
        var a = fx.clone();
        int first = InnerSteps - (TruncatedSteps ?? InnerSteps);
        for (int t = InnerSteps - 1; t >= first; t--)
        {
            var (hp, cp) = oracle.LowerSecondOrder(x, iterates[t], p, batches[t]);
            TensorMath.Axpy(a, -InnerLr, cp!);
            TensorMath.Axpy(p, -InnerLr, hp);
        }
        return a.MoveToOuterDisposeScope();
    }
}
