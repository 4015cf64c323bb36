using System.Globalization;

namespace SharpOptim.Distributed;

/// <summary>
/// Splits a labelled training set across n workers (../shared/papers/distributed.md §1.3), deterministically from
/// (seed, n, scheme), so every rank computes the same partition and takes its own shard without communicating:
/// <list type="bullet">
/// <item><b>iid</b>: shuffle, then n nearly equal contiguous slices.</item>
/// <item><b>pathological</b> (McMahan et al., arXiv 1602.05629): sort by label (ties by a shuffle), cut into n·c equal
/// shards and give each worker c random shards, so each worker sees about c classes.</item>
/// <item><b>dirichlet</b>(a), as FL-Simulator's <c>dataset.py</c> does: each worker draws class proportions
/// p_i ~ Dir(a·1); workers get equal sizes; sample slots are filled one at a time by a randomly chosen worker that
/// still has room, drawing a class from its p_i restricted to the classes with rows left. Small a (0.1) is strongly
/// heterogeneous; large a approaches iid.</item>
/// </list>
/// Randomness is <see cref="Random"/>'s seeded generator (stable across .NET versions) and a Marsaglia–Tsang gamma
/// sampler on it; nothing depends on libtorch's generator.
/// </summary>
public static class DataPartition
{
    /// <summary>Scheme names accepted by <see cref="Split"/>.</summary>
    public static IReadOnlyList<string> Schemes { get; } = new[] { "iid", "pathological", "dirichlet" };

    /// <summary>
    /// The row indices of every worker's shard (each ascending; together a partition of 0…labels.Length−1).
    /// <paramref name="alpha"/> is Dirichlet's concentration, <paramref name="classesPerWorker"/> the pathological c.
    /// </summary>
    public static int[][] Split(IReadOnlyList<int> labels, int workers, string scheme, int seed, double alpha = 0.1, int classesPerWorker = 2)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "at least one worker.");
        if (labels.Count < workers)
            throw new ArgumentException(Inv($"{labels.Count} rows cannot be split over {workers} workers (each needs at least one)."), nameof(labels));
        if (labels.Any(l => l < 0)) throw new ArgumentException("labels must be non-negative class indices.", nameof(labels));
        return scheme switch
        {
            "iid" => Iid(labels.Count, workers, seed),
            "pathological" => Pathological(labels, workers, seed, classesPerWorker),
            "dirichlet" => Dirichlet(labels, workers, seed, alpha),
            _ => throw new ArgumentException(Inv($"unknown partition scheme '{scheme}'; valid: {string.Join(", ", Schemes)}."), nameof(scheme)),
        };
    }

    private static int[][] Iid(int count, int workers, int seed)
    {
        var order = Shuffled(count, new Random(seed));
        return Enumerable.Range(0, workers)
            .Select(w => order[(int)((long)count * w / workers)..(int)((long)count * (w + 1) / workers)].OrderBy(i => i).ToArray())
            .ToArray();
    }

    private static int[][] Pathological(IReadOnlyList<int> labels, int workers, int seed, int classesPerWorker)
    {
        if (classesPerWorker < 1) throw new ArgumentOutOfRangeException(nameof(classesPerWorker), classesPerWorker, "at least one class (shard) per worker.");
        int shards = workers * classesPerWorker;
        if (shards > labels.Count) throw new ArgumentException(Inv($"{shards} shards of at least one row need more than {labels.Count} rows."), nameof(classesPerWorker));
        var rng = new Random(seed);
        var tiebreak = Shuffled(labels.Count, rng);
        var rank = new int[labels.Count];
        for (int k = 0; k < tiebreak.Length; k++) rank[tiebreak[k]] = k;
        var sorted = Enumerable.Range(0, labels.Count).OrderBy(i => labels[i]).ThenBy(i => rank[i]).ToArray();
        var shardOrder = Shuffled(shards, rng);
        var result = new int[workers][];
        for (int w = 0; w < workers; w++)
        {
            var rows = new List<int>();
            for (int s = 0; s < classesPerWorker; s++)
            {
                int shard = shardOrder[w * classesPerWorker + s];
                rows.AddRange(sorted[(int)((long)labels.Count * shard / shards)..(int)((long)labels.Count * (shard + 1) / shards)]);
            }
            rows.Sort();
            result[w] = rows.ToArray();
        }
        return result;
    }

    private static int[][] Dirichlet(IReadOnlyList<int> labels, int workers, int seed, double alpha)
    {
        if (!(alpha > 0) || !double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "the Dirichlet concentration must be positive and finite.");
        var rng = new Random(seed);
        int classes = labels.Max() + 1;
        // Rows of each class, in a shuffled order, taken from the end.
        var pools = Enumerable.Range(0, classes).Select(_ => new List<int>()).ToArray();
        foreach (int i in Shuffled(labels.Count, rng)) pools[labels[i]].Add(i);
        var priors = new double[workers][];
        for (int w = 0; w < workers; w++)
        {
            var g = Enumerable.Range(0, classes).Select(_ => Gamma(alpha, rng)).ToArray();
            double sum = g.Sum();
            priors[w] = sum > 0 ? g.Select(v => v / sum).ToArray() : Enumerable.Repeat(1.0 / classes, classes).ToArray();
        }
        var room = Enumerable.Range(0, workers).Select(w => (int)((long)labels.Count * (w + 1) / workers - (long)labels.Count * w / workers)).ToArray();
        var shards = Enumerable.Range(0, workers).Select(_ => new List<int>()).ToArray();
        var open = Enumerable.Range(0, workers).ToList();
        while (open.Count > 0)
        {
            int slot = rng.Next(open.Count);
            int w = open[slot];
            double mass = 0;
            for (int c = 0; c < classes; c++) if (pools[c].Count > 0) mass += priors[w][c];
            int chosen = -1;
            if (mass > 0)
            {
                double u = rng.NextDouble() * mass, acc = 0;
                for (int c = 0; c < classes; c++)
                {
                    if (pools[c].Count == 0) continue;
                    acc += priors[w][c];
                    chosen = c;
                    if (u < acc) break;
                }
            }
            else
            {
                // The worker's classes are exhausted: take from the class with the most rows left.
                chosen = Enumerable.Range(0, classes).OrderByDescending(c => pools[c].Count).First();
            }
            var pool = pools[chosen];
            shards[w].Add(pool[^1]);
            pool.RemoveAt(pool.Count - 1);
            if (--room[w] == 0) open.RemoveAt(slot);
        }
        return shards.Select(s => s.OrderBy(i => i).ToArray()).ToArray();
    }

    private static int[] Shuffled(int count, Random rng)
    {
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    // Marsaglia & Tsang (2000); shape < 1 by the boost Gamma(a) = Gamma(a + 1)·U^(1/a).
    private static double Gamma(double shape, Random rng)
    {
        if (shape < 1) return Gamma(shape + 1, rng) * Math.Pow(rng.NextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = Normal(rng);
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = rng.NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x || Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }

    private static double Normal(Random rng)
    {
        double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
