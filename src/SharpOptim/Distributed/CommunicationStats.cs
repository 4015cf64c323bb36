namespace SharpOptim.Distributed;

/// <summary>
/// Traffic one worker has caused, counted by the brief's conventions (../shared/papers/distributed.md §1.2): a ring
/// all-reduce of d floats counts 2·d·(n−1)/n floats sent per worker; a gossip round sends d floats to each
/// out-neighbour; a pairwise exchange d floats to the partner; a broadcast d floats per non-root rank, counted at the
/// root. Quantized payloads are counted in <see cref="BytesSent"/> at their bit width. <see cref="Blocked"/> is the
/// wall time spent inside blocking calls and waits (what NoLoCo and CO2 reduce). Not thread-safe: one per worker.
/// </summary>
public sealed class CommunicationStats
{
    /// <summary>Floats sent (float32 equivalents).</summary>
    public long FloatsSent { get; private set; }

    /// <summary>Payload bytes sent (4 per float unless a quantized payload was recorded).</summary>
    public long BytesSent { get; private set; }

    /// <summary>Messages (or collective calls) issued.</summary>
    public long MessagesSent { get; private set; }

    /// <summary>Largest payload in bytes of a single synchronisation (what Streaming DiLoCo reduces).</summary>
    public long PeakBytesPerSync { get; private set; }

    /// <summary>Number of global synchronisations (all-reduce, broadcast, barrier).</summary>
    public long GlobalSyncs { get; private set; }

    /// <summary>Wall time spent blocked in communication.</summary>
    public TimeSpan Blocked { get; private set; }

    /// <summary>Records one message or collective of <paramref name="floats"/> float32 values.</summary>
    public void RecordFloats(long floats, long messages = 1, bool globalSync = false) =>
        RecordBytes(floats, checked(floats * sizeof(float)), messages, globalSync);

    /// <summary>Records a payload of <paramref name="bytes"/> bytes standing for <paramref name="floats"/> values (quantized).</summary>
    public void RecordBytes(long floats, long bytes, long messages = 1, bool globalSync = false)
    {
        if (floats < 0) throw new ArgumentOutOfRangeException(nameof(floats), floats, "must not be negative.");
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "must not be negative.");
        if (messages < 0) throw new ArgumentOutOfRangeException(nameof(messages), messages, "must not be negative.");
        FloatsSent += floats;
        BytesSent += bytes;
        MessagesSent += messages;
        if (bytes > PeakBytesPerSync) PeakBytesPerSync = bytes;
        if (globalSync) GlobalSyncs++;
    }

    /// <summary>Adds wall time spent blocked.</summary>
    public void RecordBlocked(TimeSpan time)
    {
        if (time < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(time), time, "must not be negative.");
        Blocked += time;
    }
}
