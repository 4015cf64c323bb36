using TorchSharp;

namespace SharpOptim.Distributed;

/// <summary>
/// The communication schedule of Zhu, Zhang, Wang, Zhou, Wang, "A Single Merging Suffices: Recovering Server-based
/// Learning Performance in Decentralized Learning", arXiv 2507.06542 (ICLR 2026 version: "On the Surprising
/// Effectiveness of a Single Global Merging in Decentralized Learning"), from the official code
/// (Raiden-Zhu/ICLR-2026-Grokking-in-Decentralized-Learning: <c>core/communication.py</c> <c>compute_r</c>,
/// <c>gossip_update</c>; <c>core/gossip_matrix.py</c>; <c>core/evaluation_runtime.py</c> <c>get_avg_model</c>) as
/// summarised in ../shared/papers/distributed.md §7. Not a new optimizer: D-SGD whose gossip budget is scheduled.
/// <para>Each node runs <c>LocalSteps</c> steps of its own optimizer (the paper: SGD), then one gossip round
/// <c>x_i ← Σ_j W_ij x_j</c> with the code's "random r" matrix: row i = i itself plus ⌊r⌋ distinct uniformly drawn
/// others plus one more with probability r − ⌊r⌋, uniform weights over the row's set (row-stochastic only: the average
/// drifts, kept for fidelity). r follows the <c>truncate</c> schedule: <c>r = RStart</c> while the progress
/// step/TotalSteps &lt; Point1, then <c>REnd</c> (figure 1: 0.2 until 99.7%, then N − 1). When TotalSteps is reached
/// the models are merged once: every node takes the exact average (one all-reduce).</para>
/// Deviations: only the <c>fixed</c> (Point1 = 1) and <c>truncate</c> schedules are implemented (the code's
/// <c>linear</c>, <c>cosine</c>, <c>slow_*</c> and <c>truncate_v2</c> are not); the matrices come from
/// <see cref="NoLoCoDeterministicStream"/> seeded by (Seed, round), shared by all ranks, instead of the code's global
/// RNG; BatchNorm statistics re-estimation after the merge is the caller's (models here have no BatchNorm);
/// <c>post_merge_rounds</c> is not implemented. Reported parameters: the worker's own model.
/// </summary>
public sealed class SingleMerging : IDistributedAlgorithm
{
    private readonly ICommunicator _communicator;
    private readonly WorkerProblem _problem;
    private readonly torch.optim.Optimizer _inner;
    private readonly SingleMergingOptions _options;
    private readonly float[] _x;
    private long _round;
    private int _step;

    /// <summary>Worker <paramref name="communicator"/>.Rank over <paramref name="problem"/>, whose local optimizer is <paramref name="inner"/>.</summary>
    public SingleMerging(ICommunicator communicator, WorkerProblem problem, torch.optim.Optimizer inner, SingleMergingOptions options)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        if (options.LocalSteps < 1) throw new ArgumentOutOfRangeException(nameof(options), options.LocalSteps, "LocalSteps must be at least 1.");
        if (options.TotalSteps < options.LocalSteps) throw new ArgumentOutOfRangeException(nameof(options), options.TotalSteps, "TotalSteps must be at least LocalSteps.");
        double rEnd = options.REnd ?? communicator.Size - 1;
        foreach (var (name, r) in new[] { ("RStart", options.RStart), ("REnd", rEnd) })
            if (!double.IsFinite(r) || r < 0 || r > communicator.Size - 1)
                throw new ArgumentOutOfRangeException(nameof(options), r, FormattableString.Invariant($"{name} must lie in [0, n − 1] = [0, {communicator.Size - 1}]."));
        if (!(options.Point1 >= 0 && options.Point1 <= 1)) throw new ArgumentOutOfRangeException(nameof(options), options.Point1, "Point1 must lie in [0, 1].");
        _communicator = communicator;
        _problem = problem;
        _inner = inner;
        _options = options;
        _x = new float[problem.Length];
    }

    /// <inheritdoc/>
    public string Name => "single-merging";

    /// <summary>True once the global merge has been done.</summary>
    public bool Merged { get; private set; }

    /// <summary>Extra neighbours r at progress <paramref name="progress"/> (the <c>truncate</c> schedule).</summary>
    public double ExtraNeighbours(double progress) => progress < _options.Point1 ? _options.RStart : _options.REnd ?? _communicator.Size - 1;

    /// <summary>
    /// The code's "random r" gossip matrix of round <paramref name="round"/>: row i lists i and its drawn neighbours
    /// (ascending), each weighted 1/|row|. The same on every rank.
    /// </summary>
    public static int[][] RandomRows(long seed, long round, int n, double r)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, "at least one node is needed.");
        if (!double.IsFinite(r) || r < 0 || r > n - 1) throw new ArgumentOutOfRangeException(nameof(r), r, FormattableString.Invariant($"r must lie in [0, {n - 1}]."));
        var stream = new NoLoCoDeterministicStream(seed, round);
        var rows = new int[n][];
        int whole = (int)Math.Floor(r);
        double fraction = r - whole;
        for (int i = 0; i < n; i++)
        {
            int extra = whole + (stream.NextUniform() < fraction ? 1 : 0);
            var others = Enumerable.Range(0, n).Where(j => j != i).ToArray();
            // Partial Fisher–Yates: the first `extra` entries become a uniform sample without replacement.
            for (int k = 0; k < extra; k++)
            {
                int pick = k + (int)(stream.NextBits() % (ulong)(others.Length - k));
                (others[k], others[pick]) = (others[pick], others[k]);
            }
            rows[i] = others.Take(extra).Append(i).OrderBy(j => j).ToArray();
        }
        return rows;
    }

    /// <inheritdoc/>
    public int Round()
    {
        if (Merged) throw new InvalidOperationException(FormattableString.Invariant($"the run is over: the global merge happened at step {_options.TotalSteps}."));
        int steps = Math.Min(_options.LocalSteps, _options.TotalSteps - _step);
        for (int h = 0; h < steps; h++)
        {
            using var scope = torch.NewDisposeScope();
            _inner.zero_grad();
            _problem.NextLoss().backward();
            _inner.step();
        }
        _step += steps;
        if (_step >= _options.TotalSteps && _options.FinalMerge)
        {
            _options.BeforeFinalMerge?.Invoke();
            Merge();
        }
        else Gossip(ExtraNeighbours((double)_step / _options.TotalSteps));
        _round++;
        return steps;
    }

    private void Gossip(double r)
    {
        int n = _communicator.Size, rank = _communicator.Rank, d = _problem.Length;
        var rows = RandomRows(_options.Seed, _round, n, r);
        var inNeighbours = rows[rank].Where(j => j != rank).ToArray();
        var outNeighbours = Enumerable.Range(0, n).Where(j => j != rank && rows[j].Contains(rank)).ToArray();
        _problem.CopyParametersTo(_x);
        var received = new float[inNeighbours.Length * d];
        _communicator.NeighbourExchange(_x, outNeighbours, inNeighbours, received, tag: 16_700);
        double weight = 1.0 / rows[rank].Length;
        var mixed = new float[d];
        for (int k = 0; k < d; k++)
        {
            double sum = 0;
            foreach (int j in rows[rank]) sum += j == rank ? _x[k] : received[Array.IndexOf(inNeighbours, j) * d + k];
            mixed[k] = (float)(sum * weight);
        }
        _problem.SetParameters(mixed);
    }

    private void Merge()
    {
        _problem.CopyParametersTo(_x);
        _communicator.AllReduceSum(_x);
        double inverseN = 1.0 / _communicator.Size;
        for (int k = 0; k < _x.Length; k++) _x[k] = (float)(_x[k] * inverseN);
        _problem.SetParameters(_x);
        Merged = true;
    }

    /// <inheritdoc/>
    public void CopyReportedParametersTo(Span<float> into) => _problem.CopyParametersTo(into);
}
