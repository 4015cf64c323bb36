namespace SharpOptim.MultiTask;

/// <summary>Which per-task gradients a <see cref="GradientBalancer"/> balances.</summary>
public enum BalancingMode
{
    /// <summary>Gradients of each task loss with respect to the shared parameters: one backward pass through the whole
    /// model per task (T passes), T×|θ_shared| floats.</summary>
    SharedParameters,
    /// <summary>Gradients with respect to the shared representation Z (the trunk's output), as MGDA-UB does: T backward
    /// passes through the heads only, then one backward through the trunk; T×|Z| floats.</summary>
    SharedRepresentation,
}
