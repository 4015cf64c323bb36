namespace SharpOptim.Policy;

/// <summary>
/// How a policy loss turns per-token terms x[i,t] (completion i, token t, completion mask m[i,t]) into one number.
/// The choice is what distinguishes "GRPO", "DAPO" and "Dr. GRPO" losses (brief §3; TRL's <c>loss_type</c>).
/// </summary>
public enum PolicyLossAggregation
{
    /// <summary>(1/N) Σ_i Σ_t m x: the sum over each completion, averaged over completions (REINFORCE's textbook form).</summary>
    SequenceSum,

    /// <summary>(1/N) Σ_i (1/|o_i|) Σ_t m x: per-completion token mean, then the mean over completions (the DeepSeekMath
    /// GRPO objective, TRL <c>loss_type="grpo"</c>).</summary>
    SequenceMean,

    /// <summary>Σ_{i,t} m x / Σ_{i,t} m: one token mean over the whole batch (DAPO, arXiv 2503.14476; ReMax's official
    /// <c>actor_loss_fn</c>; ARPO's micro-batch token mean).</summary>
    TokenMean,

    /// <summary>Σ_{i,t} m x / (N · L_max) with the constant generation budget L_max (Dr. GRPO, arXiv 2503.20783:
    /// <c>critic_type == "drgrpo"</c> divides token sums by <c>generate_max_length</c>).</summary>
    ConstantLength,
}
