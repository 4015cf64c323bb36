using static TorchSharp.torch;

namespace SharpOptim.Training;

/// <summary>
/// Adaptive batch sizes for (adaptive) gradient methods: Lau, Liu and Kolar, "AdAdaGrad: Adaptive Batch Size
/// Schemes for Adaptive Gradient Methods" (arXiv:2402.11215); official code timlautk/AdAdaGrad (tests.py,
/// <c>norm_test</c>). After each step, the per-sample gradients of the batch just used decide the next batch size:
/// <code>
/// T_norm  = Σ_j Var_j / (η² ‖ḡ‖²)                (norm test; AdAdaGrad-Norm)
/// T_coord = max_j Var_j / (η² ḡ_j²)              (coordinate-wise test; AdAdaGrad)
/// b_next  = min(b_max, max(b, ⌈T⌉))
/// </code>
/// where ḡ is the batch mean gradient, Var_j the unbiased (b − 1) per-sample variance of coordinate j, η &gt; 0 the
/// test constant (the paper's experiments use η between 0.1 and 1; smaller η grows the batch faster). The batch size
/// never decreases and never exceeds b_max. When ‖ḡ‖ = 0 (or ḡ_j = 0 for a coordinate with variance) the test value
/// is +∞ and b jumps to b_max; with no variance at all it is 0 and b stays.
/// <para>
/// Choices: the test is applied at every step (the official code has a <c>test_interval</c>; call <see cref="Update(Tensor)"/>
/// less often for that). The current size b is this controller's <see cref="BatchSize"/>, while the variance uses the
/// batch actually given (it may be smaller at the end of an epoch). The official code takes ⌈max(b, T)⌉, which equals
/// max(b, ⌈T⌉) for integer b. Per-sample gradients come from <see cref="PerSampleGradients"/>.
/// </para>
/// <example>
/// AdAdaGrad-Norm on a classifier (AdaGrad-Norm steps, batch size from the norm test):
/// <code>
/// var opt = new AdaGradNorm(model.parameters(), lr: 0.5);
/// var sizes = new AdaptiveBatchSize(initialBatchSize: 4, maxBatchSize: n, eta: 0.5);
/// for (int step = 0; step &lt; steps; step++)
/// {
///     var idx = SampleIndices(sizes.BatchSize);                       // b samples
///     var (x, y) = (trainX.index_select(0, idx), trainY.index_select(0, idx));
///     var perSample = PerSampleGradients.Compute(model, x, y, (o, t) =&gt; functional.cross_entropy(o, t));
///     opt.zero_grad();
///     functional.cross_entropy(model.forward(x), y).backward();       // the batch mean gradient
///     opt.step();
///     sizes.Update(perSample);                                        // b for the next step
/// }
/// </code>
/// For AdAdaGrad use <see cref="SharpOptim.Optimizers.Adagrad"/> and <see cref="BatchSizeTest.CoordinateWise"/>.
/// </example>
/// </summary>
public sealed class AdaptiveBatchSize
{
    /// <summary>Starts at <paramref name="initialBatchSize"/> (&gt;= 2), grows up to <paramref name="maxBatchSize"/>, with test constant η.</summary>
    public AdaptiveBatchSize(int initialBatchSize, int maxBatchSize, double eta, BatchSizeTest test = BatchSizeTest.Norm)
    {
        if (initialBatchSize < 2)
            throw new ArgumentException(FormattableString.Invariant($"Invalid initialBatchSize: {initialBatchSize} (must be >= 2: the tests estimate a variance)."), nameof(initialBatchSize));
        if (maxBatchSize < initialBatchSize)
            throw new ArgumentException(FormattableString.Invariant($"Invalid maxBatchSize: {maxBatchSize} (must be >= initialBatchSize {initialBatchSize})."), nameof(maxBatchSize));
        RequireEta(eta);
        if (!Enum.IsDefined(test))
            throw new ArgumentException(FormattableString.Invariant($"Invalid test: {(int)test}."), nameof(test));
        BatchSize = initialBatchSize;
        MaxBatchSize = maxBatchSize;
        Eta = eta;
        Test = test;
    }

    /// <summary>The batch size to use for the next step.</summary>
    public int BatchSize { get; private set; }
    /// <summary>The cap b_max.</summary>
    public int MaxBatchSize { get; }
    /// <summary>The test constant η.</summary>
    public double Eta { get; }
    /// <summary>The test applied.</summary>
    public BatchSizeTest Test { get; }
    /// <summary>The statistics of the last batch given to <see cref="Update(BatchGradientStatistics)"/>, if any.</summary>
    public BatchGradientStatistics? LastStatistics { get; private set; }
    /// <summary>The test value T of the last update (may be +∞).</summary>
    public double LastTestValue { get; private set; } = double.NaN;

    /// <summary>Applies the test to per-sample gradients [b, d] of the batch just used; returns the next batch size.</summary>
    public int Update(Tensor perSampleGradients) => Update(BatchGradientStatistics.FromPerSampleGradients(perSampleGradients));

    /// <summary>Applies the test to the statistics of the batch just used; returns the next batch size.</summary>
    public int Update(BatchGradientStatistics statistics)
    {
        LastStatistics = statistics;
        LastTestValue = TestValue(statistics, Eta, Test);
        BatchSize = NextBatchSize(BatchSize, statistics, Eta, Test, MaxBatchSize);
        return BatchSize;
    }

    /// <summary>The test value T (the batch size the test asks for, before rounding), possibly +∞.</summary>
    public static double TestValue(BatchGradientStatistics s, double eta, BatchSizeTest test)
    {
        RequireEta(eta);
        double e2 = eta * eta;
        switch (test)
        {
            case BatchSizeTest.Norm:
                if (s.VarianceSum == 0) return 0;
                return s.MeanGradientNormSquared == 0 ? double.PositiveInfinity : s.VarianceSum / (e2 * s.MeanGradientNormSquared);
            case BatchSizeTest.CoordinateWise:
                return s.MaxCoordinateRatio / e2;
            default:
                throw new ArgumentException(FormattableString.Invariant($"Invalid test: {(int)test}."), nameof(test));
        }
    }

    /// <summary>min(b_max, max(b, ⌈T⌉)): the rule for the next batch size.</summary>
    public static int NextBatchSize(int current, BatchGradientStatistics s, double eta, BatchSizeTest test, int maxBatchSize)
    {
        if (current < 1) throw new ArgumentException(FormattableString.Invariant($"Invalid current batch size: {current}."), nameof(current));
        if (maxBatchSize < current) throw new ArgumentException(FormattableString.Invariant($"Invalid maxBatchSize: {maxBatchSize} (below the current batch size {current})."), nameof(maxBatchSize));
        double t = TestValue(s, eta, test);
        if (double.IsNaN(t)) throw new ArgumentException("The test value is NaN.", nameof(s));
        if (t <= current) return current;
        if (t >= maxBatchSize) return maxBatchSize;
        return (int)Math.Ceiling(t);
    }

    private static void RequireEta(double eta)
    {
        if (!double.IsFinite(eta) || eta <= 0)
            throw new ArgumentException(FormattableString.Invariant($"Invalid eta: {eta:R} (must be a finite number > 0)."), nameof(eta));
    }
}
