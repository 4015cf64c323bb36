namespace SharpOptim.Distributed;

/// <summary>The averaging weight α_k of <see cref="ProxDasa"/> (the official code's <c>step_type</c>).</summary>
public enum ProxDasaStepSize
{
    /// <summary>Prox-DASA: α_k = min(α₀·√(n/(k+1)), 1); the GT variants: α_k = α₀·min(√(n/(k+1)), 1), as the two official files write it.</summary>
    Diminishing,

    /// <summary>α = α₀·√(n/K) for a run of K iterations.</summary>
    Constant,
}
