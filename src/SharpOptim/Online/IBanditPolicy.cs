namespace SharpOptim.Online;

/// <summary>
/// A contextual-bandit policy: in each round it sees one context vector per arm, selects one arm, and then learns
/// from the reward of that arm only. Protocol per round: <see cref="SelectArm"/>, then <see cref="Update"/> with the
/// chosen arm's context and its reward. <see cref="Scores"/> exposes the values the selection maximizes (UCB
/// indices, predicted rewards, ...) without changing any state, for tests and plots.
/// Ties are broken by the lowest arm index (what NumPy's and PyTorch's argmax do).
/// Contexts are float64 arrays, one per arm, each of length <see cref="ContextDimension"/>; bad input (no arms, a
/// wrong number of arms, a context of the wrong length, a non-finite value, an arm out of range) is rejected with an
/// <see cref="ArgumentException"/> naming the value, before any state changes.
/// </summary>
public interface IBanditPolicy
{
    /// <summary>Number of arms K.</summary>
    int Arms { get; }

    /// <summary>Length of each arm's context vector.</summary>
    int ContextDimension { get; }

    /// <summary>The policy's per-arm scores for these contexts (no state changes; randomized policies return their
    /// deterministic part, e.g. the predicted rewards).</summary>
    double[] Scores(IReadOnlyList<double[]> contexts);

    /// <summary>Chooses an arm for this round's contexts.</summary>
    int SelectArm(IReadOnlyList<double[]> contexts);

    /// <summary>Learns from the reward of the arm played with this context.</summary>
    void Update(double[] context, int arm, double reward);
}
