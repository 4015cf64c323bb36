namespace SharpOptim.Policy;

/// <summary>DisCO's score of a completion (official <c>compute_policy_loss_disco{,b}_{logL,Lratio}</c>).</summary>
public enum DiscoScore
{
    /// <summary>log-L: s(o) = (1/|o|) Σ_t ℓ_t.</summary>
    LogLikelihood,

    /// <summary>L-ratio: s(o) = (1/|o|) Σ_t exp(ℓ_t − ℓ^old_t), unclipped.</summary>
    LikelihoodRatio,
}
