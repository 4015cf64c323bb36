namespace SharpOptim.Training;

/// <summary>Which test <see cref="AdaptiveBatchSize"/> applies (the official code's <c>test_type</c>, plus this library's coordinate-wise test).</summary>
public enum BatchSizeTest
{
    /// <summary>
    /// The (approximate) norm test of Byrd, Chin, Nocedal and Wu (2012), used by AdAdaGrad-Norm (official
    /// <c>norm_test</c>, <c>test_type = norm</c>): next b = ⌈ Σ_j Var_j / (η² ‖ḡ‖²) ⌉ when that exceeds the current b.
    /// </summary>
    Norm = 0,

    /// <summary>
    /// This library's coordinate-wise variant, not in the official code: next b = ⌈ max_j Var_j / (η² ḡ_j²) ⌉. One
    /// test per coordinate is very strict: a single coordinate whose mean gradient is near zero while its samples
    /// spread (common: a saturated unit, a rarely active feature) sends the batch to the cap at once, so on real
    /// models it usually jumps to b_max within a few steps. Kept for comparison; prefer the official tests.
    /// </summary>
    CoordinateWise = 1,

    /// <summary>
    /// The inner-product test of Bollapragada, Byrd and Nocedal (2018) (official <c>inner_product_test</c>,
    /// <c>test_type = ip</c>): next b = ⌈ Σ_k Var_i(⟨g_i^k, ḡ^k⟩) / (θ² ‖ḡ‖⁴) ⌉, per parameter block k.
    /// </summary>
    InnerProduct = 2,

    /// <summary>
    /// The orthogonality test (official <c>orthogonality_test</c>): next b = ⌈ Σ_k Σ_j Var_i(o_ij^k) / (ν² ‖ḡ‖²) ⌉ with
    /// o_i^k = g_i^k − (⟨g_i^k, ḡ^k⟩ / ‖ḡ^k‖²) ḡ^k, the part of each sample's gradient orthogonal to the batch gradient.
    /// </summary>
    Orthogonality = 3,

    /// <summary>
    /// The augmented inner-product test (official <c>inner_product_orthogonality_test</c>, <c>test_type = ip+orth</c>):
    /// the larger of the inner-product and orthogonality tests' batch sizes.
    /// </summary>
    AugmentedInnerProduct = 4,
}
