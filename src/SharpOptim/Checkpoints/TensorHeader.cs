using static TorchSharp.torch;

namespace SharpOptim.Checkpoints;

/// <summary>A saved tensor's element type and shape, checked against the bytes left in the stream, and the number of
/// data bytes that follow. Callers compare it with the tensor they expect before allocating anything.</summary>
internal readonly record struct TensorHeader(ScalarType DType, long[] Shape, long Bytes)
{
    /// <summary>"Float32 [16, 4]", for messages.</summary>
    public override string ToString() => FormattableString.Invariant($"{DType} [{string.Join(", ", Shape)}]");
}
