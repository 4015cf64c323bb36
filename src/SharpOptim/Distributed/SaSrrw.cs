namespace SharpOptim.Distributed;

/// <summary>
/// SA-SRRW — RECONSTRUCTION. Stochastic approximation driven by a self-repellent random walk, after Hu, Doshi, Eun,
/// "Accelerating Distributed Stochastic Optimization via Self-Repellent Random Walks", ICLR 2024, arXiv 2401.09665,
/// and Doshi, Hu, Eun, "Self-Repellent Random Walks on General Graphs – Achieving Minimal Sampling Variance via
/// Nonlinear Markov Chains", ICML 2023, arXiv 2305.05097. No official code was found and the paper's algorithm box was
/// not read: the update below is the brief's reconstruction (../shared/papers/distributed.md §6) from the abstracts and
/// the SRRW kernel form stated by the ICML 2023 paper; the step order, the regime and the exponents are unverified.
/// <para>A token carrying θ ∈ R^d and the visit measure x ∈ Δ_N (start uniform) walks over the graph. Base chain P:
/// Metropolis–Hastings, <c>P_ij = min(1/d_i, 1/d_j)</c> on edges, the rest on P_ii (stationary μ uniform). Kernel
/// <c>K_ij[x] = P_ij (x_j/μ_j)^−α / Σ_k P_ik (x_k/μ_k)^−α</c>, computed in log space with log-sum-exp. Step n:
/// draw X_{n+1} ~ K_{X_n,·}[x_n]; <c>x_{n+1} = x_n + γ_{n+1}(e_{X_{n+1}} − x_n)</c>;
/// <c>θ_{n+1} = θ_n − β_{n+1} ∇f_{X_{n+1}}(θ_n)</c> (μ uniform, so no importance weight), with
/// <c>γ_n = (n+1)^−a</c>, <c>β_n = s·(n+1)^−b</c>. Defaults a = 0.8 &lt; b = 0.9 (the brief's reading of the regime in
/// which the covariance shrinks as O(1/α²)).</para>
/// Simulator-only (a token algorithm: one agent works at a time); each move sends θ and x (d + N floats) to one agent.
/// </summary>
public sealed class SaSrrw
{
    private readonly int _nodes;
    private readonly double[,] _baseChain;
    private readonly int[][] _support;
    private readonly Action<int, double[], double[]> _gradient;
    private readonly SaSrrwOptions _options;
    private readonly Random _random;
    private readonly double[] _theta;
    private readonly double[] _measure;
    private readonly double[] _g;

    /// <summary>A walk over the undirected <paramref name="edges"/> of <paramref name="nodes"/> agents; <paramref name="gradient"/>(i, θ, into) writes ∇f_i(θ).</summary>
    public SaSrrw(int nodes, IReadOnlyList<(int I, int J)> edges, double[] initial, Action<int, double[], double[]> gradient, SaSrrwOptions options)
    {
        ArgumentNullException.ThrowIfNull(edges);
        ArgumentNullException.ThrowIfNull(initial);
        ArgumentNullException.ThrowIfNull(gradient);
        ArgumentNullException.ThrowIfNull(options);
        if (nodes < 2) throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "a walk needs at least two agents.");
        if (!double.IsFinite(options.Repellence) || options.Repellence < 0) throw new ArgumentOutOfRangeException(nameof(options), options.Repellence, "Repellence must be non-negative and finite.");
        if (!(options.MeasureExponent > 0.5 && options.MeasureExponent <= 1)) throw new ArgumentOutOfRangeException(nameof(options), options.MeasureExponent, "MeasureExponent a must lie in (0.5, 1].");
        if (!(options.StepExponent > 0.5 && options.StepExponent <= 1)) throw new ArgumentOutOfRangeException(nameof(options), options.StepExponent, "StepExponent b must lie in (0.5, 1].");
        if (!double.IsFinite(options.StepScale) || options.StepScale <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.StepScale, "StepScale must be positive and finite.");
        if (options.StartNode < 0 || options.StartNode >= nodes) throw new ArgumentOutOfRangeException(nameof(options), options.StartNode, FormattableString.Invariant($"StartNode must lie in [0, {nodes})."));
        _baseChain = MetropolisHastings(nodes, edges);
        _nodes = nodes;
        _support = Enumerable.Range(0, nodes).Select(i => Enumerable.Range(0, nodes).Where(j => _baseChain[i, j] > 0).ToArray()).ToArray();
        _gradient = gradient;
        _options = options;
        _random = new Random(options.Seed);
        _theta = (double[])initial.Clone();
        _measure = Enumerable.Repeat(1.0 / nodes, nodes).ToArray();
        _g = new double[initial.Length];
        Position = options.StartNode;
    }

    /// <summary>The agent holding the token.</summary>
    public int Position { get; private set; }

    /// <summary>Steps taken.</summary>
    public long Steps { get; private set; }

    /// <summary>The token's parameters θ.</summary>
    public IReadOnlyList<double> Theta => _theta;

    /// <summary>The token's visit measure x (sums to 1, all entries positive).</summary>
    public IReadOnlyList<double> VisitMeasure => _measure;

    /// <summary>The base chain P (Metropolis–Hastings weights on the graph).</summary>
    public double[,] BaseChain => (double[,])_baseChain.Clone();

    /// <summary>Row <paramref name="from"/> of the self-repellent kernel K[x] at the current visit measure.</summary>
    public double[] KernelRow(int from)
    {
        if (from < 0 || from >= _nodes) throw new ArgumentOutOfRangeException(nameof(from), from, FormattableString.Invariant($"from must lie in [0, {_nodes})."));
        var row = new double[_nodes];
        var support = _support[from];
        var logits = support.Select(j => Math.Log(_baseChain[from, j]) - _options.Repellence * (Math.Log(_measure[j]) - Math.Log(1.0 / _nodes))).ToArray();
        double max = logits.Max();
        double sum = logits.Sum(l => Math.Exp(l - max));
        for (int k = 0; k < support.Length; k++) row[support[k]] = Math.Exp(logits[k] - max) / sum;
        return row;
    }

    /// <summary>Moves the token once and updates the visit measure and θ.</summary>
    public void Step()
    {
        var row = KernelRow(Position);
        double u = _random.NextDouble(), cumulative = 0;
        int next = _support[Position][^1];
        foreach (int j in _support[Position])
        {
            cumulative += row[j];
            if (u < cumulative) { next = j; break; }
        }
        long n = Steps + 1; // step index n + 1 of the update formulas
        double gamma = Math.Pow(n + 1, -_options.MeasureExponent);
        double beta = _options.StepScale * Math.Pow(n + 1, -_options.StepExponent);
        for (int i = 0; i < _nodes; i++) _measure[i] += gamma * ((i == next ? 1 : 0) - _measure[i]);
        _gradient(next, _theta, _g);
        for (int k = 0; k < _theta.Length; k++) _theta[k] -= beta * _g[k];
        Position = next;
        Steps++;
    }

    /// <summary>Metropolis–Hastings weights of an undirected connected graph: P_ij = min(1/d_i, 1/d_j) on edges, the rest on the diagonal.</summary>
    public static double[,] MetropolisHastings(int nodes, IReadOnlyList<(int I, int J)> edges)
    {
        ArgumentNullException.ThrowIfNull(edges);
        var degree = new int[nodes];
        var adjacent = new bool[nodes, nodes];
        foreach (var (i, j) in edges)
        {
            if (i < 0 || j < 0 || i >= nodes || j >= nodes || i == j)
                throw new ArgumentException(FormattableString.Invariant($"edge ({i}, {j}) is not a pair of distinct nodes in [0, {nodes})."), nameof(edges));
            if (adjacent[i, j]) continue;
            adjacent[i, j] = adjacent[j, i] = true;
            degree[i]++; degree[j]++;
        }
        if (degree.Any(d => d == 0)) throw new ArgumentException("every agent needs at least one edge.", nameof(edges));
        var p = new double[nodes, nodes];
        for (int i = 0; i < nodes; i++)
        {
            double rest = 1;
            for (int j = 0; j < nodes; j++)
                if (adjacent[i, j]) { p[i, j] = Math.Min(1.0 / degree[i], 1.0 / degree[j]); rest -= p[i, j]; }
            p[i, i] = Math.Max(0, rest);
        }
        return p;
    }
}
