namespace SharpOptim.Policy;

/// <summary>
/// Settings of the <see cref="Grpo"/> loss. Defaults: the DeepSeekMath objective as TRL states it (ε = 0.2 both sides,
/// unbiased group std with ε_std = 1e-4, per-completion token mean) with β = 0.04. Presets:
/// <see cref="DrGrpo"/> and <see cref="Arpo"/>.
/// </summary>
public sealed record GrpoOptions
{
    /// <summary>Lower clip ε_low: the ratio is clipped to [1 − ε_low, 1 + ε_high].</summary>
    public double ClipLow { get; init; } = 0.2;

    /// <summary>Upper clip ε_high (DAPO's decoupled clip recommends 0.28; ARPO uses 0.3).</summary>
    public double ClipHigh { get; init; } = 0.2;

    /// <summary>Dual clip c &gt; 1 for negative advantages (per-token loss min(loss, −c·A) when A &lt; 0; verl's
    /// <c>clip_ratio_c</c>, ARPO uses 3); NaN turns it off.</summary>
    public double DualClip { get; init; } = double.NaN;

    /// <summary>β, the weight of the k3 KL estimate to the reference; 0 needs no reference log-probabilities.</summary>
    public double Beta { get; init; } = 0.04;

    /// <summary>How per-token terms are aggregated (grpo / dapo / dr_grpo).</summary>
    public PolicyLossAggregation Aggregation { get; init; } = PolicyLossAggregation.SequenceMean;

    /// <summary>Generation budget L_max for <see cref="PolicyLossAggregation.ConstantLength"/>.</summary>
    public int MaxLength { get; init; }

    /// <summary>Divide r − mean(r) by the group's unbiased std + ε_std (GRPO); false gives Dr. GRPO's r − mean(r).</summary>
    public bool ScaleByStd { get; init; } = true;

    /// <summary>ε_std added to the group std (TRL 1e-4, verl 1e-6).</summary>
    public double EpsilonStd { get; init; } = 1e-4;

    /// <summary>Dr. GRPO (Liu et al., arXiv 2503.20783): advantages r − mean (no std), token sums divided by
    /// G·L_max, β = 0.</summary>
    public static GrpoOptions DrGrpo(int maxLength) => new()
    {
        ScaleByStd = false, Aggregation = PolicyLossAggregation.ConstantLength, MaxLength = maxLength, Beta = 0,
    };

    /// <summary>ARPO's loss (dvlab-research/ARPO, verl <c>compute_policy_loss</c> and its example script): clip
    /// [1 − 0.2, 1 + 0.3], dual clip 3, token mean, no KL, ε_std = 1e-6.</summary>
    public static GrpoOptions Arpo { get; } = new()
    {
        ClipLow = 0.2, ClipHigh = 0.3, DualClip = 3, Beta = 0, Aggregation = PolicyLossAggregation.TokenMean, EpsilonStd = 1e-6,
    };

    internal void Validate()
    {
        if (!(ClipLow > 0 && ClipLow < 1)) throw new ArgumentException($"ClipLow = {ClipLow}; it must lie in (0, 1).", nameof(ClipLow));
        if (!(ClipHigh > 0) || double.IsInfinity(ClipHigh)) throw new ArgumentException($"ClipHigh = {ClipHigh}; it must be finite and positive.", nameof(ClipHigh));
        if (!double.IsNaN(DualClip) && !(DualClip > 1 && double.IsFinite(DualClip))) throw new ArgumentException($"DualClip = {DualClip}; it must be > 1 (or NaN for none).", nameof(DualClip));
        if (!(Beta >= 0) || double.IsInfinity(Beta)) throw new ArgumentException($"Beta = {Beta}; it must be finite and ≥ 0.", nameof(Beta));
        if (!(EpsilonStd >= 0) || double.IsInfinity(EpsilonStd)) throw new ArgumentException($"EpsilonStd = {EpsilonStd}; it must be finite and ≥ 0.", nameof(EpsilonStd));
    }
}
