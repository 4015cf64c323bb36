namespace SharpOptim.Tasks.Bandits;

/// <summary>
/// Lloyd's k-means with k-means++ seeding (seeded), in float64, and the soft cluster assignment that Diag-LinUCB uses
/// as its context: w = softmax over the k nearest centroids of −‖x − μ_c‖²/τ, zero elsewhere (the Online Matching
/// write-ups' form; k = 5 and τ = 0.3 there, not confirmed as the paper's values).
/// </summary>
public sealed class KMeans
{
    private KMeans(double[][] centroids) => Centroids = centroids;

    /// <summary>The centroids.</summary>
    public double[][] Centroids { get; }

    /// <summary>Fits <paramref name="clusters"/> centroids to <paramref name="rows"/> with at most
    /// <paramref name="iterations"/> Lloyd iterations.</summary>
    public static KMeans Fit(IReadOnlyList<double[]> rows, int clusters, int seed, int iterations = 50)
    {
        if (clusters < 1 || clusters > rows.Count)
            throw new ArgumentException(FormattableString.Invariant($"clusters must be in 1..{rows.Count}, got {clusters}."), nameof(clusters));
        var rng = new Random(seed);
        int d = rows[0].Length;
        var centroids = new List<double[]> { (double[])rows[rng.Next(rows.Count)].Clone() };
        var dist = rows.Select(r => Distance2(r, centroids[0])).ToArray();
        while (centroids.Count < clusters)
        {
            double total = dist.Sum(), u = rng.NextDouble() * total, c = 0;
            int pick = rows.Count - 1;
            for (int i = 0; i < rows.Count; i++) { c += dist[i]; if (u < c) { pick = i; break; } }
            centroids.Add((double[])rows[pick].Clone());
            for (int i = 0; i < rows.Count; i++) dist[i] = Math.Min(dist[i], Distance2(rows[i], centroids[^1]));
        }
        var assign = new int[rows.Count];
        for (int it = 0; it < iterations; it++)
        {
            bool changed = it == 0;
            for (int i = 0; i < rows.Count; i++)
            {
                int best = 0;
                double bd = double.PositiveInfinity;
                for (int k = 0; k < clusters; k++)
                {
                    double dd = Distance2(rows[i], centroids[k]);
                    if (dd < bd) { bd = dd; best = k; }
                }
                if (assign[i] != best) { assign[i] = best; changed = true; }
            }
            if (!changed) break;
            var sums = new double[clusters][];
            var counts = new int[clusters];
            for (int k = 0; k < clusters; k++) sums[k] = new double[d];
            for (int i = 0; i < rows.Count; i++)
            {
                counts[assign[i]]++;
                for (int j = 0; j < d; j++) sums[assign[i]][j] += rows[i][j];
            }
            for (int k = 0; k < clusters; k++)
                if (counts[k] > 0)
                    for (int j = 0; j < d; j++) centroids[k][j] = sums[k][j] / counts[k];
        }
        return new KMeans(centroids.ToArray());
    }

    /// <summary>w = softmax of −‖x − μ_c‖²/τ over the <paramref name="nearest"/> nearest centroids, zero elsewhere.</summary>
    public double[] SoftAssignment(double[] x, int nearest, double temperature)
    {
        int c = Centroids.Length;
        var d2 = Centroids.Select(m => Distance2(x, m)).ToArray();
        var order = Enumerable.Range(0, c).OrderBy(k => d2[k]).ThenBy(k => k).Take(Math.Min(nearest, c)).ToArray();
        double min = d2[order[0]];
        var w = new double[c];
        double z = 0;
        foreach (int k in order) { w[k] = Math.Exp(-(d2[k] - min) / temperature); z += w[k]; }
        foreach (int k in order) w[k] /= z;
        return w;
    }

    private static double Distance2(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) { double t = a[i] - b[i]; s += t * t; }
        return s;
    }
}
