namespace SharpOptim.Optimizers;

/// <summary>How FRUGAL chooses its state-full subspace within the projectable matrices.</summary>
public enum FrugalSubspace
{
    /// <summary>Per matrix, the top singular directions of the gradient (the official GaloreOptimizer: GaLore-style
    /// projection on the smaller side).</summary>
    Svd = 0,
    /// <summary>Whole matrices as blocks, round(ρ · number of blocks) of them state-full at a time (the official
    /// BlockOptimizer, BAdam-style; the paper's FRUGAL for pre-training).</summary>
    Blocks = 1,
    /// <summary>Per matrix, ⌊ρ · columns⌋ random columns (the official CoordOptimizer with <c>coord_choice = columns</c>;
    /// the paper's FRUGAL for fine-tuning).</summary>
    Columns = 2,
}
