namespace SharpOptim.Tasks.Policy;

/// <summary>One RL run: its method and seed, every step's metrics, the greedy and sampled accuracy on the held-out
/// prompts before and after, and the wall time.</summary>
public sealed record PolicyRunResult(string Method, int Seed, IReadOnlyList<PolicyStepMetrics> Steps, double GreedyBefore, double GreedyAfter,
    double SampledBefore, double SampledAfter, double Seconds);
