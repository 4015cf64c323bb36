namespace SharpOptim.Distributed;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014): a tiny generator
/// that every rank (and the Python reference scripts in tools/golden/) can run from a shared (seed, round) without
/// communicating, so all workers agree on NoLoCo's groups and FedSpeed's participating clients. Chosen over NumPy's
/// <c>default_rng</c> (what NoLoCo's official code uses) because it is a few lines to reproduce exactly in C# and Python.
/// </summary>
internal sealed class NoLoCoDeterministicStream
{
    private ulong _state;

    /// <summary>The stream for (<paramref name="seed"/>, <paramref name="round"/>).</summary>
    public NoLoCoDeterministicStream(long seed, long round) =>
        _state = unchecked((ulong)seed ^ ((ulong)round * 0xD1B54A32D192ED03UL));

    /// <summary>Next 64 random bits.</summary>
    public ulong NextBits()
    {
        unchecked
        {
            _state += 0x9E3779B97F4A7C15UL;
            ulong z = _state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextUniform() => (NextBits() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniformly random permutation of 0…n−1 (Fisher–Yates from the last position; index = bits mod (i+1)).</summary>
    public int[] Permutation(int n)
    {
        var p = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i >= 1; i--)
        {
            int j = (int)(NextBits() % (ulong)(i + 1));
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
