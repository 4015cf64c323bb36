using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>Turns an <see cref="INoiseSource"/> key into a tensor of the wanted shape, dtype and device. The numbers
/// are written straight into a float32 tensor's storage (no managed array, so a MeZO step allocates no garbage
/// proportional to the model), then converted when another dtype or device is wanted.</summary>
internal static class NoiseTensors
{
    public static Tensor Normal(INoiseSource source, long[] shape, long generation, int tensor, int member, ScalarType dtype, Device device)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        if (n > int.MaxValue) throw new ArgumentException(FormattableString.Invariant($"a perturbation of {n} numbers is too large for one key."));
        var t = empty(shape, ScalarType.Float32);
        source.Fill(MemoryMarshal.Cast<byte, float>(t.bytes), generation, tensor, member);
        return Convert(t, dtype, device);
    }

    /// <summary>Members <c>[first, first+count)</c> of one key range stacked as [count, *shape].</summary>
    public static Tensor Stack(INoiseSource source, long[] shape, long generation, int tensor, int firstMember, int count, ScalarType dtype, Device device)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        if (n * count > int.MaxValue) throw new ArgumentException(FormattableString.Invariant($"{count} perturbations of {n} numbers are too large to stack."));
        var t = empty(new[] { (long)count }.Concat(shape).ToArray(), ScalarType.Float32);
        unsafe
        {
            fixed (byte* b = t.bytes)
            {
                nint p = (nint)b;
                // Members are independent keys: fill them in parallel (each fill is itself deterministic).
                Parallel.For(0, count, j => source.Fill(new Span<float>((float*)p + j * n, (int)n), generation, tensor, firstMember + j));
            }
        }
        return Convert(t, dtype, device);
    }

    private static Tensor Convert(Tensor t, ScalarType dtype, Device device)
    {
        if (dtype == ScalarType.Float32 && device.type == DeviceType.CPU) return t;
        using (t) return t.to(dtype, device);
    }
}
