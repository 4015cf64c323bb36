using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// stocBiO, stochastic AID with a Neumann series of independent minibatches (Ji, Yang and Liang, "Bilevel Optimization:
/// Convergence Analysis and Enhanced Design", ICML 2021, arXiv 2010.07962, Algorithm 2): D SGD steps on y with lower
/// minibatches; ∇_x F, ∇_y F on one upper minibatch D_F; v_Q = η Σ_{q=0}^{Q} Π_{j=1}^{q}(I − η∇²_yy G(x, y; S_j))
/// ∇_y F with a fresh lower minibatch S_j per factor; ĥ = ∇_x F − ∇²_xy G(x, y; D_G)·v_Q on one more lower minibatch.
/// The paper writes the products as Π_{j=Q−q}^{Q}; with i.i.d. batches the two indexings have the same distribution,
/// and with one shared batch both equal η Σ_q (I − ηH)^q ∇_y F.
/// <para>Deviation from the official code (experimental/stocBiO.py): that script assembles the series as
/// η·(last product) + Σ(products) with one shared minibatch, not the paper's η Σ_q; this class follows the paper.</para>
/// </summary>
public sealed class StocBiO : InnerLoopEstimator
{
    /// <summary>D inner SGD steps of size α, then Q Neumann factors with step η.</summary>
    public StocBiO(int innerSteps, double innerLr, int terms, double eta) : base(innerSteps, innerLr)
    {
        if (terms < 0) throw new ArgumentException($"terms must be at least 0, got {terms}.", nameof(terms));
        if (!(eta > 0) || double.IsInfinity(eta)) throw new ArgumentException($"eta must be positive and finite, got {eta}.", nameof(eta));
        Terms = terms;
        Eta = eta;
    }

    /// <summary>Q, the Hessian-vector products per estimate.</summary>
    public int Terms { get; }
    /// <summary>η, the series' step.</summary>
    public double Eta { get; }

    /// <inheritdoc />
    public override Tensor Estimate(HypergradientOracle oracle, Tensor x, Tensor y, BatchStream upperBatches, BatchStream lowerBatches)
    {
        RunInnerLoop(oracle, x, y, lowerBatches);
        using var scope = NewDisposeScope();
        var (fx, fy) = oracle.UpperGradient(x, y, upperBatches.Next());
        var v = AidNeumann.NeumannSeries(oracle, x, y, fy, Terms, Eta, lowerBatches.Next);
        var (_, cross) = oracle.LowerSecondOrder(x, y, v, lowerBatches.Next());
        return TensorMath.Combine(fx, -1.0, cross!).MoveToOuterDisposeScope();
    }
}
