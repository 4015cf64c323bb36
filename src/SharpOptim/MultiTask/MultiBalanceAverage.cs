namespace SharpOptim.MultiTask;

/// <summary>What <see cref="MultiBalance"/> (a reconstruction) averages across steps.</summary>
public enum MultiBalanceAverage
{
    /// <summary>The per-batch Gram matrix of the representation gradients, then solve (default).</summary>
    Gram,
    /// <summary>Solve each batch's problem, then average the weights.</summary>
    Weights,
    /// <summary>No averaging: MGDA-UB.</summary>
    None,
}
