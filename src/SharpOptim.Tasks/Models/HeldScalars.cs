using TorchSharp;

namespace SharpOptim.Tasks.Models;

/// <summary>
/// Scalars the models pass to libtorch, created once and held for the life of the process. TorchSharp 0.107 turns a
/// <c>double</c> argument (or the implicit alpha = 1 of <c>a + b</c>) into a new <see cref="Scalar"/> per call that
/// nothing references once its handle is read, so a garbage collection triggered by another thread during the native
/// call can finalize it while libtorch reads it: the run then fails with "Expected false to be true" from
/// <c>c10::Scalar::toFloat</c> (seen under load in <c>add</c> and <c>masked_fill</c>; upstream: dotnet/TorchSharp pull
/// requests 1434 and 1496). Passing a held scalar removes the race for these calls.
/// </summary>
internal static class HeldScalars
{
    /// <summary>1, the alpha of an addition.</summary>
    public static readonly Scalar One = 1.0.ToScalar();
}
