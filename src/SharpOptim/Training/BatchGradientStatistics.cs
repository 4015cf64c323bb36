using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Training;

/// <summary>
/// The statistics of one mini-batch's per-sample gradients that the batch-size tests need: the batch size b, the
/// squared norm of the batch mean gradient ‖ḡ‖², the sum over coordinates of the unbiased per-sample variance
/// Σ_j Var_j (Var_j = Σ_i (g_ij − ḡ_j)² / (b − 1)), and max_j Var_j / ḡ_j² (0/0 counted as 0, x/0 as +∞); from
/// per-sample gradients also, summed over parameter blocks k as the official code (timlautk/AdAdaGrad tests.py)
/// sums over parameter tensors, the unbiased variance of the inner products ⟨g_i^k, ḡ^k⟩ (<see cref="InnerProductVariance"/>)
/// and the summed unbiased variance of the components orthogonal to ḡ^k, o_i^k = g_i^k − (⟨g_i^k, ḡ^k⟩ / ‖ḡ^k‖²) ḡ^k
/// (<see cref="OrthogonalVariance"/>; o_i^k = g_i^k for a block with ḡ^k = 0, where the official code divides by zero).
/// </summary>
/// <param name="BatchSize">Samples in the batch (b &gt;= 2).</param>
/// <param name="MeanGradientNormSquared">‖ḡ‖².</param>
/// <param name="VarianceSum">Σ_j Var_j, the trace of the sample covariance.</param>
/// <param name="MaxCoordinateRatio">max_j Var_j / ḡ_j².</param>
public readonly record struct BatchGradientStatistics(long BatchSize, double MeanGradientNormSquared, double VarianceSum, double MaxCoordinateRatio)
{
    /// <summary>Σ_k Var_i(⟨g_i^k, ḡ^k⟩) over parameter blocks k (the inner-product test's numerator); NaN when the
    /// statistics were built from moments alone (<see cref="FromMoments"/>).</summary>
    public double InnerProductVariance { get; init; } = double.NaN;

    /// <summary>Σ_k Σ_j Var_i(o_ij^k), the variance of the per-sample components orthogonal to the block's batch
    /// gradient (the orthogonality test's numerator); NaN when built from moments alone.</summary>
    public double OrthogonalVariance { get; init; } = double.NaN;

    /// <summary>Statistics of per-sample gradients given as a [b, d] tensor (row i = sample i's flattened gradient),
    /// computed in float64, with the whole row as one block (see the overload with block sizes).</summary>
    public static BatchGradientStatistics FromPerSampleGradients(Tensor perSampleGradients) => FromPerSampleGradients(perSampleGradients, null);

    /// <summary>
    /// Statistics of per-sample gradients [b, d] whose columns are the concatenation of parameter blocks of the given
    /// sizes (<see cref="PerSampleGradients.BlockSizes"/> gives them for a model, in the order
    /// <see cref="PerSampleGradients.Compute"/> concatenates; null: one block). The norm and coordinate-wise
    /// statistics do not depend on the blocks; the inner-product and orthogonality ones do, and per parameter tensor
    /// is how the official code computes them. Computed in float64.
    /// </summary>
    public static BatchGradientStatistics FromPerSampleGradients(Tensor perSampleGradients, IReadOnlyList<long>? blockSizes)
    {
        ArgumentNullException.ThrowIfNull(perSampleGradients);
        if (perSampleGradients.dim() != 2)
            throw new ArgumentException(FormattableString.Invariant($"Per-sample gradients must be a [b, d] tensor, got shape [{string.Join(", ", perSampleGradients.shape)}]."), nameof(perSampleGradients));
        long b = perSampleGradients.shape[0], d = perSampleGradients.shape[1];
        RequireBatch(b, nameof(perSampleGradients));
        var sizes = blockSizes ?? new[] { d };
        if (sizes.Any(x => x < 1) || sizes.Sum() != d)
            throw new ArgumentException(FormattableString.Invariant($"Invalid blockSizes: [{string.Join(", ", sizes)}] (positive, summing to the {d} columns)."), nameof(blockSizes));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var s = new ScalarHold();
        var g = perSampleGradients.detach().to_type(ScalarType.Float64);
        var mean = g.mean(new long[] { 0 });
        var ssd = g.sub(mean).pow(s[2]).sum(new long[] { 0 });
        var basic = FromMoments(mean, ssd, b);
        double ip = 0, orth = 0;
        long offset = 0;
        foreach (long size in sizes)
        {
            var gk = g.narrow(1, offset, size);
            var mk = mean.narrow(0, offset, size);
            offset += size;
            var inner = gk.matmul(mk);                                         // [b]: ⟨g_i^k, ḡ^k⟩
            ip += inner.sub(inner.mean()).pow(s[2]).sum().item<double>() / (b - 1);
            double nk = mk.pow(s[2]).sum().item<double>();
            var ortho = nk == 0 ? gk : gk.sub(inner.unsqueeze(1).mul(mk.unsqueeze(0)).div(s[nk]));
            orth += ortho.sub(ortho.mean(new long[] { 0 })).pow(s[2]).sum().item<double>() / (b - 1);
        }
        if (!double.IsFinite(ip) || !double.IsFinite(orth))
            throw new ArgumentException("The gradient statistics contain NaN or infinite values.", nameof(perSampleGradients));
        return basic with { InnerProductVariance = ip, OrthogonalVariance = orth };
    }

    /// <summary>
    /// Statistics from the batch mean gradient ḡ and the per-coordinate sum of squared deviations Σ_i (g_ij − ḡ_j)²
    /// (both flat, length d) of a batch of <paramref name="batchSize"/> samples.
    /// </summary>
    public static BatchGradientStatistics FromMoments(Tensor meanGradient, Tensor sumSquaredDeviations, long batchSize)
    {
        ArgumentNullException.ThrowIfNull(meanGradient);
        ArgumentNullException.ThrowIfNull(sumSquaredDeviations);
        RequireBatch(batchSize, nameof(batchSize));
        if (meanGradient.NumberOfElements != sumSquaredDeviations.NumberOfElements)
            throw new ArgumentException(FormattableString.Invariant($"The mean gradient has {meanGradient.NumberOfElements} elements, the squared deviations {sumSquaredDeviations.NumberOfElements}."), nameof(sumSquaredDeviations));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var s = new ScalarHold();
        var mean = meanGradient.detach().reshape(-1).to_type(ScalarType.Float64);
        var variance = sumSquaredDeviations.detach().reshape(-1).to_type(ScalarType.Float64).div(s[batchSize - 1]);
        if (!mean.isfinite().all().item<bool>() || !variance.isfinite().all().item<bool>())
            throw new ArgumentException("The gradient statistics contain NaN or infinite values.", nameof(meanGradient));
        if (variance.lt(s[0]).any().item<bool>())
            throw new ArgumentException("A sum of squared deviations is negative.", nameof(sumSquaredDeviations));
        double normSq = mean.pow(s[2]).sum().item<double>();
        double varSum = variance.sum().item<double>();
        // Var_j / ḡ_j² per coordinate; a coordinate with no variance passes its test whatever ḡ_j is (0/0 → 0).
        var ratio = where(variance.eq(s[0]), zeros_like(variance), variance.div(mean.pow(s[2])));
        double maxRatio = ratio.NumberOfElements == 0 ? 0 : ratio.max().item<double>();
        return new BatchGradientStatistics(batchSize, normSq, varSum, maxRatio);
    }

    private static void RequireBatch(long b, string name)
    {
        if (b < 2)
            throw new ArgumentException(FormattableString.Invariant($"The batch-size tests need at least 2 samples to estimate a variance, got {b}."), name);
    }
}
