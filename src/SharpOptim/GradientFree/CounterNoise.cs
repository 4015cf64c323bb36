using System.Runtime.CompilerServices;

namespace SharpOptim.GradientFree;

/// <summary>
/// Counter-based standard normal noise: number <c>j</c> of key (seed, generation, tensor, member) is a pure function
/// of those five integers, so perturbations are regenerated from a seed and a member index, never stored, and come
/// out identical whatever the thread count or the order in which members are evaluated (the property EGGROLL's and
/// OpenAI-ES's per-member keys give in their official code).
/// <para>Construction: the key is hashed into a 64-bit stream id with SplitMix64's finaliser (Steele, Lea and Flood,
/// "Fast splittable pseudorandom number generators", OOPSLA 2014); pair <c>c = j/2</c> of the stream is the finaliser
/// of <c>id + (c+1)·φ</c> (φ = 0x9E3779B97F4A7C15), whose two 32-bit halves become two uniforms in (0, 1) and, by the
/// Box–Muller transform, two independent normals (computed in float64, rounded to float32). This replaces the
/// official OpenAI-ES code's shared noise table (overlapping slices of one table of 250M normals), whose
/// perturbations are not exactly independent, and JAX's threefry keys of the official EGGROLL code, which .NET cannot
/// reproduce; the law (i.i.d. N(0, 1)) is the same.</para>
/// <para>Long fills are split into fixed chunks of 8,192 numbers run in parallel; chunk boundaries do not depend on
/// the thread count, so neither do the numbers.</para>
/// </summary>
public sealed class CounterNoise : INoiseSource
{
    private const int Chunk = 8192;

    /// <summary>Creates the source for a run seed.</summary>
    public CounterNoise(long seed) => Seed = seed;

    /// <summary>The run seed.</summary>
    public long Seed { get; }

    /// <inheritdoc />
    public void Fill(Span<float> destination, long generation, int tensor, int member)
    {
        ulong id = StreamId(Seed, generation, tensor, member);
        if (destination.Length <= 4 * Chunk)
        {
            FillRange(destination, id, 0);
            return;
        }
        unsafe
        {
            fixed (float* p = destination)
            {
                nint ptr = (nint)p;
                int length = destination.Length;
                int chunks = (length + Chunk - 1) / Chunk;
                Parallel.For(0, chunks, c =>
                {
                    int start = c * Chunk;
                    int n = Math.Min(Chunk, length - start);
                    FillRange(new Span<float>((float*)ptr + start, n), id, start);
                });
            }
        }
    }

    /// <summary>The 64-bit stream id of a key (exposed for tests of independence between keys).</summary>
    public static ulong StreamId(long seed, long generation, int tensor, int member)
    {
        ulong h = Mix((ulong)seed ^ 0x5851F42D4C957F2DUL);
        h = Mix(h ^ (ulong)generation);
        h = Mix(h ^ ((ulong)(uint)tensor | 0x1_0000_0000UL));
        return Mix(h ^ ((ulong)(uint)member | 0x2_0000_0000UL));
    }

    // start is even (chunks are even-sized), so pair boundaries line up with the stream's pairs.
    private static void FillRange(Span<float> d, ulong id, int start)
    {
        int i = 0;
        long pair = start / 2;
        for (; i + 1 < d.Length; i += 2, pair++)
        {
            var (a, b) = NormalPair(id, pair);
            d[i] = a;
            d[i + 1] = b;
        }
        if (i < d.Length) d[i] = NormalPair(id, pair).Item1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float, float) NormalPair(ulong id, long pair)
    {
        ulong h = Mix(id + ((ulong)pair + 1UL) * 0x9E3779B97F4A7C15UL);
        double u1 = ((h >> 32) + 0.5) * (1.0 / 4294967296.0);
        double u2 = ((h & 0xFFFFFFFFUL) + 0.5) * (1.0 / 4294967296.0);
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        double angle = 2.0 * Math.PI * u2;
        return ((float)(r * Math.Cos(angle)), (float)(r * Math.Sin(angle)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
