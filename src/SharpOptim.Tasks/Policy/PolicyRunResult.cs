namespace SharpOptim.Tasks.Policy;

/// <summary>One RL run: its method and seed, every step's metrics, the greedy and sampled accuracy on the held-out
/// prompts before and after, and the wall time; with a hard subset also the greedy and sampled accuracy on the held-out
/// hard prompts before the run (NaN without one; the values after are the last step's).</summary>
public sealed record PolicyRunResult(string Method, int Seed, IReadOnlyList<PolicyStepMetrics> Steps, double GreedyBefore, double GreedyAfter,
    double SampledBefore, double SampledAfter, double Seconds, double HardGreedyBefore = double.NaN, double HardSampledBefore = double.NaN);
