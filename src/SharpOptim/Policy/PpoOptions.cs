namespace SharpOptim.Policy;

/// <summary>
/// Settings of the PPO-style actor-critic (<see cref="Ppo"/>, <see cref="PpoCritic"/>). Defaults are verl's PPO
/// trainer defaults (<c>ppo_trainer.yaml</c>: <c>algorithm.gamma</c> 1, <c>algorithm.lam</c> 1, actor
/// <c>clip_ratio</c> 0.2, <c>clip_ratio_c</c> 3, critic <c>cliprange_value</c> 0.5, no KL in the reward, whitened
/// advantages).
/// </summary>
public sealed record PpoOptions
{
    /// <summary>Discount γ ∈ [0, 1] of the token-level MDP.</summary>
    public double Gamma { get; init; } = 1;

    /// <summary>GAE's λ ∈ [0, 1] (0: one-step TD advantages, 1: Monte-Carlo return minus the value).</summary>
    public double Lambda { get; init; } = 1;

    /// <summary>Lower clip ε_low: the ratio is clipped to [1 − ε_low, 1 + ε_high].</summary>
    public double ClipLow { get; init; } = 0.2;

    /// <summary>Upper clip ε_high.</summary>
    public double ClipHigh { get; init; } = 0.2;

    /// <summary>Dual clip c &gt; 1 for negative advantages (per-token loss min(loss, −c·A) where A &lt; 0; verl's
    /// <c>clip_ratio_c</c>); NaN turns it off (Schulman et al.'s surrogate has none).</summary>
    public double DualClip { get; init; } = 3;

    /// <summary>Value clip c_v &gt; 0: the new prediction is clipped to [V_old − c_v, V_old + c_v] in the second term of
    /// the value loss (verl's <c>cliprange_value</c>); ∞ makes the loss the plain squared error.</summary>
    public double ValueClip { get; init; } = 0.5;

    /// <summary>β of the k1 KL penalty folded into the token rewards, −β (ℓ^old − ℓ^ref) per token (verl's
    /// <c>use_kl_in_reward</c> with <c>kl_penalty: kl</c>); 0 needs no reference log-probabilities.</summary>
    public double KlCoefficient { get; init; }

    /// <summary>Whiten the GAE advantages over all completion tokens of the batch (verl's <c>masked_whiten</c>).</summary>
    public bool WhitenAdvantages { get; init; } = true;

    internal void Validate()
    {
        if (!(Gamma >= 0 && Gamma <= 1)) throw new ArgumentException($"Gamma = {Gamma}; it must lie in [0, 1].", nameof(Gamma));
        if (!(Lambda >= 0 && Lambda <= 1)) throw new ArgumentException($"Lambda = {Lambda}; it must lie in [0, 1].", nameof(Lambda));
        if (!(ClipLow > 0 && ClipLow < 1)) throw new ArgumentException($"ClipLow = {ClipLow}; it must lie in (0, 1).", nameof(ClipLow));
        if (!(ClipHigh > 0) || double.IsInfinity(ClipHigh)) throw new ArgumentException($"ClipHigh = {ClipHigh}; it must be finite and positive.", nameof(ClipHigh));
        if (!double.IsNaN(DualClip) && !(DualClip > 1 && double.IsFinite(DualClip))) throw new ArgumentException($"DualClip = {DualClip}; it must be > 1 (or NaN for none).", nameof(DualClip));
        if (!(ValueClip > 0)) throw new ArgumentException($"ValueClip = {ValueClip}; it must be positive (∞ for no clip).", nameof(ValueClip));
        if (!(KlCoefficient >= 0) || double.IsInfinity(KlCoefficient)) throw new ArgumentException($"KlCoefficient = {KlCoefficient}; it must be finite and ≥ 0.", nameof(KlCoefficient));
    }
}
