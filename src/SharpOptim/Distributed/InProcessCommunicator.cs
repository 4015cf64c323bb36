namespace SharpOptim.Distributed;

/// <summary>
/// One rank of an <see cref="InProcessWorld"/>. Collectives are numbered by this rank's call order and matched with the
/// other ranks' calls of the same number. Traffic is counted by the brief's conventions (see
/// <see cref="CommunicationStats"/>), so the simulator and the MPI backend report the same bytes for the same run.
/// Not thread-safe: one thread per rank.
/// </summary>
internal sealed class InProcessCommunicator : ICommunicator
{
    private readonly InProcessWorld _world;
    private long _sequence;

    public InProcessCommunicator(InProcessWorld world, int rank)
    {
        _world = world;
        Rank = rank;
    }

    public int Rank { get; }

    public int Size => _world.Size;

    public CommunicationStats Stats { get; } = new();

    public void AllReduceSum(Span<float> buffer)
    {
        long seq = _sequence++;
        var slot = _world.Join(seq, InProcessWorld.CollectiveKind.AllReduceSum, Rank, buffer, root: 0);
        RecordAllReduce(buffer.Length);
        _world.TryComplete(seq, slot, buffer, block: true, Stats);
    }

    public IPendingOperation AllReduceSumAsync(PinnedBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        long seq = _sequence++;
        var slot = _world.Join(seq, InProcessWorld.CollectiveKind.AllReduceSum, Rank, buffer.Span, root: 0);
        RecordAllReduce(buffer.Length);
        return new Pending(this, seq, slot, buffer);
    }

    public void SendReceive(ReadOnlySpan<float> send, int destination, Span<float> receive, int source, int tag)
    {
        CheckRank(destination, nameof(destination));
        CheckRank(source, nameof(source));
        _world.Post(Rank, destination, tag, send);
        Stats.RecordFloats(send.Length);
        _world.Take(source, Rank, tag, receive, Stats);
    }

    public void NeighbourExchange(ReadOnlySpan<float> send, IReadOnlyList<int> outNeighbours, IReadOnlyList<int> inNeighbours,
        Span<float> receiveConcatenated, int tag)
    {
        ArgumentNullException.ThrowIfNull(outNeighbours);
        ArgumentNullException.ThrowIfNull(inNeighbours);
        foreach (int r in outNeighbours) CheckRank(r, nameof(outNeighbours));
        foreach (int r in inNeighbours) CheckRank(r, nameof(inNeighbours));
        if (receiveConcatenated.Length != (long)inNeighbours.Count * send.Length)
            throw new ArgumentException(FormattableString.Invariant(
                $"the receive buffer has {receiveConcatenated.Length} floats; {inNeighbours.Count} in-neighbours × {send.Length} floats need {(long)inNeighbours.Count * send.Length}."), nameof(receiveConcatenated));
        foreach (int r in outNeighbours) _world.Post(Rank, r, tag, send);
        Stats.RecordFloats((long)outNeighbours.Count * send.Length, outNeighbours.Count);
        for (int k = 0; k < inNeighbours.Count; k++)
            _world.Take(inNeighbours[k], Rank, tag, receiveConcatenated.Slice(k * send.Length, send.Length), Stats);
    }

    public void Broadcast(Span<float> buffer, int root)
    {
        CheckRank(root, nameof(root));
        long seq = _sequence++;
        var slot = _world.Join(seq, InProcessWorld.CollectiveKind.Broadcast, Rank, buffer, root);
        // As MpiCommunicator counts it: (n−1)·d floats at the root, nothing elsewhere; one call and one sync on every rank.
        Stats.RecordFloats(Rank == root ? (long)buffer.Length * (Size - 1) : 0, 1, globalSync: true);
        _world.TryComplete(seq, slot, buffer, block: true, Stats);
    }

    public void Barrier()
    {
        long seq = _sequence++;
        var slot = _world.Join(seq, InProcessWorld.CollectiveKind.Barrier, Rank, ReadOnlySpan<float>.Empty, root: 0);
        Stats.RecordFloats(0, 1, globalSync: true);
        _world.TryComplete(seq, slot, Span<float>.Empty, block: true, Stats);
    }

    public void Dispose()
    {
    }

    // A ring all-reduce sends 2·d·(n−1)/n floats per worker (brief §1.2).
    private void RecordAllReduce(int length) => Stats.RecordFloats(2L * length * (Size - 1) / Size, 1, globalSync: true);

    private void CheckRank(int rank, string name)
    {
        if (rank < 0 || rank >= Size) throw new ArgumentOutOfRangeException(name, rank, $"rank must lie in [0, {Size}).");
    }

    private sealed class Pending(InProcessCommunicator owner, long sequence, InProcessWorld.CollectiveSlot slot, PinnedBuffer buffer) : IPendingOperation
    {
        private bool _done;

        public bool Test()
        {
            if (!_done) _done = owner._world.TryComplete(sequence, slot, buffer.Span, block: false, owner.Stats);
            return _done;
        }

        public void Wait()
        {
            if (!_done) _done = owner._world.TryComplete(sequence, slot, buffer.Span, block: true, owner.Stats);
        }
    }
}
