using static TorchSharp.torch;

namespace SharpOptim.Training;

/// <summary>
/// Adaptive batch sizes for (adaptive) gradient methods: Lau, Liu and Kolar, "AdAdaGrad: Adaptive Batch Size
/// Schemes for Adaptive Gradient Methods" (arXiv:2402.11215); official code timlautk/AdAdaGrad (tests.py:
/// <c>norm_test</c>, <c>inner_product_test</c>, <c>orthogonality_test</c>, <c>inner_product_orthogonality_test</c>),
/// which this class follows. After each step, the per-sample gradients of the batch just used (in float64) decide the
/// next batch size; with ḡ the batch mean gradient, blocks k the parameter tensors (the official code sums its
/// statistics over parameter tensors), Var the unbiased (b − 1) per-sample variance:
/// <code>
/// T_norm  = Σ_j Var(g_ij) / (η² ‖ḡ‖²)                                         (norm test; AdAdaGrad-Norm, AdAdaGrad)
/// T_ip    = Σ_k Var(⟨g_i^k, ḡ^k⟩) / (θ² ‖ḡ‖⁴)                                 (inner-product test)
/// T_orth  = Σ_k Σ_j Var(o_ij^k) / (ν² ‖ḡ‖²),  o_i^k = g_i^k − ⟨g_i^k, ḡ^k⟩ ḡ^k / ‖ḡ^k‖²   (orthogonality test)
/// T_aug   = max(T_ip, T_orth)                                                  (augmented inner-product test)
/// T_coord = max_j Var(g_ij) / (η² ḡ_j²)                                        (this library's coordinate-wise variant)
/// b_next  = min(b_max, max(b, ⌈T⌉))
/// </code>
/// Defaults θ = ν = 0.1 (the official code's) and η = 0.1 (the official examples' value for MNIST and ImageNet;
/// smaller constants grow the batch faster). The batch size never decreases and never exceeds b_max. When ‖ḡ‖ = 0
/// with variance the test value is +∞ and b jumps to b_max (the official code divides by zero there); with no variance
/// at all it is 0 and b stays. The coordinate-wise test is not in the official code: it demands every coordinate's
/// mean to dominate its own spread, so one coordinate with a near-zero mean gradient sends b to b_max at once — on
/// real models it usually reaches the cap within a few steps (see <see cref="BatchSizeTest.CoordinateWise"/>).
/// <para>
/// Choices: the test is applied at every step (the official code has a <c>test_interval</c>; call <see cref="Update(Tensor)"/>
/// less often for that). The current size b is this controller's <see cref="BatchSize"/>, while the variance uses the
/// batch actually given (it may be smaller at the end of an epoch). The official code takes ⌈max(b, T)⌉, which equals
/// max(b, ⌈T⌉) for integer b. Per-sample gradients come from <see cref="PerSampleGradients"/>; pass
/// <see cref="PerSampleGradients.BlockSizes"/> so that the inner-product and orthogonality tests see the parameter
/// tensors as the official code does (without it the whole gradient is one block: a different, coarser test).
/// Not implemented: the official distributed and gradient-accumulation variants (the norm test's law-of-total-variance
/// merge), and its stage-wise/linear ramp-up baselines.
/// </para>
/// <example>
/// AdAdaGrad-Norm on a classifier (AdaGrad-Norm steps, batch size from the norm test):
/// <code>
/// var opt = new AdaGradNorm(model.parameters(), lr: 0.5);
/// var sizes = new AdaptiveBatchSize(initialBatchSize: 4, maxBatchSize: n, eta: 0.1);
/// var blocks = PerSampleGradients.BlockSizes(model);                  // per parameter tensor, as the official code
/// for (int step = 0; step &lt; steps; step++)
/// {
///     var idx = SampleIndices(sizes.BatchSize);                       // b samples
///     var (x, y) = (trainX.index_select(0, idx), trainY.index_select(0, idx));
///     var perSample = PerSampleGradients.Compute(model, x, y, (o, t) =&gt; functional.cross_entropy(o, t));
///     opt.zero_grad();
///     functional.cross_entropy(model.forward(x), y).backward();       // the batch mean gradient
///     opt.step();
///     sizes.Update(perSample, blocks);                                // b for the next step
/// }
/// </code>
/// For AdAdaGrad use <see cref="SharpOptim.Optimizers.Adagrad"/> with the same norm test (the official runs use
/// <c>--optimizer=adagrad --test_type=norm</c>); the (augmented) inner-product tests serve either optimizer.
/// </example>
/// </summary>
public sealed class AdaptiveBatchSize
{
    /// <summary>Starts at <paramref name="initialBatchSize"/> (&gt;= 2), grows up to <paramref name="maxBatchSize"/>, with
    /// the test's constants η (norm and coordinate-wise tests), θ (inner product) and ν (orthogonality).</summary>
    public AdaptiveBatchSize(int initialBatchSize, int maxBatchSize, double eta = 0.1, BatchSizeTest test = BatchSizeTest.Norm,
        double theta = 0.1, double nu = 0.1)
    {
        if (initialBatchSize < 2)
            throw new ArgumentException(FormattableString.Invariant($"Invalid initialBatchSize: {initialBatchSize} (must be >= 2: the tests estimate a variance)."), nameof(initialBatchSize));
        if (maxBatchSize < initialBatchSize)
            throw new ArgumentException(FormattableString.Invariant($"Invalid maxBatchSize: {maxBatchSize} (must be >= initialBatchSize {initialBatchSize})."), nameof(maxBatchSize));
        RequireConstant(eta, nameof(eta));
        RequireConstant(theta, nameof(theta));
        RequireConstant(nu, nameof(nu));
        if (!Enum.IsDefined(test))
            throw new ArgumentException(FormattableString.Invariant($"Invalid test: {(int)test}."), nameof(test));
        BatchSize = initialBatchSize;
        MaxBatchSize = maxBatchSize;
        Eta = eta;
        Theta = theta;
        Nu = nu;
        Test = test;
    }

    /// <summary>The batch size to use for the next step.</summary>
    public int BatchSize { get; private set; }
    /// <summary>The cap b_max.</summary>
    public int MaxBatchSize { get; }
    /// <summary>The norm (and coordinate-wise) test's constant η.</summary>
    public double Eta { get; }
    /// <summary>The inner-product test's constant θ.</summary>
    public double Theta { get; }
    /// <summary>The orthogonality test's constant ν.</summary>
    public double Nu { get; }
    /// <summary>The test applied.</summary>
    public BatchSizeTest Test { get; }
    /// <summary>The statistics of the last batch given to <see cref="Update(BatchGradientStatistics)"/>, if any.</summary>
    public BatchGradientStatistics? LastStatistics { get; private set; }
    /// <summary>The test value T of the last update (may be +∞).</summary>
    public double LastTestValue { get; private set; } = double.NaN;

    /// <summary>Applies the test to per-sample gradients [b, d] of the batch just used (one block); returns the next batch size.</summary>
    public int Update(Tensor perSampleGradients) => Update(BatchGradientStatistics.FromPerSampleGradients(perSampleGradients));

    /// <summary>Applies the test to per-sample gradients [b, d] made of parameter blocks of the given sizes
    /// (<see cref="PerSampleGradients.BlockSizes"/>); returns the next batch size.</summary>
    public int Update(Tensor perSampleGradients, IReadOnlyList<long> blockSizes) =>
        Update(BatchGradientStatistics.FromPerSampleGradients(perSampleGradients, blockSizes));

    /// <summary>Applies the test to the statistics of the batch just used; returns the next batch size.</summary>
    public int Update(BatchGradientStatistics statistics)
    {
        double t = TestValue(statistics, Test, Eta, Theta, Nu);
        int next = NextBatchSize(BatchSize, t, MaxBatchSize);
        LastStatistics = statistics;
        LastTestValue = t;
        BatchSize = next;
        return BatchSize;
    }

    /// <summary>The test value T with one constant: η for the norm and coordinate-wise tests, θ = ν = <paramref name="eta"/> for the others.</summary>
    public static double TestValue(BatchGradientStatistics s, double eta, BatchSizeTest test) => TestValue(s, test, eta, eta, eta);

    /// <summary>The test value T (the batch size the test asks for, before rounding), possibly +∞.</summary>
    public static double TestValue(BatchGradientStatistics s, BatchSizeTest test, double eta = 0.1, double theta = 0.1, double nu = 0.1)
    {
        RequireConstant(eta, nameof(eta));
        RequireConstant(theta, nameof(theta));
        RequireConstant(nu, nameof(nu));
        double n2 = s.MeanGradientNormSquared;
        // A zero batch gradient with any spread fails every official test (their numerators project onto ḡ and
        // would read 0/0 for the inner product); with no spread at all every test passes.
        if (n2 == 0 && test != BatchSizeTest.CoordinateWise) return s.VarianceSum == 0 ? 0 : double.PositiveInfinity;
        switch (test)
        {
            case BatchSizeTest.Norm:
                return Ratio(s.VarianceSum, eta * eta * n2);
            case BatchSizeTest.CoordinateWise:
                return s.MaxCoordinateRatio / (eta * eta);
            case BatchSizeTest.InnerProduct:
                return Ratio(PerSample(s.InnerProductVariance), theta * theta * n2 * n2);
            case BatchSizeTest.Orthogonality:
                return Ratio(PerSample(s.OrthogonalVariance), nu * nu * n2);
            case BatchSizeTest.AugmentedInnerProduct:
                return Math.Max(Ratio(PerSample(s.InnerProductVariance), theta * theta * n2 * n2), Ratio(PerSample(s.OrthogonalVariance), nu * nu * n2));
            default:
                throw new ArgumentException(FormattableString.Invariant($"Invalid test: {(int)test}."), nameof(test));
        }
    }

    /// <summary>variance / denominator, with 0/0 = 0 (no variance: the test passes) and x/0 = +∞ (a zero batch gradient with variance).</summary>
    private static double Ratio(double variance, double denominator) =>
        variance == 0 ? 0 : denominator == 0 ? double.PositiveInfinity : variance / denominator;

    private static double PerSample(double v) => double.IsNaN(v)
        ? throw new ArgumentException("The inner-product and orthogonality tests need statistics from per-sample gradients (BatchGradientStatistics.FromPerSampleGradients), not from moments.", "s")
        : v;

    /// <summary>min(b_max, max(b, ⌈T⌉)): the rule for the next batch size (η for the norm tests, θ = ν = η for the others).</summary>
    public static int NextBatchSize(int current, BatchGradientStatistics s, double eta, BatchSizeTest test, int maxBatchSize)
    {
        CheckSizes(current, maxBatchSize);
        return NextBatchSize(current, TestValue(s, eta, test), maxBatchSize);
    }

    private static int NextBatchSize(int current, double t, int maxBatchSize)
    {
        CheckSizes(current, maxBatchSize);
        if (double.IsNaN(t)) throw new ArgumentException("The test value is NaN.", "s");
        if (t <= current) return current;
        if (t >= maxBatchSize) return maxBatchSize;
        return (int)Math.Ceiling(t);
    }

    private static void CheckSizes(int current, int maxBatchSize)
    {
        if (current < 1) throw new ArgumentException(FormattableString.Invariant($"Invalid current batch size: {current}."), nameof(current));
        if (maxBatchSize < current) throw new ArgumentException(FormattableString.Invariant($"Invalid maxBatchSize: {maxBatchSize} (below the current batch size {current})."), nameof(maxBatchSize));
    }

    private static void RequireConstant(double value, string name)
    {
        if (!double.IsFinite(value) || value <= 0)
            throw new ArgumentException(FormattableString.Invariant($"Invalid {name}: {value:R} (must be a finite number > 0)."), name);
    }
}
