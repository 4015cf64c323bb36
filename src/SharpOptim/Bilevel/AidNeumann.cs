using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// AID with a truncated Neumann series (Ji, Yang and Liang, "Bilevel Optimization: Convergence Analysis and Enhanced
/// Design", ICML 2021, arXiv 2010.07962, eq. for v_Q): after the inner loop,
/// v_Q = η Σ_{q=0}^{Q} (I − η∇²_yy g)^q ∇_y f with η ≤ 1/L_g, computed as p ← ∇_y f, acc ← p, Q times
/// (p ← p − η H p; acc ← acc + p), v = η·acc; then ĥ = ∇_x f − ∇²_xy g·v. Q Hessian-vector products and one
/// cross product per estimate; v_Q → H⁻¹∇_y f geometrically with rate (1 − ημ).
/// <para>hypertorch's <c>neumann</c> is this series written as a fixed-point iteration (see <see cref="AidFixedPoint"/>).</para>
/// </summary>
public sealed class AidNeumann : InnerLoopEstimator
{
    /// <summary>D inner steps of size α, then Q Neumann terms with step η.</summary>
    public AidNeumann(int innerSteps, double innerLr, int terms, double eta) : base(innerSteps, innerLr)
    {
        if (terms < 0) throw new ArgumentException($"terms must be at least 0, got {terms}.", nameof(terms));
        if (!(eta > 0) || double.IsInfinity(eta)) throw new ArgumentException($"eta must be positive and finite, got {eta}.", nameof(eta));
        Terms = terms;
        Eta = eta;
    }

    /// <summary>Q, the Hessian-vector products per estimate.</summary>
    public int Terms { get; }
    /// <summary>η, the series' step (at most 1/L_g for convergence).</summary>
    public double Eta { get; }

    /// <inheritdoc />
    public override Tensor Estimate(HypergradientOracle oracle, Tensor x, Tensor y, BatchStream upperBatches, BatchStream lowerBatches)
    {
        RunInnerLoop(oracle, x, y, lowerBatches);
        using var scope = NewDisposeScope();
        var (fx, fy) = oracle.UpperGradient(x, y, upperBatches.Next());
        var lower = lowerBatches.Next();
        var v = NeumannSeries(oracle, x, y, fy, Terms, Eta, () => lower);
        var (_, cross) = oracle.LowerSecondOrder(x, y, v, lower);
        return TensorMath.Combine(fx, -1.0, cross!).MoveToOuterDisposeScope();
    }

    /// <summary>η Σ_{q=0}^{Q} Π_{j=1}^{q}(I − η H_j) b, each H_j on the batch <paramref name="batch"/> returns.</summary>
    internal static Tensor NeumannSeries(HypergradientOracle oracle, Tensor x, Tensor y, Tensor b, int terms, double eta, Func<Tensor?> batch)
    {
        var p = b.clone();
        var acc = b.clone();
        for (int q = 0; q < terms; q++)
        {
            var (hp, _) = oracle.LowerSecondOrder(x, y, p, batch(), withCross: false);
            TensorMath.Axpy(p, -eta, hp);
            TensorMath.Axpy(acc, 1.0, p);
            hp.Dispose();
        }
        p.Dispose();
        using var s = new SharpOptim.Optimizers.ScalarHold();
        using var _ = no_grad();
        return acc.mul_(s[eta]);
    }
}
