using System.Globalization;

namespace SharpOptim.Distributed;

/// <summary>
/// A communication graph of n workers with its gossip weights (../shared/papers/distributed.md §1.1), static or changing
/// with the round: ring (W_ii = W_i,i±1 = 1/3), r×c torus (1/5 for self and each of 4 neighbours), static exponential
/// graph (Ying et al., "Exponential Graph is Provably Efficient for Decentralized Deep Training", arXiv 2110.13363:
/// i sends to i + 2^k mod n, k = 0…⌊log₂(n−1)⌋, uniform weights including self; directed, doubly stochastic, not
/// symmetric), one-peer exponential (round t: only the peer i + 2^(t mod τ), τ = ⌈log₂ n⌉, weights 1/2, 1/2), fully
/// connected (W = 11ᵀ/n, exact averaging), Metropolis–Hastings over any undirected graph
/// (W_ij = 1/(1 + max(d_i, d_j)), W_ii = 1 − Σ_j W_ij) and random pairing (a uniformly random perfect matching each
/// round, drawn from (seed, round) so every rank draws the same one; with odd n one worker sits the round out).
/// Every built-in topology is doubly stochastic; <see cref="FromMatrix"/> accepts a user's matrix and, unless told
/// otherwise, rejects one that is not.
/// </summary>
public sealed class Topology
{
    private readonly Func<int, MixingMatrix> _matrixAt;
    private readonly MixingMatrix? _static;
    private readonly Dictionary<int, MixingMatrix> _cache = new();

    private Topology(string name, int size, MixingMatrix? fixedMatrix, Func<int, MixingMatrix>? matrixAt)
    {
        Name = name;
        Size = size;
        _static = fixedMatrix;
        _matrixAt = matrixAt ?? (_ => fixedMatrix!);
    }

    /// <summary>Names accepted by <see cref="Create"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "ring", "torus", "exponential", "one-peer-exponential", "fully-connected", "random-pairing" };

    /// <summary>Short name, e.g. "ring".</summary>
    public string Name { get; }

    /// <summary>Number of workers n.</summary>
    public int Size { get; }

    /// <summary>True when the matrix changes with the round (one-peer exponential, random pairing).</summary>
    public bool IsTimeVarying => _static is null;

    /// <summary>W at round <paramref name="round"/> (the same matrix every round for a static topology).</summary>
    public MixingMatrix Matrix(int round = 0)
    {
        if (round < 0) throw new ArgumentOutOfRangeException(nameof(round), round, "round must not be negative.");
        if (_static is not null) return _static;
        lock (_cache)
        {
            if (!_cache.TryGetValue(round, out var m))
            {
                if (_cache.Count > 64) _cache.Clear();
                _cache[round] = m = _matrixAt(round);
            }
            return m;
        }
    }

    /// <summary>Worker <paramref name="rank"/>'s in- and out-neighbours with their weights at round <paramref name="round"/>.</summary>
    public GossipNeighbours Neighbours(int rank, int round = 0)
    {
        if (rank < 0 || rank >= Size) throw new ArgumentOutOfRangeException(nameof(rank), rank, Inv($"rank must lie in [0, {Size})."));
        var w = Matrix(round);
        var inRanks = new List<int>();
        var inWeights = new List<double>();
        var outRanks = new List<int>();
        for (int j = 0; j < Size; j++)
        {
            if (j == rank) continue;
            if (w[rank, j] > 0) { inRanks.Add(j); inWeights.Add(w[rank, j]); }
            if (w[j, rank] > 0) outRanks.Add(j);
        }
        return new GossipNeighbours(w[rank, rank], inRanks, inWeights, outRanks);
    }

    /// <summary>True when W is doubly stochastic at every round (checked on the first <paramref name="rounds"/> rounds of a time-varying topology).</summary>
    public bool IsDoublyStochastic(int rounds = 16) => Enumerable.Range(0, IsTimeVarying ? rounds : 1).All(t => Matrix(t).IsDoublyStochastic);

    /// <summary>Spectral gap 1 − ‖W − 11ᵀ/n‖₂ of the round-0 matrix (see <see cref="MixingMatrix.Rho"/>).</summary>
    public double SpectralGap => Matrix(0).SpectralGap;

    /// <summary>
    /// A topology by name: ring, torus (the most square r×c = n with r, c ≥ 3), exponential, one-peer-exponential,
    /// fully-connected, random-pairing (seeded by <paramref name="seed"/>).
    /// </summary>
    public static Topology Create(string name, int size, int seed = 0) => name switch
    {
        "ring" => Ring(size),
        "torus" => Torus(size),
        "exponential" => Exponential(size),
        "one-peer-exponential" => OnePeerExponential(size),
        "fully-connected" or "complete" => FullyConnected(size),
        "random-pairing" => RandomPairing(size, seed),
        _ => throw new ArgumentException(Inv($"unknown topology '{name}'; valid: {string.Join(", ", Names)}."), nameof(name)),
    };

    /// <summary>Ring: i talks to i ± 1 mod n, weights 1/3 (n ≥ 3). The Prox-DASA repository's ring_8.dat is this matrix.</summary>
    public static Topology Ring(int size)
    {
        if (size < 3) throw new ArgumentOutOfRangeException(nameof(size), size, "a ring needs at least 3 workers (use fully-connected for 1 or 2).");
        var w = new double[size, size];
        for (int i = 0; i < size; i++)
        {
            w[i, i] += 1.0 / 3;
            w[i, (i + 1) % size] += 1.0 / 3;
            w[i, (i + size - 1) % size] += 1.0 / 3;
        }
        return new Topology("ring", size, new MixingMatrix(w), null);
    }

    /// <summary>Torus with the most square factorisation n = r·c, r, c ≥ 3.</summary>
    public static Topology Torus(int size)
    {
        for (int r = (int)Math.Sqrt(size); r >= 3; r--)
            if (size % r == 0 && size / r >= 3) return Torus(r, size / r);
        throw new ArgumentOutOfRangeException(nameof(size), size, "a torus needs n = r·c with r, c ≥ 3 (e.g. 9, 12, 16).");
    }

    /// <summary>r×c torus with wrap-around: self and the 4 neighbours weigh 1/5 each.</summary>
    public static Topology Torus(int rows, int columns)
    {
        if (rows < 3) throw new ArgumentOutOfRangeException(nameof(rows), rows, "a torus needs at least 3 rows.");
        if (columns < 3) throw new ArgumentOutOfRangeException(nameof(columns), columns, "a torus needs at least 3 columns.");
        int n = rows * columns;
        var w = new double[n, n];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
            {
                int i = r * columns + c;
                w[i, i] += 0.2;
                w[i, ((r + 1) % rows) * columns + c] += 0.2;
                w[i, ((r + rows - 1) % rows) * columns + c] += 0.2;
                w[i, r * columns + (c + 1) % columns] += 0.2;
                w[i, r * columns + (c + columns - 1) % columns] += 0.2;
            }
        return new Topology(Inv($"torus-{rows}x{columns}"), n, new MixingMatrix(w), null);
    }

    /// <summary>Static exponential graph: i receives from i − 2^k mod n (sends to i + 2^k), k = 0…⌊log₂(n−1)⌋, uniform weights incl. self.</summary>
    public static Topology Exponential(int size)
    {
        RequirePositive(size);
        var w = new double[size, size];
        if (size == 1) w[0, 0] = 1;
        else
        {
            int kMax = (int)Math.Floor(Math.Log2(size - 1));
            double weight = 1.0 / (kMax + 2);
            for (int i = 0; i < size; i++)
            {
                w[i, i] += weight;
                for (int k = 0; k <= kMax; k++) w[(i + (1 << k)) % size, i] += weight;
            }
        }
        return new Topology("exponential", size, new MixingMatrix(w), null);
    }

    /// <summary>One-peer exponential graph: at round t worker i sends to i + 2^(t mod τ) and receives from i − 2^(t mod τ), τ = ⌈log₂ n⌉; weights 1/2, 1/2.</summary>
    public static Topology OnePeerExponential(int size)
    {
        RequirePositive(size);
        if (size == 1) return FullyConnected(1);
        int tau = Math.Max(1, (int)Math.Ceiling(Math.Log2(size)));
        return new Topology("one-peer-exponential", size, null, t =>
        {
            int hop = 1 << (t % tau);
            var w = new double[size, size];
            for (int i = 0; i < size; i++)
            {
                w[i, i] += 0.5;
                w[(i + hop) % size, i] += 0.5;
            }
            return new MixingMatrix(w);
        });
    }

    /// <summary>Fully connected: W = 11ᵀ/n, one gossip round is exact averaging.</summary>
    public static Topology FullyConnected(int size)
    {
        RequirePositive(size);
        var w = new double[size, size];
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++) w[i, j] = 1.0 / size;
        return new Topology("fully-connected", size, new MixingMatrix(w), null);
    }

    /// <summary>Metropolis–Hastings weights over an undirected graph given by its symmetric adjacency (no self loops needed).</summary>
    public static Topology MetropolisHastings(bool[,] adjacency)
    {
        ArgumentNullException.ThrowIfNull(adjacency);
        int n = adjacency.GetLength(0);
        if (n < 1 || adjacency.GetLength(1) != n) throw new ArgumentException(Inv($"the adjacency must be square and non-empty; got {adjacency.GetLength(0)}×{adjacency.GetLength(1)}."), nameof(adjacency));
        var degree = new int[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (adjacency[i, j] != adjacency[j, i])
                    throw new ArgumentException(Inv($"Metropolis–Hastings needs an undirected graph, but adjacency[{i},{j}] ≠ adjacency[{j},{i}]."), nameof(adjacency));
                if (i != j && adjacency[i, j]) degree[i]++;
            }
        var w = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            double off = 0;
            for (int j = 0; j < n; j++)
                if (i != j && adjacency[i, j])
                {
                    w[i, j] = 1.0 / (1 + Math.Max(degree[i], degree[j]));
                    off += w[i, j];
                }
            w[i, i] = 1 - off;
        }
        return new Topology("metropolis-hastings", n, new MixingMatrix(w), null);
    }

    /// <summary>Random pairing: each round a uniformly random perfect matching (Fisher–Yates from (seed, round)); pairs average with 1/2, 1/2.</summary>
    public static Topology RandomPairing(int size, int seed)
    {
        RequirePositive(size);
        return new Topology("random-pairing", size, null, t =>
        {
            var order = Enumerable.Range(0, size).ToArray();
            var rng = new Random(unchecked(seed * 1_000_003 + t));
            for (int i = size - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            var w = new double[size, size];
            for (int i = 0; i < size; i++) w[i, i] = 1;
            for (int p = 0; p + 1 < size; p += 2)
            {
                int a = order[p], b = order[p + 1];
                w[a, a] = w[b, b] = w[a, b] = w[b, a] = 0.5;
            }
            return new MixingMatrix(w);
        });
    }

    /// <summary>
    /// A static topology from a user's matrix. Unless <paramref name="requireDoublyStochastic"/> is false, a matrix whose
    /// rows or columns do not sum to 1 is rejected with an <see cref="ArgumentException"/> naming the row or column.
    /// </summary>
    public static Topology FromMatrix(double[,] weights, bool requireDoublyStochastic = true, string name = "custom")
    {
        var m = new MixingMatrix(weights);
        if (requireDoublyStochastic) m.RequireDoublyStochastic(nameof(weights), "Topology.FromMatrix");
        else if (!m.IsRowStochastic) throw new ArgumentException("a mixing matrix must at least be row-stochastic (every row sums to 1).", nameof(weights));
        return new Topology(name, m.Size, m, null);
    }

    /// <summary>Throws an <see cref="ArgumentException"/> unless every round's W is doubly stochastic (checked on the first 16 rounds when it varies).</summary>
    public void RequireDoublyStochastic(string parameter, string who)
    {
        for (int t = 0; t < (IsTimeVarying ? 16 : 1); t++) Matrix(t).RequireDoublyStochastic(parameter, Inv($"{who} (topology {Name}, round {t})"));
    }

    private static void RequirePositive(int size)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "a topology needs at least one worker.");
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
