namespace SharpOptim.GradientFree;

/// <summary>The diffusion term of consensus-based optimization.</summary>
public enum CboNoise
{
    /// <summary><c>‖X_i − v‖₂ ξ_i</c>: one amplitude per particle (explodes in high dimension).</summary>
    Isotropic,
    /// <summary><c>(X_i − v) ⊙ ξ_i</c>: one amplitude per coordinate (the setting for networks).</summary>
    Anisotropic,
}
