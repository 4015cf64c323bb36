using System.Threading;

namespace SharpOptim.Kernels;

/// <summary>
/// A piece of elementwise work over the index range [start, end) of flat float32 buffers.
/// Implementations hold raw pointers set by the caller just before <see cref="ChunkedParallel.Run"/>,
/// so that a step allocates nothing.
/// </summary>
internal abstract class ChunkJob
{
    public abstract void Run(long start, long end);
}

/// <summary>
/// Runs a <see cref="ChunkJob"/> over contiguous slices on a fixed set of worker threads.
/// The workers are created once; dispatching a job allocates nothing, unlike Parallel.For.
/// Slices are aligned to 64 elements so SIMD main loops stay full and no two threads share a cache line.
/// Waiting never spins (the events are created with a spin count of 0): a spinning waiter burns the time slice that
/// the thread it waits for needs when another process holds the cores (the collapse libgomp's spinning caused, see
/// <see cref="CpuThreads"/>); the old spin count of 2000 kept a worker busy for milliseconds after each job. A futex wake costs tens of microseconds, small beside the hundreds of
/// microseconds a job this large takes (see <see cref="SerialThreshold"/>). <see cref="CpuThreads.SetThreads"/>
/// sets <see cref="MaxThreads"/>.
/// </summary>
internal static class ChunkedParallel
{
    /// <summary>Below this many elements a job runs on the calling thread: waking workers costs more than it saves.</summary>
    public const long SerialThreshold = 1 << 15;

    private static readonly object Gate = new();
    private static Worker[] _workers = Array.Empty<Worker>();
    private static int _maxThreads = Environment.ProcessorCount;

    /// <summary>Threads used for one job, the calling thread included (at least 1).</summary>
    public static int MaxThreads
    {
        get => _maxThreads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), value, "Thread count must be at least 1.");
            _maxThreads = value;
        }
    }

    public static void Run(ChunkJob job, long length)
    {
        int threads = (int)Math.Min(_maxThreads, Math.Max(1, length / SerialThreshold));
        if (threads <= 1)
        {
            job.Run(0, length);
            return;
        }

        lock (Gate)
        {
            EnsureWorkers(threads - 1);
            long per = ((length + threads - 1) / threads + 63) & ~63L;
            var done = Done;
            done.Reset();
            int posted = 0;
            for (int t = 1; t < threads; t++)
            {
                long s = per * t;
                if (s >= length) break;
                posted++;
            }
            Volatile.Write(ref _pending, posted);
            _error = null;
            for (int t = 1; t <= posted; t++)
            {
                long s = per * t;
                _workers[t - 1].Post(job, s, Math.Min(length, s + per));
            }
            try
            {
                job.Run(0, Math.Min(length, per));
            }
            finally
            {
                if (posted > 0) done.Wait();
            }
            if (_error is { } e) throw new AggregateException("A fused kernel worker failed.", e);
        }
    }

    /// <summary>Spin iterations before a wait blocks: none, see the class remarks.</summary>
    internal const int WaitSpinCount = 0;

    private static readonly ManualResetEventSlim Done = new(false, WaitSpinCount);
    private static int _pending;
    private static Exception? _error;

    private static void EnsureWorkers(int count)
    {
        if (_workers.Length >= count) return;
        var grown = new Worker[count];
        Array.Copy(_workers, grown, _workers.Length);
        for (int i = _workers.Length; i < count; i++) grown[i] = new Worker(i);
        _workers = grown;
    }

    private sealed class Worker
    {
        private readonly ManualResetEventSlim _go = new(false, WaitSpinCount);
        private ChunkJob? _job;
        private long _start, _end;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"SharpOptim kernel worker {index}" };
            thread.Start();
        }

        public void Post(ChunkJob job, long start, long end)
        {
            _job = job;
            _start = start;
            _end = end;
            _go.Set();
        }

        private void Loop()
        {
            while (true)
            {
                _go.Wait();
                _go.Reset();
                try
                {
                    _job!.Run(_start, _end);
                }
                catch (Exception e)
                {
                    _error = e;
                }
                finally
                {
                    _job = null;
                    if (Interlocked.Decrement(ref _pending) == 0) Done.Set();
                }
            }
        }
    }
}
