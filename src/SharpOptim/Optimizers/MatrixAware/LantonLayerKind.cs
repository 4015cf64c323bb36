namespace SharpOptim.Optimizers;

/// <summary>How <see cref="Lanton"/> updates a group of layers: which norm its linear minimization oracle (LMO) uses.</summary>
public enum LantonLayerKind
{
    /// <summary>Hidden matrices, RMS→RMS operator norm: the LMO is the orthogonalized momentum (Newton–Schulz, as
    /// Muon) times √(d_out/d_in); the dual norm is √(d_out/d_in)·‖·‖_nuclear.</summary>
    Spectral,

    /// <summary>Embeddings and output heads, ℓ1→ℓ∞ operator norm (the largest entry): the LMO is the sign of the
    /// momentum (Signum); the dual norm is the entrywise ℓ1 norm.</summary>
    Sign,

    /// <summary>Vectors (biases, norm gains) and anything else: AdamW, as in Muon's auxiliary optimizer; no
    /// noise-adaptive rate.</summary>
    AdamW,
}
