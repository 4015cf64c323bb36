using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>Turns an <see cref="INoiseSource"/> key into a tensor of the wanted shape, dtype and device.</summary>
internal static class NoiseTensors
{
    public static Tensor Normal(INoiseSource source, long[] shape, long generation, int tensor, int member, ScalarType dtype, Device device)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        if (n > int.MaxValue) throw new ArgumentException(FormattableString.Invariant($"a perturbation of {n} numbers is too large for one key."));
        var data = new float[n];
        source.Fill(data, generation, tensor, member);
        using var flat = torch.tensor(data);
        return flat.reshape(shape).to(dtype, device);
    }

    /// <summary>Members <c>[first, first+count)</c> of one key range stacked as [count, *shape].</summary>
    public static Tensor Stack(INoiseSource source, long[] shape, long generation, int tensor, int firstMember, int count, ScalarType dtype, Device device)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        if (n * count > int.MaxValue) throw new ArgumentException(FormattableString.Invariant($"{count} perturbations of {n} numbers are too large to stack."));
        var data = new float[n * count];
        // Members are independent keys: fill them in parallel (each fill is itself deterministic).
        Parallel.For(0, count, j => source.Fill(data.AsSpan((int)(j * n), (int)n), generation, tensor, firstMember + j));
        using var flat = torch.tensor(data);
        return flat.reshape(new[] { (long)count }.Concat(shape).ToArray()).to(dtype, device);
    }
}
