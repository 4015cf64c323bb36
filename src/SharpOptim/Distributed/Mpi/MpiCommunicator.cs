using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SharpOptim.Distributed.Mpi;

/// <summary>
/// <see cref="ICommunicator"/> on Open MPI (Debian's <c>libmpi.so.40</c>, called through P/Invoke; no home-made
/// transport): one instance per process started by <c>mpirun</c>, over <c>MPI_COMM_WORLD</c>. Every distributed
/// algorithm written against <see cref="ICommunicator"/> runs unchanged on it and on the in-process simulator.
/// </summary>
/// <remarks>
/// <para><b>Entry point.</b> <see cref="RunWorld"/> is the safe way in: it initialises MPI, runs the body, and on an
/// exception prints it and calls <c>MPI_Abort</c> so the other ranks do not wait for ever (a rank that merely finalised
/// would leave them blocked in their next collective); on success it finalises. <see cref="InitializeWorld()"/> gives
/// the bare communicator to callers that manage this themselves. MPI can be initialised once per process and never
/// again after <c>MPI_Finalize</c> (<see cref="Dispose"/>), so unit tests never use this class inside the test host:
/// they start <c>mpirun</c> (see <see cref="MpiJob"/>).</para>
/// <para><b>Calls.</b> <see cref="AllReduceSum"/> = <c>MPI_Allreduce(MPI_IN_PLACE, …, MPI_FLOAT, MPI_SUM)</c>;
/// <see cref="AllReduceSumAsync"/> = <c>MPI_Iallreduce</c> (Open MPI 4.1 advances it only inside MPI calls, so poll
/// <see cref="IPendingOperation.Test"/> between compute steps for real overlap); <see cref="SendReceive"/> =
/// <c>MPI_Sendrecv</c>; <see cref="NeighbourExchange"/> posts <c>MPI_Irecv</c> from every in-neighbour first (in list
/// order), then <c>MPI_Isend</c> to every out-neighbour, then one <c>MPI_Waitall</c>, so any directed graph
/// (the exponential graph) is deadlock-free; <see cref="Broadcast"/> = <c>MPI_Bcast</c>; <see cref="Barrier"/> =
/// <c>MPI_Barrier</c>. Errors come back as codes (<c>MPI_ERRORS_RETURN</c> is set on the communicator) and are raised as
/// <see cref="MpiException"/> naming the call.</para>
/// <para><b>Threads.</b> MPI is initialised at <c>MPI_THREAD_FUNNELED</c>: every call must come from the thread that
/// initialised it (checked; an <see cref="InvalidOperationException"/> otherwise). Never call it from <c>async</c>
/// continuations or finalizers.</para>
/// <para><b>Traffic</b> (<see cref="Stats"/>) follows the brief's §1.2 conventions, the same as the in-process
/// simulator's: an all-reduce of d floats counts <see cref="RingAllReduceFloats"/>(d, n) = ⌊2·d·(n−1)/n⌋ floats per
/// worker (ring all-reduce; Open MPI may choose another algorithm, the convention is what is reported), one message,
/// one global synchronisation; the non-blocking one is counted when it starts; a pairwise exchange d floats and one
/// message; a gossip exchange d floats and one message per out-neighbour; a broadcast (n−1)·d floats at the root and
/// nothing elsewhere, one call and one global synchronisation on every rank; a barrier one call and one global
/// synchronisation. <see cref="CommunicationStats.Blocked"/> is the wall time spent inside every blocking call and
/// <see cref="IPendingOperation.Wait"/>.</para>
/// </remarks>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    private static readonly object Gate = new();
    private static MpiCommunicator? _world;
    private static bool _finalized;

    private readonly IntPtr _comm;
    private readonly IntPtr _float;
    private readonly IntPtr _sum;
    private readonly int _thread;
    private readonly List<MpiPendingAllReduce> _pending = new();
    private bool _disposed;

    private MpiCommunicator(IntPtr comm, int rank, int size, int threadLevel)
    {
        _comm = comm;
        _float = MpiNative.Predefined("ompi_mpi_float");
        _sum = MpiNative.Predefined("ompi_mpi_op_sum");
        Rank = rank;
        Size = size;
        ThreadLevel = threadLevel;
        _thread = Environment.CurrentManagedThreadId;
    }

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size { get; }

    /// <summary>The thread support MPI granted (≥ 1, <c>MPI_THREAD_FUNNELED</c>).</summary>
    public int ThreadLevel { get; }

    /// <inheritdoc />
    public CommunicationStats Stats { get; } = new();

    /// <summary>Open MPI's communicator handle (the address of <c>ompi_mpi_comm_world</c>); for raw calls of the benchmark.</summary>
    internal IntPtr Handle => _comm;

    /// <summary>The handle of <c>MPI_FLOAT</c>.</summary>
    internal IntPtr FloatType => _float;

    /// <summary>The handle of <c>MPI_SUM</c>.</summary>
    internal IntPtr SumOp => _sum;

    /// <summary>
    /// Initialises MPI (<c>MPI_Init_thread</c> at <c>MPI_THREAD_FUNNELED</c>) and returns the communicator over all the
    /// processes that <c>mpirun</c> started. Call it from the thread that will make every MPI call. A second call while
    /// the communicator is alive returns the same instance. On failure of the caller's code, call <see cref="Abort"/>
    /// (or use <see cref="RunWorld"/>, which does).
    /// </summary>
    /// <exception cref="InvalidOperationException">The process was not started by <c>mpirun</c>, Open MPI is missing
    /// (the message says how to install it), or MPI was already finalised in this process.</exception>
    public static MpiCommunicator InitializeWorld()
    {
        lock (Gate)
        {
            if (_world is { _disposed: false }) return _world;
            if (_finalized)
                throw new InvalidOperationException("MPI was already finalised in this process, and MPI cannot be initialised twice; start a new process.");
            if (!MpiRuntime.IsLaunchedByMpirun)
                throw new InvalidOperationException("this process was not started by mpirun (OMPI_COMM_WORLD_SIZE is not set): run it as `mpirun -np N ... COMMAND` (see README, Open MPI).");
            if (MpiRuntime.UnavailableReason is { } reason) throw new InvalidOperationException(reason);

            MpiNative.Check(MpiNative.MPI_Initialized(out int already), "MPI_Initialized");
            if (already != 0) throw new InvalidOperationException("MPI was initialised outside MpiCommunicator; it cannot be initialised twice.");
            MpiNative.Check(MpiNative.MPI_Init_thread(IntPtr.Zero, IntPtr.Zero, MpiNative.ThreadFunneled, out int provided), "MPI_Init_thread");
            IntPtr comm = MpiNative.Predefined("ompi_mpi_comm_world");
            if (provided < MpiNative.ThreadFunneled)
            {
                MpiNative.MPI_Finalize();
                _finalized = true;
                throw new InvalidOperationException($"MPI_Init_thread granted thread level {provided}, below MPI_THREAD_FUNNELED (1).");
            }
            MpiNative.Check(MpiNative.MPI_Comm_set_errhandler(comm, MpiNative.Predefined("ompi_mpi_errors_return")), "MPI_Comm_set_errhandler");
            MpiNative.Check(MpiNative.MPI_Comm_rank(comm, out int rank), "MPI_Comm_rank");
            MpiNative.Check(MpiNative.MPI_Comm_size(comm, out int size), "MPI_Comm_size");
            _world = new MpiCommunicator(comm, rank, size, provided);
            // A rank dying of an unhandled exception must take the job down, not leave the others blocked.
            AppDomain.CurrentDomain.UnhandledException += AbortOnUnhandled;
            return _world;
        }
    }

    /// <summary>
    /// Initialises MPI and checks that <c>mpirun</c> started <paramref name="expectedSize"/> ranks; when it did not,
    /// every rank (all see the same size) finalises MPI and throws, so the job ends at once with that message.
    /// </summary>
    /// <exception cref="ArgumentException">The world size differs from <paramref name="expectedSize"/>.</exception>
    public static MpiCommunicator InitializeWorld(int expectedSize)
    {
        if (expectedSize < 1) throw new ArgumentOutOfRangeException(nameof(expectedSize), expectedSize, "the expected number of workers must be at least 1.");
        var world = InitializeWorld();
        if (world.Size != expectedSize)
        {
            int size = world.Size;
            world.Dispose();
            throw new ArgumentException($"world size mismatch: {expectedSize} workers were asked for, but mpirun started {size} ranks (mpirun -np {expectedSize} ...).", nameof(expectedSize));
        }
        return world;
    }

    /// <summary>
    /// The recommended entry point for a process started by <c>mpirun</c>: initialises MPI, runs
    /// <paramref name="body"/> with the world communicator and finalises MPI after it returns. If the body throws, the
    /// exception is written to <paramref name="error"/> (prefixed with the rank) and the whole job is aborted with
    /// <c>MPI_Abort(MPI_COMM_WORLD, 1)</c>, which ends every rank instead of leaving them blocked.
    /// </summary>
    /// <returns>The body's exit code.</returns>
    public static int RunWorld(Func<MpiCommunicator, int> body, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(error);
        var world = InitializeWorld();
        int code;
        try
        {
            code = body(world);
        }
        catch (Exception e)
        {
            error.WriteLine($"rank {world.Rank} of {world.Size} failed: {e.GetType().Name}: {e.Message}");
            error.Flush();
            world.Abort(1);
            throw; // not reached: MPI_Abort ends the process
        }
        world.Dispose();
        return code;
    }

    /// <summary>Seconds on MPI's wall clock (<c>MPI_Wtime</c>).</summary>
    public static double WallTime() => MpiNative.MPI_Wtime();

    /// <summary>
    /// The traffic convention of a ring all-reduce of <paramref name="floats"/> values among <paramref name="size"/>
    /// workers: each sends ⌊2·d·(n−1)/n⌋ floats (reduce-scatter then all-gather, each moving (n−1)/n of the buffer).
    /// </summary>
    public static long RingAllReduceFloats(long floats, int size)
    {
        if (floats < 0) throw new ArgumentOutOfRangeException(nameof(floats), floats, "must not be negative.");
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "must be at least 1.");
        return checked(2 * floats * (size - 1)) / size;
    }

    /// <inheritdoc />
    public void AllReduceSum(Span<float> buffer)
    {
        EnsureUsable();
        long start = Stopwatch.GetTimestamp();
        fixed (float* p = buffer)
            MpiNative.Check(MpiNative.MPI_Allreduce((void*)MpiNative.InPlace, p, buffer.Length, _float, _sum, _comm), "MPI_Allreduce");
        Stats.RecordBlocked(Stopwatch.GetElapsedTime(start));
        Stats.RecordFloats(RingAllReduceFloats(buffer.Length, Size), messages: 1, globalSync: true);
    }

    /// <inheritdoc />
    public IPendingOperation AllReduceSumAsync(PinnedBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        EnsureUsable();
        if (_pending.Any(p => !p.Completed && ReferenceEquals(p.Buffer, buffer)))
            throw new ArgumentException("this buffer is already in a non-blocking all-reduce that has not completed; Wait for it first.", nameof(buffer));
        // The array lives on the pinned object heap, so this address stays valid after the fixed block ends.
        IntPtr request;
        fixed (float* p = buffer.Array)
            MpiNative.Check(MpiNative.MPI_Iallreduce((void*)MpiNative.InPlace, p, buffer.Length, _float, _sum, _comm, out request), "MPI_Iallreduce");
        Stats.RecordFloats(RingAllReduceFloats(buffer.Length, Size), messages: 1, globalSync: true);
        _pending.RemoveAll(p => p.Completed);
        var op = new MpiPendingAllReduce(this, buffer, request);
        _pending.Add(op);
        return op;
    }

    /// <inheritdoc />
    public void SendReceive(ReadOnlySpan<float> send, int destination, Span<float> receive, int source, int tag)
    {
        CheckRank(destination, nameof(destination));
        CheckRank(source, nameof(source));
        CheckTag(tag);
        EnsureUsable();
        long start = Stopwatch.GetTimestamp();
        fixed (float* s = send)
        fixed (float* r = receive)
            MpiNative.Check(MpiNative.MPI_Sendrecv(s, send.Length, _float, destination, tag, r, receive.Length, _float, source, tag, _comm, MpiNative.StatusIgnore), "MPI_Sendrecv");
        Stats.RecordBlocked(Stopwatch.GetElapsedTime(start));
        Stats.RecordFloats(send.Length, messages: 1);
    }

    /// <inheritdoc />
    public void NeighbourExchange(ReadOnlySpan<float> send, IReadOnlyList<int> outNeighbours, IReadOnlyList<int> inNeighbours,
        Span<float> receiveConcatenated, int tag)
    {
        ArgumentNullException.ThrowIfNull(outNeighbours);
        ArgumentNullException.ThrowIfNull(inNeighbours);
        for (int k = 0; k < outNeighbours.Count; k++) CheckRank(outNeighbours[k], nameof(outNeighbours));
        for (int k = 0; k < inNeighbours.Count; k++) CheckRank(inNeighbours[k], nameof(inNeighbours));
        CheckTag(tag);
        long expected = (long)inNeighbours.Count * send.Length;
        if (receiveConcatenated.Length != expected)
            throw new ArgumentException($"the receive buffer holds {receiveConcatenated.Length} floats, but {inNeighbours.Count} in-neighbours × {send.Length} floats = {expected} are received.", nameof(receiveConcatenated));
        EnsureUsable();
        int count = inNeighbours.Count + outNeighbours.Count;
        var requests = new IntPtr[count];
        int d = send.Length;
        long start = Stopwatch.GetTimestamp();
        fixed (float* s = send)
        fixed (float* r = receiveConcatenated)
        fixed (IntPtr* req = requests)
        {
            int posted = 0;
            try
            {
                // Receives first, in the fixed in-neighbour order, then sends: no ordering between ranks can deadlock.
                for (int k = 0; k < inNeighbours.Count; k++, posted++)
                    MpiNative.Check(MpiNative.MPI_Irecv(r + (long)k * d, d, _float, inNeighbours[k], tag, _comm, out req[posted]), "MPI_Irecv");
                for (int k = 0; k < outNeighbours.Count; k++, posted++)
                    MpiNative.Check(MpiNative.MPI_Isend(s, d, _float, outNeighbours[k], tag, _comm, out req[posted]), "MPI_Isend");
            }
            finally
            {
                // Requests already posted must complete before their buffers are released (also on an error).
                if (posted < count && posted > 0) MpiNative.MPI_Waitall(posted, req, IntPtr.Zero);
            }
            MpiNative.Check(MpiNative.MPI_Waitall(count, req, IntPtr.Zero), "MPI_Waitall");
        }
        Stats.RecordBlocked(Stopwatch.GetElapsedTime(start));
        Stats.RecordFloats((long)outNeighbours.Count * d, messages: outNeighbours.Count);
    }

    /// <inheritdoc />
    public void Broadcast(Span<float> buffer, int root)
    {
        CheckRank(root, nameof(root));
        EnsureUsable();
        long start = Stopwatch.GetTimestamp();
        fixed (float* p = buffer)
            MpiNative.Check(MpiNative.MPI_Bcast(p, buffer.Length, _float, root, _comm), "MPI_Bcast");
        Stats.RecordBlocked(Stopwatch.GetElapsedTime(start));
        Stats.RecordFloats(Rank == root ? (long)(Size - 1) * buffer.Length : 0, messages: 1, globalSync: true);
    }

    /// <inheritdoc />
    public void Barrier()
    {
        EnsureUsable();
        long start = Stopwatch.GetTimestamp();
        MpiNative.Check(MpiNative.MPI_Barrier(_comm), "MPI_Barrier");
        Stats.RecordBlocked(Stopwatch.GetElapsedTime(start));
        Stats.RecordFloats(0, messages: 1, globalSync: true);
    }

    /// <summary>Ends every process of the job (<c>MPI_Abort(MPI_COMM_WORLD, code)</c>); what to call when this rank
    /// cannot go on, so that the others do not wait for it for ever. Does not return.</summary>
    public void Abort(int code)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        MpiNative.MPI_Abort(_comm, code);
        Environment.Exit(code); // MPI_Abort does not return on Open MPI; this keeps the contract if it ever does.
    }

    /// <summary>Completes outstanding non-blocking operations and finalises MPI (<c>MPI_Finalize</c>, collective:
    /// every rank must reach it). MPI cannot be used again in this process afterwards.</summary>
    public void Dispose()
    {
        lock (Gate)
        {
            if (_disposed) return;
            EnsureUsable();
            foreach (var op in _pending) op.Wait();
            _pending.Clear();
            _disposed = true;
            _finalized = true;
            AppDomain.CurrentDomain.UnhandledException -= AbortOnUnhandled;
            MpiNative.Check(MpiNative.MPI_Finalize(), "MPI_Finalize");
        }
    }

    /// <summary>Throws unless the communicator is alive and called from the thread that initialised MPI.</summary>
    internal void EnsureUsable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Environment.CurrentManagedThreadId != _thread)
            throw new InvalidOperationException($"MPI was initialised at MPI_THREAD_FUNNELED on managed thread {_thread}; this call came from thread {Environment.CurrentManagedThreadId}. Make every MPI call from the initialising thread.");
    }

    private void CheckRank(int rank, string name)
    {
        if (rank < 0 || rank >= Size) throw new ArgumentOutOfRangeException(name, rank, $"a rank must be in [0, {Size}).");
    }

    private static void CheckTag(int tag)
    {
        // MPI guarantees tags up to 32767 (MPI_TAG_UB is at least that); negative tags are reserved.
        if (tag < 0 || tag > 32767) throw new ArgumentOutOfRangeException(nameof(tag), tag, "an MPI tag must be in [0, 32767].");
    }

    private static void AbortOnUnhandled(object? sender, UnhandledExceptionEventArgs e)
    {
        var world = _world;
        if (world is null || world._disposed) return;
        Console.Error.WriteLine($"rank {world.Rank} of {world.Size}: unhandled exception, aborting the MPI job: {e.ExceptionObject}");
        Console.Error.Flush();
        MpiNative.MPI_Abort(world._comm, 1);
    }
}
