using TorchSharp;

namespace SharpOptim.Optimizers;

/// <summary>
/// Holds the <see cref="Scalar"/>s passed to libtorch in one method until it returns. TorchSharp 0.107 turns a
/// <c>double</c> argument into a new Scalar per call that nothing references once its handle is read, so a garbage
/// collection started by another thread during the native call can finalize it while libtorch reads it (the call
/// then fails with "Expected false to be true" from <c>c10::Scalar::toFloat</c>; upstream: dotnet/TorchSharp pull
/// requests 1434 and 1496). Use: <c>using var s = new ScalarHold(); p.mul_(s[1 - lr * wd]);</c> — the
/// <c>using</c> keeps the scalars reachable until the end of the method and frees them then, not on the finalizer
/// thread.
/// </summary>
internal sealed class ScalarHold : IDisposable
{
    private readonly List<Scalar> _held = new();

    /// <summary>A Scalar of <paramref name="value"/>, held until this object is disposed.</summary>
    public Scalar this[double value]
    {
        get
        {
            var s = value.ToScalar();
            _held.Add(s);
            return s;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var s in _held) s.Dispose();
        _held.Clear();
    }
}
