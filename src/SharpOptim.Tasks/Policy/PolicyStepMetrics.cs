namespace SharpOptim.Tasks.Policy;

/// <summary>What one RL step logs (brief §0.2). KL and entropy are means over completion tokens: <see cref="K3"/> is the
/// k3 estimate at the sampled tokens, <see cref="ExactKl"/> the exact Σ_v π_θ(v)(log π_θ(v) − log π_ref(v)) per position
/// (both before the step). <see cref="GreedyAccuracy"/> is NaN on steps without an evaluation. <see cref="MaskedFraction"/>
/// is the share of completion tokens CAPO's masks removed (NaN for the other methods).</summary>
public sealed record PolicyStepMetrics(int Step, double Reward, double GreedyAccuracy, double K3, double ExactKl, double Entropy,
    double ZeroVarianceGroups, double Length, double Replaced, double TokensPerSecond, double Seconds, double MaskedFraction = double.NaN);
