namespace SharpOptim.Tasks.Policy;

/// <summary>What one RL step logs (brief §0.2). KL and entropy are means over completion tokens: <see cref="K3"/> is the
/// k3 estimate at the sampled tokens, <see cref="ExactKl"/> the exact Σ_v π_θ(v)(log π_θ(v) − log π_ref(v)) per position
/// (both before the step). <see cref="GreedyAccuracy"/> is NaN on steps without an evaluation. <see cref="MaskedFraction"/>
/// is the share of completion tokens CAPO's masks removed (NaN for the other methods). For the miniatures of
/// <see cref="NoisyAdditionVariant"/>: <see cref="LengthWrong"/> and <see cref="LengthRight"/> are the mean length (new
/// tokens, end token included) of the step's sampled completions with reward 0 and 1 (NaN when there are none);
/// <see cref="HardReward"/> is the mean sampled reward of the step's hard-subset prompts (NaN when the step drew none or
/// the task has no hard subset); <see cref="HardGreedyAccuracy"/> and <see cref="HardSampledAccuracy"/> are measured on
/// the held-out hard prompts at evaluation steps only (NaN otherwise).
/// <para>Update statistics (<see cref="PolicyRunSettings.Epochs"/> × <see cref="PolicyRunSettings.MiniBatches"/> optimizer
/// steps per rollout batch), means over the step's updates of each update's value (measured on its mini-batch just
/// before its optimizer step): <see cref="ClipFraction"/> the share of completion tokens where the ratio clip is active
/// (−A·clip(ρ) &gt; −A·ρ, verl's <c>pg_clipfrac</c>; NaN for methods without a ratio clip: REINFORCE, RLOO, ReMax,
/// DisCO), <see cref="RatioDeviation"/> the token mean of |ρ − 1| with ρ = π_θ/π_old, <see cref="DiscoKl"/> DisCO's KL
/// estimate K to π_old and <see cref="DiscoPenaltyActive"/> the share of updates with K &gt; δ (its penalty active; both
/// NaN for other methods). <see cref="Updates"/> holds the per-update values.</para></summary>
public sealed record PolicyStepMetrics(int Step, double Reward, double GreedyAccuracy, double K3, double ExactKl, double Entropy,
    double ZeroVarianceGroups, double Length, double Replaced, double TokensPerSecond, double Seconds, double MaskedFraction = double.NaN,
    double LengthWrong = double.NaN, double LengthRight = double.NaN, double HardReward = double.NaN,
    double HardGreedyAccuracy = double.NaN, double HardSampledAccuracy = double.NaN,
    double ClipFraction = double.NaN, double RatioDeviation = double.NaN, double DiscoKl = double.NaN, double DiscoPenaltyActive = double.NaN,
    IReadOnlyList<PolicyUpdateMetrics>? Updates = null);
