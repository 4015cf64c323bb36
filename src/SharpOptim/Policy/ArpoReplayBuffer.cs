namespace SharpOptim.Policy;

/// <summary>
/// ARPO's replay buffer: Fanbin Lu, Zhisheng Zhong, Shu Liu, Chi-Wing Fu, Jiaya Jia, "ARPO: End-to-End Policy
/// Optimization for GUI Agents with Experience Replay", arXiv 2505.16282; semantics of the official code
/// (dvlab-research/ARPO, <c>verl/trainer/replay_buffer.py</c> <c>ReplayBuffer</c> and <c>ray_trainer.py</c>
/// <c>apply_replay</c>).
/// <para>Per task (prompt) id, a FIFO of at most <see cref="Capacity"/> successful trajectories (success &gt;
/// <see cref="SuccessThreshold"/>). <see cref="Apply"/> on one rollout batch: for each group whose successes have
/// std &lt; 0.05 and mean &lt; 0.2 (all failed) and whose task has stored trajectories, the group's first rollout is
/// replaced by one stored trajectory drawn uniformly with replacement; the decision uses the buffer <i>before</i> this
/// batch is inserted; afterwards the batch's own successful trajectories (the sampled ones, not the replayed ones) are
/// appended, evicting the oldest beyond the capacity. The caller then recomputes ℓ^old for the mixed batch (replayed
/// trajectories enter with ρ = 1) and applies the GRPO loss with <see cref="GrpoOptions.Arpo"/>. The trigger uses the
/// success values only, not a reward with format bonus. The std is the unbiased one (torch's default); with all
/// successes equal it is 0 either way.</para>
/// </summary>
/// <typeparam name="T">A trajectory (e.g. the completion's token ids).</typeparam>
public sealed class ArpoReplayBuffer<T>
{
    private readonly Dictionary<long, Queue<(T Trajectory, double Success)>> _store = new();
    private readonly Random _random;

    /// <summary>Creates an empty buffer; <paramref name="random"/> draws the replayed trajectory (inject it for determinism).</summary>
    public ArpoReplayBuffer(Random random, int capacity = 8, double successThreshold = 0.1, double stdThreshold = 0.05, double meanThreshold = 0.2)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (capacity < 1) throw new ArgumentException($"capacity = {capacity}; it must be at least 1.", nameof(capacity));
        if (!double.IsFinite(successThreshold)) throw new ArgumentException($"successThreshold = {successThreshold} is not finite.", nameof(successThreshold));
        if (!(stdThreshold > 0) || double.IsInfinity(stdThreshold)) throw new ArgumentException($"stdThreshold = {stdThreshold}; it must be finite and positive.", nameof(stdThreshold));
        if (!double.IsFinite(meanThreshold)) throw new ArgumentException($"meanThreshold = {meanThreshold} is not finite.", nameof(meanThreshold));
        _random = random;
        Capacity = capacity;
        SuccessThreshold = successThreshold;
        StdThreshold = stdThreshold;
        MeanThreshold = meanThreshold;
    }

    /// <summary>Most trajectories kept per task (official 8).</summary>
    public int Capacity { get; }

    /// <summary>A trajectory is stored when its success exceeds this (official 0.1).</summary>
    public double SuccessThreshold { get; }

    /// <summary>A group counts as all-failed when its success std is below this (official 0.05) …</summary>
    public double StdThreshold { get; }

    /// <summary>… and its mean success below this (official 0.2).</summary>
    public double MeanThreshold { get; }

    /// <summary>The stored trajectories of <paramref name="task"/>, oldest first, with their success.</summary>
    public IReadOnlyList<(T Trajectory, double Success)> Stored(long task) =>
        _store.TryGetValue(task, out var q) ? q.ToArray() : Array.Empty<(T, double)>();

    /// <summary>Total stored trajectories.</summary>
    public int Count => _store.Values.Sum(q => q.Count);

    /// <summary>
    /// Applies replay to one batch of groups (see the class remarks), in place: <paramref name="trajectories"/>[g][0] and
    /// <paramref name="successes"/>[g][0] are overwritten in replaced groups. Returns, per group, whether its first
    /// rollout was replaced. Every group needs G ≥ 2 and finite successes; all checks run before anything changes.
    /// </summary>
    public bool[] Apply(IReadOnlyList<long> tasks, IReadOnlyList<T[]> trajectories, IReadOnlyList<double[]> successes)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(trajectories);
        ArgumentNullException.ThrowIfNull(successes);
        if (tasks.Count == 0) throw new ArgumentException("no groups (empty batch).", nameof(tasks));
        if (trajectories.Count != tasks.Count || successes.Count != tasks.Count)
            throw new ArgumentException(FormattableString.Invariant($"{tasks.Count} tasks, {trajectories.Count} trajectory groups and {successes.Count} success groups: they must match."), nameof(successes));
        for (int g = 0; g < tasks.Count; g++)
        {
            if (trajectories[g] is null || successes[g] is null || trajectories[g].Length != successes[g].Length)
                throw new ArgumentException(FormattableString.Invariant($"group {g}: trajectories and successes must have the same length."), nameof(successes));
            if (successes[g].Length < 2)
                throw new ArgumentException(FormattableString.Invariant($"group {g} (task {tasks[g]}) has {successes[g].Length} rollout(s); ARPO needs G ≥ 2."), nameof(successes));
            for (int i = 0; i < successes[g].Length; i++)
                if (!double.IsFinite(successes[g][i]))
                    throw new ArgumentException(FormattableString.Invariant($"successes[{g}][{i}] = {successes[g][i]} is not finite."), nameof(successes));
        }
        var sampled = new List<(long Task, T Trajectory, double Success)>();
        for (int g = 0; g < tasks.Count; g++)
            for (int i = 0; i < successes[g].Length; i++)
                if (successes[g][i] > SuccessThreshold) sampled.Add((tasks[g], trajectories[g][i], successes[g][i]));

        var replaced = new bool[tasks.Count];
        for (int g = 0; g < tasks.Count; g++)
        {
            var sg = successes[g];
            double mean = sg.Average();
            double std = Math.Sqrt(sg.Sum(v => (v - mean) * (v - mean)) / (sg.Length - 1));
            if (std < StdThreshold && mean < MeanThreshold && _store.TryGetValue(tasks[g], out var q) && q.Count > 0)
            {
                var pick = q.ElementAt(_random.Next(q.Count));
                trajectories[g][0] = pick.Trajectory;
                sg[0] = pick.Success;
                replaced[g] = true;
            }
        }
        foreach (var (task, trajectory, success) in sampled)
        {
            if (!_store.TryGetValue(task, out var q)) _store[task] = q = new Queue<(T, double)>();
            q.Enqueue((trajectory, success));
            while (q.Count > Capacity) q.Dequeue();
        }
        return replaced;
    }
}
