using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Training;

/// <summary>
/// The statistics of one mini-batch's per-sample gradients that the batch-size tests need: the batch size b, the
/// squared norm of the batch mean gradient ‖ḡ‖², the sum over coordinates of the unbiased per-sample variance
/// Σ_j Var_j (Var_j = Σ_i (g_ij − ḡ_j)² / (b − 1)), and max_j Var_j / ḡ_j² (0/0 counted as 0, x/0 as +∞).
/// </summary>
/// <param name="BatchSize">Samples in the batch (b &gt;= 2).</param>
/// <param name="MeanGradientNormSquared">‖ḡ‖².</param>
/// <param name="VarianceSum">Σ_j Var_j, the trace of the sample covariance.</param>
/// <param name="MaxCoordinateRatio">max_j Var_j / ḡ_j².</param>
public readonly record struct BatchGradientStatistics(long BatchSize, double MeanGradientNormSquared, double VarianceSum, double MaxCoordinateRatio)
{
    /// <summary>Statistics of per-sample gradients given as a [b, d] tensor (row i = sample i's flattened gradient), computed in float64.</summary>
    public static BatchGradientStatistics FromPerSampleGradients(Tensor perSampleGradients)
    {
        ArgumentNullException.ThrowIfNull(perSampleGradients);
        if (perSampleGradients.dim() != 2)
            throw new ArgumentException(FormattableString.Invariant($"Per-sample gradients must be a [b, d] tensor, got shape [{string.Join(", ", perSampleGradients.shape)}]."), nameof(perSampleGradients));
        long b = perSampleGradients.shape[0];
        RequireBatch(b, nameof(perSampleGradients));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var s = new ScalarHold();
        var g = perSampleGradients.detach().to_type(ScalarType.Float64);
        var mean = g.mean(new long[] { 0 });
        var ssd = g.sub(mean).pow(s[2]).sum(new long[] { 0 });
        return FromMoments(mean, ssd, b);
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
