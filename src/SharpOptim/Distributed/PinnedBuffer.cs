namespace SharpOptim.Distributed;

/// <summary>
/// A float32 buffer on the pinned object heap: its address never moves, so a native non-blocking call (MPI's
/// <c>Iallreduce</c>) may keep reading and writing it after the call that started it has returned.
/// </summary>
public sealed class PinnedBuffer
{
    /// <summary>A zeroed buffer of <paramref name="length"/> floats.</summary>
    public PinnedBuffer(int length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "a buffer length must not be negative.");
        Array = GC.AllocateArray<float>(length, pinned: true);
    }

    /// <summary>The pinned array.</summary>
    public float[] Array { get; }

    /// <summary>Number of floats.</summary>
    public int Length => Array.Length;

    /// <summary>The whole buffer as a span.</summary>
    public Span<float> Span => Array;
}
