using TorchSharp;

namespace SharpOptim.Optimizers;

/// <summary>
/// Holds the <see cref="Scalar"/>s passed to libtorch in one method until it returns. TorchSharp 0.107 turns a
/// <c>double</c> argument into a new Scalar per call that nothing references once its handle is read, so a garbage
/// collection started by another thread during the native call can finalize it while libtorch reads it (the call
/// then fails with "Expected false to be true" from <c>c10::Scalar::toFloat</c>; upstream: dotnet/TorchSharp pull
/// requests 1434 and 1496). Use: <c>using var s = new ScalarHold(); p.mul_(s[1 - lr * wd]);</c> — the
/// <c>using</c> keeps the scalars reachable until the end of the method and frees them then, not on the finalizer
/// thread. Public so that model code (and SharpOptim's own tasks) can do the same until TorchSharp ships the fix.
/// </summary>
public sealed class ScalarHold : IDisposable
{
    private readonly List<IDisposable> _held = new();

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

    /// <summary>
    /// A 0-dim float64 tensor of <paramref name="value"/>, held until this object is disposed: exactly what TorchSharp's
    /// implicit <c>double</c> → Tensor conversion creates (e.g. for <c>lerp_</c>'s weight, which TorchSharp takes only as
    /// a tensor), without leaving it to the finalizer.
    /// </summary>
    public torch.Tensor Weight(double value)
    {
        var t = torch.tensor(value);
        _held.Add(t);
        return t;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var s in _held) s.Dispose();
        _held.Clear();
    }
}
