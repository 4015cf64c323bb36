using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>Raw float32 pointers into CPU tensors for the fused kernels (no copy, no allocation).</summary>
internal static class OptimizerPointers
{
    /// <summary>
    /// Pointer to the first element of a contiguous float32 CPU tensor. libtorch owns the memory and does not
    /// move it, so no pinning is needed; the pointer is valid while the tensor is alive and not resized.
    /// </summary>
    public static unsafe float* Of(Tensor t)
    {
        if (t.NumberOfElements == 0) return null;
        fixed (byte* b = t.bytes) return (float*)b;
    }
}
