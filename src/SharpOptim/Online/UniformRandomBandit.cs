namespace SharpOptim.Online;

/// <summary>The uniform random policy, the baseline every contextual bandit must beat (regret ≈ (1 − 1/K) T in the
/// supervised-to-bandit conversion). Learns nothing; scores are all 1/K.</summary>
public sealed class UniformRandomBandit : IBanditPolicy
{
    private readonly Func<double> _uniform;

    /// <summary>Creates the policy; <paramref name="uniform"/> returns numbers in [0, 1).</summary>
    public UniformRandomBandit(int arms, int contextDimension, Func<double> uniform)
    {
        BanditInput.CheckShape(arms, contextDimension);
        ArgumentNullException.ThrowIfNull(uniform);
        Arms = arms;
        ContextDimension = contextDimension;
        _uniform = uniform;
    }

    /// <inheritdoc/>
    public int Arms { get; }
    /// <inheritdoc/>
    public int ContextDimension { get; }

    /// <inheritdoc/>
    public double[] Scores(IReadOnlyList<double[]> contexts)
    {
        BanditInput.CheckContexts(contexts, Arms, ContextDimension);
        return Enumerable.Repeat(1.0 / Arms, Arms).ToArray();
    }

    /// <inheritdoc/>
    public int SelectArm(IReadOnlyList<double[]> contexts) => BanditInput.Sample(Scores(contexts), _uniform());

    /// <inheritdoc/>
    public void Update(double[] context, int arm, double reward) => BanditInput.CheckUpdate(context, arm, reward, Arms, ContextDimension);
}
