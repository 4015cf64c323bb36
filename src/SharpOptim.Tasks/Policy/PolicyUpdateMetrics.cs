namespace SharpOptim.Tasks.Policy;

/// <summary>One optimizer step inside an RL step (see <see cref="PolicyRunSettings.Epochs"/> and
/// <see cref="PolicyRunSettings.MiniBatches"/>): its epoch and mini-batch (1-based), the rows (completions) of its
/// mini-batch, and the values of <see cref="PolicyStepMetrics.ClipFraction"/>, <see cref="PolicyStepMetrics.RatioDeviation"/>,
/// <see cref="PolicyStepMetrics.DiscoKl"/> measured on that mini-batch before the step; <see cref="DiscoPenaltyActive"/>
/// is whether DisCO's K exceeded δ (false for other methods).</summary>
public sealed record PolicyUpdateMetrics(int Epoch, int MiniBatch, IReadOnlyList<int> Rows, double ClipFraction, double RatioDeviation,
    double DiscoKl, bool DiscoPenaltyActive);
