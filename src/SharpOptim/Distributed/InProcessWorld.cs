using System.Diagnostics;

namespace SharpOptim.Distributed;

/// <summary>
/// n simulated workers inside one process (../shared/papers/distributed.md §16, "InProcessCommunicator"): each rank
/// gets an <see cref="ICommunicator"/> from <see cref="Communicator"/>, normally on its own thread
/// (<see cref="Run(int, Action{ICommunicator}, TimeSpan?)"/>). Collectives are matched by call order; an all-reduce sums the ranks' contributions in rank
/// order in float64 and rounds once to float32, and every rank receives the same bits, so runs are reproducible
/// whatever the thread timing. Point-to-point messages are buffered (copied at send), first in first out per
/// (source, destination, tag), so exchanges never deadlock. Every wait has a timeout, and a rank that throws faults
/// the world: the others' pending calls end with an error instead of hanging.
/// </summary>
public sealed class InProcessWorld
{
    private readonly object _gate = new();
    private readonly Dictionary<long, CollectiveSlot> _collectives = new();
    private readonly Dictionary<(int Source, int Destination, int Tag), Queue<float[]>> _mailboxes = new();
    private readonly InProcessCommunicator[] _ranks;
    private Exception? _fault;

    /// <summary>A world of <paramref name="size"/> ranks whose blocking calls give up after <paramref name="timeout"/> (default 60 s).</summary>
    public InProcessWorld(int size, TimeSpan? timeout = null)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "a world needs at least one rank.");
        Timeout = timeout ?? TimeSpan.FromSeconds(60);
        if (Timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "the timeout must be positive.");
        Size = size;
        _ranks = new InProcessCommunicator[size];
        for (int r = 0; r < size; r++) _ranks[r] = new InProcessCommunicator(this, r);
    }

    /// <summary>Number of ranks.</summary>
    public int Size { get; }

    /// <summary>How long a blocking call waits for the other ranks before it fails.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>The communicator of rank <paramref name="rank"/> (the same object on every call).</summary>
    public ICommunicator Communicator(int rank)
    {
        if (rank < 0 || rank >= Size) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must lie in [0, {Size}).");
        return _ranks[rank];
    }

    /// <summary>
    /// Runs <paramref name="worker"/> once per rank, each on its own thread, and returns when all have finished. If a
    /// worker throws, the world is faulted (the others' blocked calls fail at once) and the first failure is rethrown.
    /// </summary>
    public static void Run(int size, Action<ICommunicator> worker, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var world = new InProcessWorld(size, timeout);
        world.Run(worker);
    }

    /// <summary>Runs <paramref name="worker"/> on every rank of this world (see the static overload).</summary>
    public void Run(Action<ICommunicator> worker)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var errors = new Exception?[Size];
        var threads = new Thread[Size];
        for (int r = 0; r < Size; r++)
        {
            int rank = r;
            threads[r] = new Thread(() =>
            {
                try { worker(_ranks[rank]); }
                catch (Exception e)
                {
                    errors[rank] = e;
                    Fault(new InvalidOperationException($"rank {rank} failed: {e.Message}", e));
                }
            }) { IsBackground = true, Name = $"sharpoptim-rank-{rank}" };
            threads[r].Start();
        }
        foreach (var t in threads) t.Join();
        // Prefer the failure that started it over the ones it caused on other ranks.
        var first = errors.FirstOrDefault(e => e is not null && e is not WorldFaultedException) ?? errors.FirstOrDefault(e => e is not null);
        if (first is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
    }

    /// <summary>Marks the world failed: every pending and later blocking call throws, naming <paramref name="cause"/>.</summary>
    public void Fault(Exception cause)
    {
        ArgumentNullException.ThrowIfNull(cause);
        lock (_gate)
        {
            _fault ??= cause;
            Monitor.PulseAll(_gate);
        }
    }

    internal CollectiveSlot Join(long sequence, CollectiveKind kind, int rank, ReadOnlySpan<float> contribution, int root)
    {
        lock (_gate)
        {
            ThrowIfFaulted();
            if (!_collectives.TryGetValue(sequence, out var slot))
            {
                slot = new CollectiveSlot(kind, contribution.Length, root, Size);
                _collectives[sequence] = slot;
            }
            else if (slot.Kind != kind || slot.Length != contribution.Length || slot.Root != root)
            {
                var e = new InvalidOperationException(FormattableString.Invariant(
                    $"collective #{sequence}: rank {rank} called {kind} of {contribution.Length} floats (root {root}) while another rank called {slot.Kind} of {slot.Length} floats (root {slot.Root}); every rank must make the same collective calls in the same order."));
                _fault ??= e;
                Monitor.PulseAll(_gate);
                throw e;
            }
            slot.Contributions[rank] = contribution.ToArray();
            slot.Arrived++;
            Monitor.PulseAll(_gate);
            return slot;
        }
    }

    /// <summary>Completes the calling rank's part of a collective if (or once, when <paramref name="block"/>) all ranks arrived.</summary>
    internal bool TryComplete(long sequence, CollectiveSlot slot, Span<float> output, bool block, CommunicationStats stats)
    {
        var clock = Stopwatch.StartNew();
        lock (_gate)
        {
            var deadline = DateTime.UtcNow + Timeout;
            while (slot.Arrived < Size)
            {
                ThrowIfFaulted();
                if (!block) return false;
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    throw new TimeoutException(FormattableString.Invariant($"collective #{sequence} ({slot.Kind}): only {slot.Arrived} of {Size} ranks arrived within {Timeout.TotalSeconds:0.#} s."));
                Monitor.Wait(_gate, left);
            }
            ThrowIfFaulted();
            slot.Result ??= slot.Kind switch
            {
                CollectiveKind.AllReduceSum => SumInRankOrder(slot.Contributions),
                CollectiveKind.Broadcast => slot.Contributions[slot.Root]!,
                _ => Array.Empty<float>(),
            };
            slot.Result.CopyTo(output);
            if (++slot.Completed == Size) _collectives.Remove(sequence);
        }
        stats.RecordBlocked(clock.Elapsed);
        return true;
    }

    internal void Post(int source, int destination, int tag, ReadOnlySpan<float> payload)
    {
        lock (_gate)
        {
            ThrowIfFaulted();
            var key = (source, destination, tag);
            if (!_mailboxes.TryGetValue(key, out var queue)) _mailboxes[key] = queue = new Queue<float[]>();
            queue.Enqueue(payload.ToArray());
            Monitor.PulseAll(_gate);
        }
    }

    internal void Take(int source, int destination, int tag, Span<float> into, CommunicationStats stats)
    {
        var clock = Stopwatch.StartNew();
        lock (_gate)
        {
            var key = (source, destination, tag);
            var deadline = DateTime.UtcNow + Timeout;
            Queue<float[]>? queue;
            while (!_mailboxes.TryGetValue(key, out queue) || queue.Count == 0)
            {
                ThrowIfFaulted();
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    throw new TimeoutException(FormattableString.Invariant($"rank {destination}: no message from rank {source} with tag {tag} within {Timeout.TotalSeconds:0.#} s."));
                Monitor.Wait(_gate, left);
            }
            var message = queue.Dequeue();
            if (message.Length != into.Length)
                throw new InvalidOperationException(FormattableString.Invariant($"rank {destination}: the message from rank {source} (tag {tag}) has {message.Length} floats but the receive buffer has {into.Length}."));
            message.CopyTo(into);
        }
        stats.RecordBlocked(clock.Elapsed);
    }

    private static float[] SumInRankOrder(float[]?[] contributions)
    {
        int length = contributions[0]!.Length;
        var sum = new double[length];
        foreach (var c in contributions)
            for (int i = 0; i < length; i++) sum[i] += c![i];
        var result = new float[length];
        for (int i = 0; i < length; i++) result[i] = (float)sum[i];
        return result;
    }

    private void ThrowIfFaulted()
    {
        if (_fault is not null) throw new WorldFaultedException(_fault);
    }

    internal enum CollectiveKind { AllReduceSum, Broadcast, Barrier }

    internal sealed class CollectiveSlot(CollectiveKind kind, int length, int root, int size)
    {
        public CollectiveKind Kind { get; } = kind;
        public int Length { get; } = length;
        public int Root { get; } = root;
        public float[]?[] Contributions { get; } = new float[]?[size];
        public int Arrived { get; set; }
        public int Completed { get; set; }
        public float[]? Result { get; set; }
    }
}
