namespace SharpOptim.Tasks.Bandits;

/// <summary>How the supervised-to-bandit conversion turns one context x ∈ R^d into K per-arm vectors.</summary>
public enum ArmEncoding
{
    /// <summary>Every arm sees x itself (for policies with a separate model per arm: LinUCB, Diag-LinUCB).</summary>
    Shared,
    /// <summary>Arm a sees x_{t,a} ∈ R^{dK}: x in block a, zeros elsewhere (the official NeuralUCB code's encoding,
    /// for one network over all arms).</summary>
    Disjoint,
}
