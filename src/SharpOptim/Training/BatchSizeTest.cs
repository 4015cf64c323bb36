namespace SharpOptim.Training;

/// <summary>Which test <see cref="AdaptiveBatchSize"/> applies.</summary>
public enum BatchSizeTest
{
    /// <summary>
    /// The (approximate) norm test of Byrd, Chin, Nocedal and Wu (2012), used by AdAdaGrad-Norm:
    /// next b = ⌈ Σ_j Var_j / (η² ‖ḡ‖²) ⌉ when that exceeds the current b.
    /// </summary>
    Norm,

    /// <summary>
    /// The coordinate-wise norm test of AdAdaGrad (one test per coordinate, for AdaGrad's per-coordinate steps):
    /// next b = ⌈ max_j Var_j / (η² ḡ_j²) ⌉ when that exceeds the current b.
    /// </summary>
    CoordinateWise,
}
