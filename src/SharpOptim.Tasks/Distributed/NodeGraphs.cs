namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// Undirected graphs as edge lists for the event-driven runs (DADAO, SA-SRRW), which take edges rather than a mixing
/// matrix: the ring, the complete graph, a random geometric graph and a Watts–Strogatz small-world graph, all seeded
/// and connected.
/// </summary>
public static class NodeGraphs
{
    /// <summary>The names <see cref="Create"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "ring", "complete", "geometric", "small-world" };

    /// <summary>Graph <paramref name="name"/> on <paramref name="nodes"/> nodes (seeded where random).</summary>
    public static (int I, int J)[] Create(string name, int nodes, int seed) => name switch
    {
        "ring" => Ring(nodes),
        "complete" => Complete(nodes),
        "geometric" => RandomGeometric(nodes, seed),
        "small-world" => SmallWorld(nodes, 4, 0.2, seed),
        _ => throw new ArgumentException(FormattableString.Invariant($"unknown graph '{name}'; valid: {string.Join(", ", Names)}."), nameof(name)),
    };

    /// <summary>The cycle 0–1–…–(n−1)–0.</summary>
    public static (int I, int J)[] Ring(int nodes)
    {
        if (nodes < 3) throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "a ring needs at least 3 nodes.");
        return Enumerable.Range(0, nodes).Select(i => (Math.Min(i, (i + 1) % nodes), Math.Max(i, (i + 1) % nodes))).ToArray();
    }

    /// <summary>Every pair (i, j), i &lt; j.</summary>
    public static (int I, int J)[] Complete(int nodes)
    {
        if (nodes < 2) throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "at least two nodes are needed.");
        return Enumerable.Range(0, nodes).SelectMany(i => Enumerable.Range(i + 1, nodes - i - 1).Select(j => (i, j))).ToArray();
    }

    /// <summary>
    /// Random geometric graph: <paramref name="nodes"/> points uniform in the unit square (seeded), joined when closer than
    /// r; r starts at √(2 ln n / n)·0.75 and grows by 5% until the graph is connected (the smallest such radius on that grid).
    /// </summary>
    public static (int I, int J)[] RandomGeometric(int nodes, int seed)
    {
        if (nodes < 2) throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "at least two nodes are needed.");
        var random = new Random(seed);
        var points = Enumerable.Range(0, nodes).Select(_ => (X: random.NextDouble(), Y: random.NextDouble())).ToArray();
        for (double r = 0.75 * Math.Sqrt(2 * Math.Log(nodes) / nodes); ; r *= 1.05)
        {
            var edges = new List<(int, int)>();
            for (int i = 0; i < nodes; i++)
                for (int j = i + 1; j < nodes; j++)
                    if (Math.Pow(points[i].X - points[j].X, 2) + Math.Pow(points[i].Y - points[j].Y, 2) < r * r) edges.Add((i, j));
            if (IsConnected(nodes, edges)) return edges.ToArray();
        }
    }

    /// <summary>
    /// Watts–Strogatz: the ring lattice where each node joins its <paramref name="degree"/>/2 nearest neighbours on each
    /// side, each lattice edge (i, i+k) rewired with probability <paramref name="rewire"/> to (i, uniform non-neighbour);
    /// redrawn (next seed) until connected.
    /// </summary>
    public static (int I, int J)[] SmallWorld(int nodes, int degree, double rewire, int seed)
    {
        if (degree < 2 || degree % 2 != 0 || degree >= nodes) throw new ArgumentOutOfRangeException(nameof(degree), degree, "degree must be even, at least 2 and below the number of nodes.");
        if (!(rewire >= 0 && rewire <= 1)) throw new ArgumentOutOfRangeException(nameof(rewire), rewire, "the rewiring probability must lie in [0, 1].");
        for (int attempt = 0; ; attempt++)
        {
            var random = new Random(unchecked(seed * 7_919 + attempt));
            var set = new HashSet<(int, int)>();
            for (int k = 1; k <= degree / 2; k++)
                for (int i = 0; i < nodes; i++) set.Add(Key(i, (i + k) % nodes));
            for (int k = 1; k <= degree / 2; k++)
                for (int i = 0; i < nodes; i++)
                {
                    var edge = Key(i, (i + k) % nodes);
                    if (!set.Contains(edge) || random.NextDouble() >= rewire) continue;
                    var candidates = Enumerable.Range(0, nodes).Where(j => j != i && !set.Contains(Key(i, j))).ToArray();
                    if (candidates.Length == 0) continue;
                    set.Remove(edge);
                    set.Add(Key(i, candidates[random.Next(candidates.Length)]));
                }
            var edges = set.OrderBy(e => e.Item1).ThenBy(e => e.Item2).ToList();
            if (IsConnected(nodes, edges)) return edges.ToArray();
        }
    }

    /// <summary>True when every node is reachable from node 0.</summary>
    public static bool IsConnected(int nodes, IReadOnlyList<(int I, int J)> edges)
    {
        var adjacent = Enumerable.Range(0, nodes).Select(_ => new List<int>()).ToArray();
        foreach (var (i, j) in edges) { adjacent[i].Add(j); adjacent[j].Add(i); }
        var seen = new bool[nodes];
        var stack = new Stack<int>();
        stack.Push(0);
        seen[0] = true;
        int count = 1;
        while (stack.Count > 0)
            foreach (int j in adjacent[stack.Pop()])
                if (!seen[j]) { seen[j] = true; count++; stack.Push(j); }
        return count == nodes;
    }

    private static (int, int) Key(int i, int j) => (Math.Min(i, j), Math.Max(i, j));
}
