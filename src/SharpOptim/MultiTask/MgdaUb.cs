namespace SharpOptim.MultiTask;

/// <summary>
/// MGDA-UB — Sener &amp; Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018, arXiv:1810.04650,
/// Section 3.3. Since the shared parameters act on the losses only through the representation Z = trunk(x),
/// ‖Σ w_t ∇_θ L_t‖ ≤ ‖∂Z/∂θ‖ ‖Σ w_t ∂L_t/∂Z‖; MGDA-UB minimises the second factor: the same min-norm problem as
/// <see cref="Mgda"/> on r_t = ∂L_t/∂Z (flattened over batch and features, as the official code does — not summed
/// over the batch as LibMTL's port does), then one backward of Σ_t w_t r_t through the trunk. If ∂Z/∂θ has full rank
/// the result is Pareto-stationary or a common descent direction (the paper's Theorem 1).
/// <para>Per step: T head-only backward passes, one trunk backward, T×|Z| floats; heads get unweighted gradients
/// (LibMTL's <c>Z.backward(Σ w r)</c> semantics; the official script instead re-runs a full weighted backward). Options
/// and deviations as <see cref="Mgda"/>.</para>
/// </summary>
public sealed class MgdaUb : Mgda
{
    /// <summary>MGDA-UB on the shared representation.</summary>
    /// <exception cref="ArgumentException">maxIterations below 1 or a negative or non-finite tolerance.</exception>
    public MgdaUb(GradientNormalization normalization = GradientNormalization.None, int maxIterations = MinNormSolver.DefaultMaxIterations,
        double tolerance = MinNormSolver.DefaultTolerance, MinNormStart start = MinNormStart.Uniform)
        : base(BalancingMode.SharedRepresentation, normalization, maxIterations, tolerance, start)
    {
    }

    /// <inheritdoc />
    public override string Name => "mgda-ub";
}
