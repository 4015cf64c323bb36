namespace SharpOptim.Tasks;

/// <summary>
/// Mini-batches of example indices drawn without replacement, reshuffled with a seeded generator at each epoch;
/// a batch never straddles two epochs (the tail that does not fill a batch is skipped, as drop_last does).
/// </summary>
public sealed class BatchOrder
{
    private readonly int[] _order;
    private readonly Random _rng;
    private int _pos;

    /// <summary>Batches of <paramref name="batchSize"/> indices out of <paramref name="count"/>.</summary>
    public BatchOrder(int count, int batchSize, int seed)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "the data set is empty.");
        if (batchSize <= 0 || batchSize > count)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, FormattableString.Invariant($"batch size must be in 1..{count}."));
        _order = Enumerable.Range(0, count).ToArray();
        _rng = new Random(seed);
        BatchSize = batchSize;
        _pos = count;
    }

    /// <summary>Indices per batch.</summary>
    public int BatchSize { get; }

    /// <summary>The next batch's indices.</summary>
    public long[] Next()
    {
        if (_pos + BatchSize > _order.Length)
        {
            _rng.Shuffle(_order);
            _pos = 0;
        }
        var batch = new long[BatchSize];
        for (int i = 0; i < BatchSize; i++) batch[i] = _order[_pos + i];
        _pos += BatchSize;
        return batch;
    }
}
