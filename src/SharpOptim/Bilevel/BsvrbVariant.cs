namespace SharpOptim.Bilevel;

/// <summary>Which of BSVRB's two estimators of the lower linear system <see cref="Bsvrb"/> runs.</summary>
public enum BsvrbVariant
{
    /// <summary>BSVRB v1: a variance-reduced estimate of each block's dense Hessian, inverted (small lower dimension).</summary>
    V1,
    /// <summary>BSVRB v2: a variance-reduced estimate of each block's linear-system residual, driving v_i ≈ H_i⁻¹∇_y f_i
    /// with Hessian-vector products (large lower dimension).</summary>
    V2,
}
