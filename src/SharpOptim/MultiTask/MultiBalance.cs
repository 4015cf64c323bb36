namespace SharpOptim.MultiTask;

/// <summary>
/// MultiBalance — He, Chen, Xu, Cai, You, Cao, Huang, Yang, Liu, Liu, Jin, Park, Long &amp; Feng, "MultiBalance:
/// Multi-Objective Gradient Balancing in Industrial-Scale Multi-Task Recommendation System", arXiv:2411.11871 (2024).
/// <para><b>Reconstruction.</b> Only the abstract could be read (no full text, no public code): it establishes that
/// MultiBalance balances per-task gradients with respect to the shared feature representation (not the shared
/// parameters), at neutral training cost, to avoid grid-searching task weights. The rule below is this library's
/// reconstruction (../shared/papers/multitask.md §4), built on MGDA-UB, which the abstract's setting matches, with the
/// moving averages of the authors' earlier MetaBalance: it is NOT known to be the paper's algorithm.</para>
/// <para>Reconstructed step k: r_t = ∂L_t/∂Z from T head-only backward passes; per-batch Gram M_k = [⟨r_s, r_t⟩]
/// (float64); moving average M̄_k = β M̄_{k−1} + (1−β) M_k with bias correction M̄_k / (1 − β^k) (an average of the
/// r_t themselves would be meaningless: each batch holds other examples); optionally normalised by the averaged norms
/// M̂_st = M̄_st / (n_s n_t), n_t = √M̄_tt; w = argmin_{w∈Δ} wᵀM̂w (<see cref="MinNormSolver"/>); one trunk backward of
/// Σ_t w_t r_t (raw r_t). <see cref="MultiBalanceAverage.Weights"/> instead solves each batch and averages the weights
/// (bias-corrected); <see cref="MultiBalanceAverage.None"/> is MGDA-UB. Defaults: β = 0.9 (MetaBalance's), Gram
/// averaging, no normalisation. Cost: as MGDA-UB. State: the T×T average (or the T weights) and the step count.</para>
/// </summary>
public sealed class MultiBalance : TaskGradientBalancer
{
    private double[,]? _gram;
    private double[]? _weights;
    private int _steps;

    /// <summary>MultiBalance (reconstruction) on the shared representation.</summary>
    /// <exception cref="ArgumentException">β outside [0, 1), maxIterations below 1, or a bad tolerance.</exception>
    public MultiBalance(double beta = 0.9, MultiBalanceAverage average = MultiBalanceAverage.Gram, bool normalize = false,
        int maxIterations = MinNormSolver.DefaultMaxIterations, double tolerance = MinNormSolver.DefaultTolerance)
        : base(BalancingMode.SharedRepresentation, bothModes: false)
    {
        if (!(beta >= 0 && beta < 1))
            throw new ArgumentException(FormattableString.Invariant($"beta must be in [0, 1); got {beta}."), nameof(beta));
        if (!Enum.IsDefined(average))
            throw new ArgumentException(FormattableString.Invariant($"Unknown average {average}."), nameof(average));
        if (maxIterations < 1)
            throw new ArgumentException(FormattableString.Invariant($"maxIterations must be at least 1; got {maxIterations}."), nameof(maxIterations));
        if (!(tolerance >= 0) || double.IsInfinity(tolerance))
            throw new ArgumentException(FormattableString.Invariant($"tolerance must be finite and non-negative; got {tolerance}."), nameof(tolerance));
        Beta = beta;
        Average = average;
        Normalize = normalize;
        MaxIterations = maxIterations;
        Tolerance = tolerance;
    }

    /// <inheritdoc />
    public override string Name => "multibalance";
    /// <summary>The moving-average factor β.</summary>
    public double Beta { get; }
    /// <summary>What is averaged.</summary>
    public MultiBalanceAverage Average { get; }
    /// <summary>Whether the averaged Gram matrix is normalised by the averaged gradient norms before solving.</summary>
    public bool Normalize { get; }
    /// <summary>Frank–Wolfe's iteration cap.</summary>
    public int MaxIterations { get; }
    /// <summary>Frank–Wolfe's tolerance.</summary>
    public double Tolerance { get; }
    /// <summary>Steps taken.</summary>
    public int Steps => _steps;

    /// <inheritdoc />
    protected override (TorchSharp.torch.Tensor Direction, double[]? Weights) Combine(TorchSharp.torch.Tensor gradients, double[] losses)
    {
        int t = (int)gradients.shape[0];
        var m = Gram(gradients);
        int k = _steps + 1;
        double correction = 1 - Math.Pow(Beta, k);
        double[] w;
        if (Average == MultiBalanceAverage.Weights)
        {
            var solved = MinNormSolver.Solve(Normalized(m), MaxIterations, Tolerance).Weights;
            var avg = _weights ?? new double[t];
            for (int i = 0; i < t; i++) avg[i] = Beta * avg[i] + (1 - Beta) * solved[i];
            _weights = avg;
            w = avg.Select(x => x / correction).ToArray();
        }
        else
        {
            double[,] used;
            if (Average == MultiBalanceAverage.Gram)
            {
                var avg = _gram ?? new double[t, t];
                for (int i = 0; i < t; i++)
                    for (int j = 0; j < t; j++)
                        avg[i, j] = Beta * avg[i, j] + (1 - Beta) * m[i, j];
                _gram = avg;
                used = new double[t, t];
                for (int i = 0; i < t; i++)
                    for (int j = 0; j < t; j++)
                        used[i, j] = avg[i, j] / correction;
            }
            else used = m;
            w = MinNormSolver.Solve(Normalized(used), MaxIterations, Tolerance).Weights;
        }
        _steps = k;
        return (Weighted(gradients, w), w);
    }

    private double[,] Normalized(double[,] m)
    {
        if (!Normalize) return m;
        int t = m.GetLength(0);
        var n = new double[t];
        for (int i = 0; i < t; i++) n[i] = m[i, i] > 0 ? Math.Sqrt(m[i, i]) : 1;
        var r = new double[t, t];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < t; j++)
                r[i, j] = m[i, j] / (n[i] * n[j]);
        return r;
    }
}
