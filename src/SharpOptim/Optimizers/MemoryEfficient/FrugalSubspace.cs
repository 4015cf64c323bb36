namespace SharpOptim.Optimizers;

/// <summary>How FRUGAL chooses its state-full subspace.</summary>
public enum FrugalSubspace
{
    /// <summary>Per matrix, the top singular directions of the gradient (GaLore-style projection).</summary>
    Svd = 0,
    /// <summary>Whole parameter tensors as blocks (BAdam-style), a fraction of the parameters at a time.</summary>
    Blocks = 1,
}
