namespace SharpOptim.Bilevel;

/// <summary>
/// Where one level of a bilevel problem gets its minibatches: the full data every time (<see cref="Full"/>), uniformly
/// random batches without replacement from a seeded generator (<see cref="Random"/>), or a fixed script of index lists
/// played in order (<see cref="Scripted"/>; used to feed a reference implementation's batches into a parity test, since
/// PyTorch's and TorchSharp's random streams differ). <see cref="Next"/> returns an int64 index tensor, or null for the
/// full data; the caller disposes it.
/// </summary>
public sealed class BatchStream
{
    private readonly System.Random? _random;
    private readonly long[][]? _script;
    private readonly int _size;
    private readonly int _count;
    private readonly bool _cycle;
    private int _position;

    private BatchStream(int count, int size, System.Random? random, long[][]? script, bool cycle = false)
    {
        _cycle = cycle;
        _count = count;
        _size = size;
        _random = random;
        _script = script;
    }

    /// <summary>The full data on every call (<see cref="Next"/> returns null).</summary>
    public static BatchStream Full() => new(0, 0, null, null);

    /// <summary>Batches of <paramref name="batchSize"/> distinct indices drawn uniformly from [0, <paramref name="count"/>).</summary>
    public static BatchStream Random(int count, int batchSize, int seed)
    {
        if (count <= 0) throw new ArgumentException($"count must be positive, got {count}.", nameof(count));
        if (batchSize <= 0 || batchSize > count)
            throw new ArgumentException($"batchSize must be in [1, {count}], got {batchSize}.", nameof(batchSize));
        return new(count, batchSize, new System.Random(seed), null);
    }

    /// <summary>The index lists of <paramref name="batches"/>, one per call, in order; a call past the end throws, or
    /// starts again from the first list with <paramref name="cycle"/>.</summary>
    public static BatchStream Scripted(IReadOnlyList<long[]> batches, bool cycle = false)
    {
        ArgumentNullException.ThrowIfNull(batches);
        for (int i = 0; i < batches.Count; i++)
            if (batches[i] is null || batches[i].Length == 0)
                throw new ArgumentException($"batch {i} of the script is empty.", nameof(batches));
        if (batches.Count == 0) throw new ArgumentException("the batch script is empty.", nameof(batches));
        return new(0, 0, null, batches.Select(b => (long[])b.Clone()).ToArray(), cycle);
    }

    /// <summary>True when every call returns the full data.</summary>
    public bool IsFull => _random is null && _script is null;

    /// <summary>Batches handed out so far.</summary>
    public int Drawn => _position;

    /// <summary>The next batch's indices (int64), or null for the full data.</summary>
    public TorchSharp.torch.Tensor? Next()
    {
        if (_script is not null)
        {
            if (_position >= _script.Length && !_cycle)
                throw new InvalidOperationException($"The batch script has {_script.Length} batches and all were used.");
            return TorchSharp.torch.tensor(_script[_position++ % _script.Length]);
        }
        if (_random is null) { _position++; return null; }
        // Partial Fisher-Yates over [0, count): the first _size entries are a uniform sample without replacement.
        var pool = new long[_count];
        for (int i = 0; i < _count; i++) pool[i] = i;
        for (int i = 0; i < _size; i++)
        {
            int j = i + _random.Next(_count - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        _position++;
        return TorchSharp.torch.tensor(pool.AsSpan(0, _size).ToArray());
    }
}
