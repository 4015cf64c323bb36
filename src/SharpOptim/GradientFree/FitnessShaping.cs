namespace SharpOptim.GradientFree;

/// <summary>
/// Fitness shaping for evolution strategies (fitness is maximised).
/// <list type="bullet">
/// <item><see cref="CenteredRanks"/>: Salimans et al. 2017, "Evolution Strategies as a Scalable Alternative to
/// Reinforcement Learning" (arXiv:1703.03864), official <c>compute_centered_ranks</c>: rank all values jointly
/// (0 = lowest), <c>u = rank/(n−1) − 0.5</c>. Ties get distinct ranks in index order (a stable sort; NumPy's default
/// argsort in the official code is not stable, so its tie order is arbitrary).</item>
/// <item><see cref="ZScore"/>: Sarkar et al. 2025, "Evolution Strategies at the Hyperscale" (EGGROLL,
/// arXiv:2511.16652), official <c>convert_fitnesses</c>: <c>(F_i − mean_group(i) F) / sqrt(var_all F + eps)</c> with
/// the population variance (ddof 0) over ALL members even when the mean is taken per group of
/// <c>groupSize</c> consecutive members — the official code's quirk, kept for parity.</item>
/// </list>
/// </summary>
public static class FitnessShaping
{
    /// <summary>Applies <paramref name="shape"/> (group size and epsilon are used by <see cref="FitnessShape.ZScore"/>).</summary>
    public static double[] Apply(FitnessShape shape, ReadOnlySpan<double> fitness, int groupSize = 0, double epsilon = 1e-5) => shape switch
    {
        FitnessShape.None => fitness.ToArray(),
        FitnessShape.CenteredRank => CenteredRanks(fitness),
        FitnessShape.ZScore => ZScore(fitness, groupSize, epsilon),
        _ => throw new ArgumentException(FormattableString.Invariant($"unknown fitness shape {shape}."), nameof(shape)),
    };

    /// <summary>Centered ranks <c>rank/(n−1) − 0.5</c> (stable: equal values rank in index order); one value gives 0.</summary>
    public static double[] CenteredRanks(ReadOnlySpan<double> fitness)
    {
        int n = fitness.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var keys = fitness.ToArray();
        // Array.Sort is not stable; sorting (value, index) pairs is.
        var items = new (double Value, int Index)[n];
        for (int i = 0; i < n; i++) items[i] = (keys[i], i);
        Array.Sort(items, (a, b) => a.Value != b.Value ? a.Value.CompareTo(b.Value) : a.Index.CompareTo(b.Index));
        var u = new double[n];
        if (n == 1) return u;
        for (int r = 0; r < n; r++) u[items[r].Index] = r / (double)(n - 1) - 0.5;
        return u;
    }

    /// <summary>EGGROLL's z-score: per-group mean (groups of <paramref name="groupSize"/> consecutive members; 0 =
    /// one group), global population variance, <c>sqrt(var + epsilon)</c> in the denominator.</summary>
    public static double[] ZScore(ReadOnlySpan<double> fitness, int groupSize = 0, double epsilon = 1e-5)
    {
        int n = fitness.Length;
        if (groupSize < 0 || (groupSize > 0 && n % groupSize != 0))
            throw new ArgumentException(FormattableString.Invariant($"group size {groupSize} must be 0 or divide the population {n}."), nameof(groupSize));
        if (!(epsilon >= 0)) throw new ArgumentException(FormattableString.Invariant($"epsilon {epsilon} must be >= 0."), nameof(epsilon));
        double mean = 0;
        for (int i = 0; i < n; i++) mean += fitness[i];
        mean /= n;
        double variance = 0;
        for (int i = 0; i < n; i++) variance += (fitness[i] - mean) * (fitness[i] - mean);
        variance /= n;
        double denominator = Math.Sqrt(variance + epsilon);
        int g = groupSize == 0 ? n : groupSize;
        var z = new double[n];
        for (int start = 0; start < n; start += g)
        {
            double m = 0;
            for (int i = start; i < start + g; i++) m += fitness[i];
            m /= g;
            for (int i = start; i < start + g; i++) z[i] = (fitness[i] - m) / denominator;
        }
        return z;
    }

    /// <summary>Checks fitness values against <paramref name="policy"/>: returns them unchanged when all are finite,
    /// replaces non-finite ones by the worst finite value under <see cref="NonFiniteFitnessPolicy.Worst"/>, and throws
    /// an <see cref="ArgumentException"/> naming the first bad member otherwise (also when none is finite).
    /// <paramref name="lowerIsBetter"/> is true for losses.</summary>
    public static double[] Sanitize(ReadOnlySpan<double> values, NonFiniteFitnessPolicy policy, bool lowerIsBetter = false, string what = "fitness")
    {
        var v = values.ToArray();
        int bad = Array.FindIndex(v, x => !double.IsFinite(x));
        if (bad < 0) return v;
        if (policy == NonFiniteFitnessPolicy.Throw || v.All(x => !double.IsFinite(x)))
            throw new ArgumentException(FormattableString.Invariant($"{what} of member {bad} is {v[bad]}; nothing was changed (policy {policy}{(v.All(x => !double.IsFinite(x)) ? ", and no member has a finite value" : "")})."), what);
        double worst = lowerIsBetter ? v.Where(double.IsFinite).Max() : v.Where(double.IsFinite).Min();
        for (int i = 0; i < v.Length; i++) if (!double.IsFinite(v[i])) v[i] = worst;
        return v;
    }
}
