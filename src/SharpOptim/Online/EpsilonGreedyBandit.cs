namespace SharpOptim.Online;

/// <summary>
/// ε-greedy exploration around any policy (Sutton &amp; Barto, "Reinforcement Learning: An Introduction", 2nd ed.,
/// §2.2; for contextual bandits the baseline of Langford &amp; Zhang, "The Epoch-Greedy Algorithm for Contextual
/// Multi-armed Bandits", NIPS 2007): each round, with probability ε play an arm drawn uniformly at random, otherwise
/// the arm the wrapped policy selects; every observed reward goes to the wrapped policy. With the greedy ridge
/// regression (<see cref="LinUcb"/> with α = 0) inside, this is the ε-greedy linear baseline of the
/// <c>sharpoptim bandit</c> comparison.
/// <para>
/// Randomness: one uniform number u per round decides (u &lt; ε explores); an exploring round draws a second uniform
/// number v and plays ⌊vK⌋ (clamped to K − 1). Constant ε (no decaying schedule): its regret grows like ε(1 − 1/K)T
/// on top of the greedy learner's, the price the other policies' exploration is measured against.
/// </para>
/// </summary>
public sealed class EpsilonGreedyBandit : IBanditPolicy
{
    private readonly IBanditPolicy _exploit;
    private readonly Func<double> _uniform;

    /// <summary>Wraps <paramref name="exploit"/>; <paramref name="epsilon"/> in [0, 1]; <paramref name="uniform"/>
    /// returns numbers in [0, 1).</summary>
    public EpsilonGreedyBandit(IBanditPolicy exploit, double epsilon, Func<double> uniform)
    {
        ArgumentNullException.ThrowIfNull(exploit);
        ArgumentNullException.ThrowIfNull(uniform);
        if (!(epsilon >= 0 && epsilon <= 1))
            throw new ArgumentException(FormattableString.Invariant($"Invalid epsilon: {epsilon} (must be in [0, 1])."), nameof(epsilon));
        _exploit = exploit;
        _uniform = uniform;
        Epsilon = epsilon;
    }

    /// <summary>The exploration probability ε.</summary>
    public double Epsilon { get; }

    /// <summary>Rounds that explored so far.</summary>
    public long ExploredRounds { get; private set; }

    /// <inheritdoc/>
    public int Arms => _exploit.Arms;

    /// <inheritdoc/>
    public int ContextDimension => _exploit.ContextDimension;

    /// <summary>The wrapped policy's scores (the deterministic part).</summary>
    public double[] Scores(IReadOnlyList<double[]> contexts) => _exploit.Scores(contexts);

    /// <inheritdoc/>
    public int SelectArm(IReadOnlyList<double[]> contexts)
    {
        BanditInput.CheckContexts(contexts, Arms, ContextDimension);
        if (_uniform() < Epsilon)
        {
            ExploredRounds++;
            return Math.Min((int)(_uniform() * Arms), Arms - 1);
        }
        return _exploit.SelectArm(contexts);
    }

    /// <inheritdoc/>
    public void Update(double[] context, int arm, double reward) => _exploit.Update(context, arm, reward);
}
