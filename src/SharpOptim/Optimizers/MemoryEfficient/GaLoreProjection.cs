namespace SharpOptim.Optimizers;

/// <summary>Which side GaLore's projector acts on (the official projector's proj_type).</summary>
public enum GaLoreProjection
{
    /// <summary>"std": right singular vectors for m ≥ n (R = G Pᵀ), left ones for m &lt; n (R = Pᵀ G): the smaller side.</summary>
    Std = 0,
    /// <summary>"reverse_std": the larger side.</summary>
    ReverseStd = 1,
    /// <summary>"left": always U[:, :r].</summary>
    Left = 2,
    /// <summary>"right": always Vᵀ[:r, :].</summary>
    Right = 3,
}
