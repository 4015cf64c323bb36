namespace SharpOptim.Optimizers;

/// <summary>Which implementation of an optimizer's update runs.</summary>
public enum ExecutionPath
{
    /// <summary>Fused where the tensors allow it (contiguous float32 on the CPU), portable elsewhere.</summary>
    Auto,

    /// <summary>Always the fused kernel; a step on tensors it cannot handle throws before changing anything.</summary>
    Fused,

    /// <summary>Always torch operations: any device, any floating dtype. This is the reference path.</summary>
    Portable,
}
