using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>The few vector operations the bilevel solvers need, with every scalar held (see <see cref="ScalarHold"/>).</summary>
internal static class TensorMath
{
    /// <summary>y ← y + a·x in place.</summary>
    public static void Axpy(Tensor y, double a, Tensor x)
    {
        using var s = new ScalarHold();
        using var _ = no_grad();
        y.add_(x, s[a]);
    }

    /// <summary>a·x + y as a new tensor.</summary>
    public static Tensor Combine(Tensor y, double a, Tensor x)
    {
        using var s = new ScalarHold();
        return y.add(x, s[a]);
    }

    /// <summary>y ← b·y + a·x in place.</summary>
    public static void Blend(Tensor y, double b, double a, Tensor x)
    {
        using var s = new ScalarHold();
        using var _ = no_grad();
        y.mul_(s[b]).add_(x, s[a]);
    }

    /// <summary>⟨a, b⟩ in float64.</summary>
    public static double Dot(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return (a.to_type(ScalarType.Float64) * b.to_type(ScalarType.Float64)).sum().item<double>();
    }

    /// <summary>‖a‖₂ in float64.</summary>
    public static double Norm(Tensor a) => Math.Sqrt(Dot(a, a));

    /// <summary>Copies <paramref name="source"/> into <paramref name="target"/> without recording it.</summary>
    public static void Assign(Tensor target, Tensor source)
    {
        using var _ = no_grad();
        target.copy_(source);
    }

    /// <summary>Scales <paramref name="t"/> in place so that its norm is at most <paramref name="radius"/>.</summary>
    public static void ClipNorm(Tensor t, double radius)
    {
        double n = Norm(t);
        if (n > radius)
        {
            using var s = new ScalarHold();
            using var _ = no_grad();
            t.mul_(s[radius / n]);
        }
    }
}
