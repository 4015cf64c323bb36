namespace SharpOptim.Tasks.Tuning;

/// <summary>
/// The hyperparameters a sweep tunes and how candidate configurations are drawn from them, deterministically by seed:
/// with one dimension an evenly spaced grid over its (log) range, ends included, so the sweep is a grid search the
/// report can draw as a curve; with more, a Halton sequence (bases 2, 3, 5, ...) shifted by a seeded random offset
/// modulo 1 (Cranley–Patterson rotation), which covers the box evenly for any count.
/// </summary>
public sealed class SearchSpace
{
    /// <summary>The tuned dimensions, in the order given.</summary>
    public IReadOnlyList<SearchDimension> Dimensions { get; }

    /// <summary>A space over <paramref name="dimensions"/> (at least one, names distinct).</summary>
    public SearchSpace(IReadOnlyList<SearchDimension> dimensions)
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        if (dimensions.Count == 0) throw new ArgumentException("The search space is empty: tune at least one hyperparameter.", nameof(dimensions));
        var twice = dimensions.GroupBy(d => d.Name).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new ArgumentException(FormattableString.Invariant($"The search space names {twice.Key} twice."), nameof(dimensions));
        if (dimensions.Count > Primes.Length)
            throw new ArgumentException(FormattableString.Invariant($"The search space has {dimensions.Count} dimensions; at most {Primes.Length} are supported."), nameof(dimensions));
        Dimensions = dimensions;
    }

    /// <summary><paramref name="count"/> configurations (hyperparameter name → value), the same for the same seed.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, double>> Sample(int count, int seed)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "count must be at least 1.");
        var result = new List<IReadOnlyDictionary<string, double>>(count);
        if (Dimensions.Count == 1)
        {
            var d = Dimensions[0];
            for (int i = 0; i < count; i++)
                result.Add(new Dictionary<string, double> { [d.Name] = d.At(count == 1 ? 0.5 : (double)i / (count - 1)) });
            return result;
        }
        var rng = new Random(seed);
        var shift = Dimensions.Select(_ => rng.NextDouble()).ToArray();
        for (int i = 0; i < count; i++)
        {
            var config = new Dictionary<string, double>();
            for (int k = 0; k < Dimensions.Count; k++)
            {
                double u = Halton(i + 1, Primes[k]) + shift[k];
                config[Dimensions[k].Name] = Dimensions[k].At(u - Math.Floor(u));
            }
            result.Add(config);
        }
        return result;
    }

    private static readonly int[] Primes = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29 };

    /// <summary>The radical inverse of <paramref name="index"/> in <paramref name="b"/>: the Halton sequence's coordinate.</summary>
    public static double Halton(int index, int b)
    {
        double f = 1, r = 0;
        for (int i = index; i > 0; i /= b)
        {
            f /= b;
            r += f * (i % b);
        }
        return r;
    }
}
