using System.Diagnostics;

namespace SharpOptim.Distributed;

/// <summary>
/// A thin timing decorator of any <see cref="ICommunicator"/>: every call is passed unchanged to the wrapped
/// communicator (same buffers, same order, same traffic counts — <see cref="Stats"/> is the wrapped one's), and its
/// entry and exit timestamps are appended to <see cref="Calls"/> as a <see cref="TimedCall"/>. Nothing else changes, so
/// an algorithm gives the same bits with and without it. <see cref="TimeBreakdown"/> turns the calls of all ranks into
/// compute, communication and blocked-in-wait time (../shared/papers/distributed.md §1.2, "wall clock split").
/// <para>Recording window: <see cref="StartWindow"/>/<see cref="StopWindow"/> delimit the stretches of wall time that
/// are measured (a driver leaves its evaluations out); <see cref="WindowTicks"/> is their total, and every call is
/// marked with whether it lay inside one. Calls outside a window are recorded too (their timestamps let other ranks'
/// messages be matched) but are not counted.</para>
/// <para>Costs: two <see cref="Stopwatch.GetTimestamp"/> reads and one small record per call; not thread-safe (one per
/// rank, as the communicators).</para>
/// </summary>
public sealed class TimedCommunicator : ICommunicator
{
    private readonly ICommunicator _inner;
    private readonly List<TimedCall> _calls = new();
    private long _collectives;
    private long _windowStart = -1;
    private long _windowTicks;

    /// <summary>Wraps <paramref name="inner"/> (not owned: <see cref="Dispose"/> does not dispose it).</summary>
    public TimedCommunicator(ICommunicator inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
    }

    /// <summary>The wrapped communicator.</summary>
    public ICommunicator Inner => _inner;

    /// <inheritdoc />
    public int Rank => _inner.Rank;

    /// <inheritdoc />
    public int Size => _inner.Size;

    /// <summary>The wrapped communicator's statistics (this decorator adds no traffic).</summary>
    public CommunicationStats Stats => _inner.Stats;

    /// <summary>Every call made so far, in call order.</summary>
    public IReadOnlyList<TimedCall> Calls => _calls;

    /// <summary>Whether a recording window is open.</summary>
    public bool InWindow => _windowStart >= 0;

    /// <summary>Total ticks (<see cref="Stopwatch.Frequency"/> per second) of the closed recording windows.</summary>
    public long WindowTicks => _windowTicks;

    /// <summary>Opens a recording window (no effect if one is open).</summary>
    public void StartWindow()
    {
        if (_windowStart < 0) _windowStart = Stopwatch.GetTimestamp();
    }

    /// <summary>Closes the recording window and adds its length to <see cref="WindowTicks"/> (no effect if none is open).</summary>
    public void StopWindow()
    {
        if (_windowStart < 0) return;
        _windowTicks += Stopwatch.GetTimestamp() - _windowStart;
        _windowStart = -1;
    }

    /// <inheritdoc />
    public void AllReduceSum(Span<float> buffer)
    {
        long seq = _collectives++;
        long entry = Stopwatch.GetTimestamp();
        _inner.AllReduceSum(buffer);
        Add(TimedCallKind.AllReduce, seq, 0, [], [], entry);
    }

    /// <inheritdoc />
    public IPendingOperation AllReduceSumAsync(PinnedBuffer buffer)
    {
        long seq = _collectives++;
        long entry = Stopwatch.GetTimestamp();
        var op = _inner.AllReduceSumAsync(buffer);
        Add(TimedCallKind.AllReduceStart, seq, 0, [], [], entry);
        return new TimedPending(this, op, seq);
    }

    /// <inheritdoc />
    public void SendReceive(ReadOnlySpan<float> send, int destination, Span<float> receive, int source, int tag)
    {
        long entry = Stopwatch.GetTimestamp();
        _inner.SendReceive(send, destination, receive, source, tag);
        Add(TimedCallKind.SendReceive, -1, tag, [source], [destination], entry);
    }

    /// <inheritdoc />
    public void NeighbourExchange(ReadOnlySpan<float> send, IReadOnlyList<int> outNeighbours, IReadOnlyList<int> inNeighbours,
        Span<float> receiveConcatenated, int tag)
    {
        long entry = Stopwatch.GetTimestamp();
        _inner.NeighbourExchange(send, outNeighbours, inNeighbours, receiveConcatenated, tag);
        Add(TimedCallKind.NeighbourExchange, -1, tag, inNeighbours.ToArray(), outNeighbours.ToArray(), entry);
    }

    /// <inheritdoc />
    public void Broadcast(Span<float> buffer, int root)
    {
        long seq = _collectives++;
        long entry = Stopwatch.GetTimestamp();
        _inner.Broadcast(buffer, root);
        Add(TimedCallKind.Broadcast, seq, 0, [], [], entry);
    }

    /// <inheritdoc />
    public void Barrier()
    {
        long seq = _collectives++;
        long entry = Stopwatch.GetTimestamp();
        _inner.Barrier();
        Add(TimedCallKind.Barrier, seq, 0, [], [], entry);
    }

    /// <summary>Does nothing: the wrapped communicator belongs to the caller.</summary>
    public void Dispose()
    {
    }

    // A call that throws is not recorded: the run is failing anyway, and a half call has no meaningful exit time.
    private void Add(TimedCallKind kind, long collective, int tag, int[] sources, int[] destinations, long entry) =>
        _calls.Add(new TimedCall(kind, collective, tag, sources, destinations, entry, Stopwatch.GetTimestamp(), InWindow));

    private sealed class TimedPending(TimedCommunicator owner, IPendingOperation inner, long collective) : IPendingOperation
    {
        public bool Test()
        {
            long entry = Stopwatch.GetTimestamp();
            bool done = inner.Test();
            owner.Add(TimedCallKind.AllReduceTest, collective, 0, [], [], entry);
            return done;
        }

        public void Wait()
        {
            long entry = Stopwatch.GetTimestamp();
            inner.Wait();
            owner.Add(TimedCallKind.AllReduceWait, collective, 0, [], [], entry);
        }
    }
}
