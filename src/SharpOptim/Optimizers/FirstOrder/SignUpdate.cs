using SharpOptim.Kernels;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>The sign-based update shared by <see cref="SignSGD"/> and <see cref="Signum"/>.</summary>
internal static class SignUpdate
{
    /// <summary>d ← g + λθ; m ← μ m + (1 − μ) d when m is given; θ ← θ − lr · sign(m or d), with torch ops.</summary>
    public static void Portable(Tensor p, Tensor g, Tensor? m, double lr, double wd, double momentum, bool maximize)
    {
        using var s = new ScalarHold();
        var d = maximize ? g.neg() : g;
        if (wd != 0) d = d.add(p.mul(s[wd]), s[1]);
        if (m is not null)
        {
            m.mul_(s[momentum]).add_(d, s[1 - momentum]);
            d = m;
        }
        p.add_(d.sign(), s[-lr]);
    }

    public static unsafe SignKernel Kernel(Tensor p, Tensor g, Tensor? m, double lr, double wd, double momentum, bool maximize) => new()
    {
        P = OptimizerPointers.Of(p), G = OptimizerPointers.Of(g), M = m is null ? null : OptimizerPointers.Of(m),
        Sign = maximize ? -1f : 1f, WeightDecay = (float)wd, Momentum = (float)momentum,
        OneMinusMomentum = (float)(1 - momentum), NegLr = (float)-lr,
    };
}
