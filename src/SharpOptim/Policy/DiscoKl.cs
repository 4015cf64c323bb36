namespace SharpOptim.Policy;

/// <summary>The KL estimate K to the rollout policy in DisCO's penalty (official <c>kl_type</c>).</summary>
public enum DiscoKl
{
    /// <summary><c>kl</c>: masked token mean of ℓ^old − ℓ (k1; used by every released DisCO script).</summary>
    LogRatio,

    /// <summary><c>low_var_kl</c>: masked token mean of (ρ − 1) − log ρ, ρ = exp(ℓ − ℓ^old).</summary>
    LowVariance,
}
