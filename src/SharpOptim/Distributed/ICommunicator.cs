namespace SharpOptim.Distributed;

/// <summary>
/// What a worker of a distributed algorithm needs from the engine that connects it to the others: its rank and the
/// world size, all-reduce (blocking and non-blocking), pairwise and neighbour exchange for gossip, broadcast and
/// barrier, and the traffic it caused (<see cref="Stats"/>). Every algorithm in <c>SharpOptim.Distributed</c> is
/// written once, per worker, against this interface, so the same code runs on the in-process simulator (unit tests)
/// and on Open MPI under <c>mpirun</c>, and gives the same numbers on the same seeds.
/// Buffers are float32 (a flat copy of the model's parameters in <c>named_parameters()</c> order). Every call is
/// collective or paired: all ranks (or both partners) must make the matching call, in the same order.
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This worker's index, 0 ≤ Rank &lt; Size.</summary>
    int Rank { get; }

    /// <summary>Number of workers.</summary>
    int Size { get; }

    /// <summary>In-place sum over all ranks: every rank ends with the same element-wise sum.</summary>
    void AllReduceSum(Span<float> buffer);

    /// <summary>
    /// Starts an in-place all-reduce sum of <paramref name="buffer"/> and returns at once; the buffer must not be
    /// read or written until the returned operation completes (<see cref="IPendingOperation.Wait"/>, or
    /// <see cref="IPendingOperation.Test"/> returning true).
    /// </summary>
    IPendingOperation AllReduceSumAsync(PinnedBuffer buffer);

    /// <summary>
    /// Sends <paramref name="send"/> to rank <paramref name="destination"/> and receives
    /// <paramref name="receive"/>.Length floats from rank <paramref name="source"/> in one deadlock-free exchange.
    /// </summary>
    void SendReceive(ReadOnlySpan<float> send, int destination, Span<float> receive, int source, int tag);

    /// <summary>
    /// Gossip exchange: sends <paramref name="send"/> to every rank of <paramref name="outNeighbours"/> and receives
    /// one message of send.Length floats from each rank of <paramref name="inNeighbours"/>, written into
    /// <paramref name="receiveConcatenated"/> in the order of <paramref name="inNeighbours"/>
    /// (length inNeighbours.Count · send.Length).
    /// </summary>
    void NeighbourExchange(ReadOnlySpan<float> send, IReadOnlyList<int> outNeighbours, IReadOnlyList<int> inNeighbours,
        Span<float> receiveConcatenated, int tag);

    /// <summary>Copies <paramref name="buffer"/> of rank <paramref name="root"/> into every rank's buffer.</summary>
    void Broadcast(Span<float> buffer, int root);

    /// <summary>Returns on every rank once all ranks have entered it.</summary>
    void Barrier();

    /// <summary>Traffic and blocking time this worker has caused so far.</summary>
    CommunicationStats Stats { get; }
}
