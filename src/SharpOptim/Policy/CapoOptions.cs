namespace SharpOptim.Policy;

/// <summary>
/// Settings of <see cref="Capo"/>. Defaults: the published CAPO recipe as the brief reads it in the official code
/// (luckeciano/stable-pg-llm, recipe <c>config_grpo_efficient_grpo_adam_fisher_mask_token_1e-4_hessian_mask_token_0.01</c>):
/// τ_F = 1e-4, τ_H = 0.01, symmetric clipping, Adam optimizer model with Adam's (0.9, 0.999, 1e-8), GRPO clip 0.2,
/// β = 0. The thresholds are for a 7B model; a small model needs its own (the noisy-addition run states what it used).
/// </summary>
public sealed record CapoOptions
{
    /// <summary>τ_H: a token is kept only if its predicted objective change ΔJ lies in (−τ_H, τ_H) (symmetric) or [0, τ_H).</summary>
    public double TauHessian { get; init; } = 0.01;

    /// <summary>τ_F: a token is kept only if its predicted KL change ΔKL is below τ_F.</summary>
    public double TauFisher { get; init; } = 1e-4;

    /// <summary>Symmetric clipping of ΔJ (the recipes' setting); false keeps 0 ≤ ΔJ &lt; τ_H.</summary>
    public bool Symmetric { get; init; } = true;

    /// <summary>Model the optimizer as Adam with a shadow state (<see cref="CapoShadowAdam"/>); false models SGD (D = G).</summary>
    public bool AdamModel { get; init; } = true;

    /// <summary>β1 of the modelled Adam (the trainer's value).</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>β2 of the modelled Adam (the trainer's value).</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>ε of the modelled Adam (the trainer's value).</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>GRPO clip ε: the ratio is clipped to [1 − ε, 1 + ε] in the surrogate.</summary>
    public double Clip { get; init; } = 0.2;

    internal void Validate()
    {
        if (!(TauHessian > 0) || double.IsInfinity(TauHessian)) throw new ArgumentException($"TauHessian = {TauHessian}; it must be finite and positive.", nameof(TauHessian));
        if (!(TauFisher > 0) || double.IsInfinity(TauFisher)) throw new ArgumentException($"TauFisher = {TauFisher}; it must be finite and positive.", nameof(TauFisher));
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new ArgumentException($"Beta1 = {Beta1}; it must lie in [0, 1).", nameof(Beta1));
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new ArgumentException($"Beta2 = {Beta2}; it must lie in [0, 1).", nameof(Beta2));
        if (!(Epsilon > 0) || double.IsInfinity(Epsilon)) throw new ArgumentException($"Epsilon = {Epsilon}; it must be finite and positive.", nameof(Epsilon));
        if (!(Clip > 0 && Clip < 1)) throw new ArgumentException($"Clip = {Clip}; it must lie in (0, 1).", nameof(Clip));
    }
}
