using System.Diagnostics;

namespace SharpOptim.Distributed.Mpi;

/// <summary>An <c>MPI_Iallreduce</c> in flight. Keeps its <see cref="PinnedBuffer"/> referenced until completion
/// (the native side writes into it); Open MPI resets the request handle to <c>MPI_REQUEST_NULL</c> when it completes,
/// so the handle lives in a field passed by reference.</summary>
internal sealed class MpiPendingAllReduce : IPendingOperation
{
    private readonly MpiCommunicator _owner;
    private IntPtr _request;

    public MpiPendingAllReduce(MpiCommunicator owner, PinnedBuffer buffer, IntPtr request)
    {
        _owner = owner;
        Buffer = buffer;
        _request = request;
    }

    /// <summary>The buffer being reduced in place.</summary>
    public PinnedBuffer Buffer { get; }

    /// <summary>True once the operation has completed.</summary>
    public bool Completed { get; private set; }

    /// <summary><c>MPI_Test</c>: never blocks, and gives Open MPI's non-blocking collectives the chance to progress.</summary>
    public bool Test()
    {
        if (Completed) return true;
        _owner.EnsureUsable();
        MpiNative.Check(MpiNative.MPI_Test(ref _request, out int flag, MpiNative.StatusIgnore), "MPI_Test");
        if (flag != 0) Completed = true;
        return Completed;
    }

    /// <summary><c>MPI_Wait</c>; the time it blocks is added to the communicator's <see cref="CommunicationStats.Blocked"/>.</summary>
    public void Wait()
    {
        if (Completed) return;
        _owner.EnsureUsable();
        long start = Stopwatch.GetTimestamp();
        MpiNative.Check(MpiNative.MPI_Wait(ref _request, MpiNative.StatusIgnore), "MPI_Wait");
        _owner.Stats.RecordBlocked(Stopwatch.GetElapsedTime(start));
        Completed = true;
    }
}
