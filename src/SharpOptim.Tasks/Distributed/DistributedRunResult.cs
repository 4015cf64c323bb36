namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// A finished distributed run as rank 0 records it: the configuration, the curve of <see cref="DistributedRunPoint"/>s
/// (the last is the final state), per-worker communication totals (messages and global synchronisations of the
/// algorithm, wall time blocked in communication on rank 0) and whether it diverged (a non-finite loss stops the run).
/// </summary>
public sealed record DistributedRunResult(string Algorithm, string Task, int Workers, string Topology, string Partition, double Alpha,
    int Seed, int Rounds, int Batch, IReadOnlyDictionary<string, double> Hyperparameters, IReadOnlyList<DistributedRunPoint> Curve,
    long Messages, long GlobalSyncs, double BlockedSeconds, double Seconds, bool Diverged)
{
    /// <summary>The final evaluation.</summary>
    public DistributedRunPoint Final => Curve[^1];
}
