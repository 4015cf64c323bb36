namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// One evaluation of a distributed run: after <see cref="Round"/> rounds, the mean over workers of local gradient
/// evaluations and of bytes the algorithm sent (evaluation traffic excluded), the consensus error
/// Ξ = (1/n) Σ_i ‖x_i − x̄‖² of the reported models, the wall time so far, and the task's metrics of x̄.
/// </summary>
public sealed record DistributedRunPoint(int Round, double GradientEvaluations, double BytesSent, double ConsensusError,
    double Seconds, IReadOnlyDictionary<string, double> Metrics);
