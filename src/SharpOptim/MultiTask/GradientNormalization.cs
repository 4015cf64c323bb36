namespace SharpOptim.MultiTask;

/// <summary>How MGDA's official code scales each task gradient before solving for the weights (its
/// <c>gradient_normalizers</c>; "not in the paper", says the code). The weights found are then applied to the raw
/// gradients, as the official training script does.</summary>
public enum GradientNormalization
{
    /// <summary>No scaling: the paper's method (default).</summary>
    None,
    /// <summary>g_t / ‖g_t‖.</summary>
    L2,
    /// <summary>g_t / L_t (losses must be positive).</summary>
    Loss,
    /// <summary>g_t / (L_t ‖g_t‖) (losses must be positive); the official <c>sample.json</c> setting.</summary>
    LossPlus,
}
