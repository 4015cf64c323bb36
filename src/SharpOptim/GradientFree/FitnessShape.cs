namespace SharpOptim.GradientFree;

/// <summary>How raw fitness values are transformed before they weight the perturbations (see
/// <see cref="FitnessShaping"/>).</summary>
public enum FitnessShape
{
    /// <summary>Raw fitness (the textbook Monte-Carlo estimate; used for the bias-vs-rank measurement).</summary>
    None,
    /// <summary>Centered ranks in [−0.5, 0.5], as OpenAI-ES's <c>compute_centered_ranks</c> (the default there).</summary>
    CenteredRank,
    /// <summary>Z-score with a per-group mean and the global variance, as EGGROLL's <c>convert_fitnesses</c>.</summary>
    ZScore,
}
