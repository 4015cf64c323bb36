using SharpOptim.Kernels;

namespace SharpOptim.Cli;

/// <summary>
/// The <c>--threads N</c> option of every command that trains or times training: applies <see cref="CpuThreads.SetThreads"/>
/// for the command's duration and puts the previous libtorch and fused-kernel thread counts back when disposed (so
/// that commands run in-process, as the tests do, leave no trace).
/// </summary>
public sealed class ThreadsOption : IDisposable
{
    private readonly int _previousTorch;
    private readonly int _previousKernels;

    private readonly string _defaultReason;

    private ThreadsOption(int threads, bool chosen, string defaultReason = "default")
    {
        _defaultReason = defaultReason;
        _previousTorch = TorchSharp.torch.get_num_threads();
        _previousKernels = ChunkedParallel.MaxThreads;
        Threads = threads;
        Chosen = chosen;
        CpuThreads.SetThreads(threads);
    }

    /// <summary>The thread count in use.</summary>
    public int Threads { get; }

    /// <summary>Whether --threads was given (otherwise the command's default applies).</summary>
    public bool Chosen { get; }

    /// <summary>The --threads value when given (1 to 1024; a <see cref="UsageException"/> names a bad value, e.g.
    /// "--threads must be a whole number, got 'abc'."), otherwise null. Commands call it with their other options,
    /// so that a bad value fails before any work.</summary>
    public static int? Requested(Options o) => o.Has("threads") ? (int)o.Long("threads", 1, 1, 1024) : null;

    /// <summary>Applies --threads when given, otherwise <paramref name="fallback"/>.</summary>
    public static ThreadsOption Apply(Options o, int fallback) => Requested(o) is { } n ? new(n, true) : new(fallback, false);

    /// <summary>Applies --threads when given, otherwise <see cref="CpuThreads.DefaultFor"/> the model's parameter count.</summary>
    public static ThreadsOption ForModel(Options o, long parameterCount) =>
        Requested(o) is { } n ? new(n, true) : new(CpuThreads.DefaultFor(parameterCount), false, "default for this model size");

    /// <summary>One line for the command's output: the threads and how OpenMP threads wait.</summary>
    public string Describe() => "threads: " + CpuThreads.Describe() + (Chosen ? " (--threads)" : $" ({_defaultReason}; --threads N to choose)");

    /// <summary>Restores the thread counts found when the option was applied.</summary>
    public void Dispose()
    {
        CpuThreads.SetThreads(_previousTorch);
        ChunkedParallel.MaxThreads = _previousKernels;
    }
}
