using System.Runtime.InteropServices;
using SharpOptim.Kernels;

namespace SharpOptim;

/// <summary>
/// How many CPU threads SharpOptim and libtorch use, and how idle threads wait. One process-wide setting for the
/// two thread teams a CPU training step has: libtorch's intra-op threads (OpenMP, libgomp on Linux) and the worker
/// threads of SharpOptim's fused kernels.
/// </summary>
/// <remarks>
/// <para>Why this matters: a thread team waits for its slowest member at the end of every parallel region. When
/// another multi-threaded process holds the cores, one member of the team is often descheduled, and the others
/// either spin (burning the time slice the descheduled one needs) or wait for the scheduler to run it again. With
/// libgomp's default waiting (spin about 300,000 times before sleeping) a small model's step went from 0.1 ms to
/// tens of milliseconds beside a second training process, and a charlm step from about 0.2 s to several seconds.
/// Waiting passively (sleep at once) removes almost all of that; a small model gains nothing from more than one
/// thread anyway.</para>
/// <para>Call <see cref="UsePassiveWaiting"/> first thing in <c>Main</c>, before any TorchSharp call: libgomp reads
/// <c>OMP_WAIT_POLICY</c> once, when libtorch is loaded, and on Linux .NET's
/// <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not change the native environment that
/// libgomp reads, so this sets it with libc's <c>setenv</c>. Then <see cref="SetThreads"/> (any time) sets
/// libtorch's intra-op threads and the fused kernels' workers together. The fused kernels' workers never spin: they
/// block until posted work arrives, so they cost nothing while another process needs the cores.</para>
/// <example>
/// <code>
/// static int Main(string[] args)
/// {
///     SharpOptim.CpuThreads.UsePassiveWaiting();            // before anything touches TorchSharp
///     SharpOptim.CpuThreads.SetThreads(SharpOptim.CpuThreads.DefaultFor(parameterCount: 50_000));
///     ...
/// }
/// </code>
/// </example>
/// </remarks>
public static class CpuThreads
{
    /// <summary>Models with fewer parameters than this train on one thread by default (<see cref="DefaultFor"/>):
    /// their operations are below libtorch's parallel grain size, so a second thread only adds waiting.</summary>
    public const long SingleThreadBelowParameters = 200_000;

    private static int _threads;

    /// <summary>Threads set by <see cref="SetThreads"/>, or 0 when it has not been called (libtorch's and the kernels'
    /// own defaults: one per core).</summary>
    public static int Threads => _threads;

    /// <summary>What <see cref="UsePassiveWaiting"/> found and did, or <see cref="WaitPolicyOutcome.NotRequested"/>
    /// when it has not been called.</summary>
    public static WaitPolicyOutcome WaitPolicy { get; private set; } = WaitPolicyOutcome.NotRequested;

    /// <summary>
    /// Makes libtorch's OpenMP threads sleep at once when they run out of work (<c>OMP_WAIT_POLICY=PASSIVE</c>),
    /// unless the user chose a policy (<c>OMP_WAIT_POLICY</c> or <c>GOMP_SPINCOUNT</c> set in the environment):
    /// their choice is kept. Takes effect only if libtorch's OpenMP runtime has not been loaded yet, that is, before
    /// the first TorchSharp call of the process; the result says which case applied. Safe to call more than once.
    /// </summary>
    /// <remarks>libc's <c>setenv</c> is not safe against threads reading the environment at the same time; at the
    /// start of <c>Main</c> only the runtime's own threads exist, and they do not.</remarks>
    public static WaitPolicyOutcome UsePassiveWaiting()
    {
        if (WaitPolicy is WaitPolicyOutcome.SetPassive) return WaitPolicy;
        if (NativeGetenv("OMP_WAIT_POLICY") is not null || NativeGetenv("GOMP_SPINCOUNT") is not null)
            return WaitPolicy = WaitPolicyOutcome.UserChoice;
        if (OpenMpLoaded()) return WaitPolicy = WaitPolicyOutcome.TooLate;
        NativeSetenv("OMP_WAIT_POLICY", "PASSIVE");
        return WaitPolicy = WaitPolicyOutcome.SetPassive;
    }

    /// <summary>
    /// Uses <paramref name="threads"/> threads for libtorch's intra-op work (<c>torch.set_num_threads</c>, which
    /// also sizes the OpenMP team) and for SharpOptim's fused kernels (the calling thread plus threads − 1 workers).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">threads is below 1.</exception>
    public static void SetThreads(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be at least 1.");
        TorchSharp.torch.set_num_threads(threads);
        ChunkedParallel.MaxThreads = threads;
        _threads = threads;
    }

    /// <summary>
    /// The thread count SharpOptim's command line uses for a model of <paramref name="parameterCount"/> parameters:
    /// 1 below <see cref="SingleThreadBelowParameters"/> (small models gain nothing from a second thread and lose the
    /// most beside a busy neighbour), otherwise one per core.
    /// </summary>
    public static int DefaultFor(long parameterCount) =>
        parameterCount < SingleThreadBelowParameters ? 1 : Environment.ProcessorCount;

    /// <summary>
    /// One line for reports: the intra-op thread count libtorch uses now and how its OpenMP threads wait, e.g.
    /// "1 thread, OpenMP wait passive".
    /// </summary>
    public static string Describe()
    {
        int n = TorchSharp.torch.get_num_threads();
        string policy = NativeGetenv("OMP_WAIT_POLICY") is { } p ? "OMP_WAIT_POLICY=" + p
            : NativeGetenv("GOMP_SPINCOUNT") is { } s ? "GOMP_SPINCOUNT=" + s
            : "libgomp default wait (spin, then sleep)";
        if (WaitPolicy == WaitPolicyOutcome.SetPassive) policy += " (set by SharpOptim)";
        else if (WaitPolicy == WaitPolicyOutcome.TooLate) policy += " (passive requested after libtorch was loaded: not applied)";
        return FormattableString.Invariant($"{n} thread{(n == 1 ? "" : "s")}, {policy}");
    }

    /// <summary>Whether an OpenMP runtime (libgomp, or LLVM's libomp) is mapped into this process already. Only
    /// Linux can tell (/proc/self/maps); elsewhere the answer is false and the caller is trusted to call early.</summary>
    internal static bool OpenMpLoaded()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
                if (line.Contains("libgomp", StringComparison.Ordinal) || line.Contains("libomp", StringComparison.Ordinal)) return true;
        }
        catch (IOException)
        {
        }
        return false;
    }

    // The native environment, not .NET's copy of it: what libgomp's getenv sees.
    private static string? NativeGetenv(string name)
    {
        if (OperatingSystem.IsWindows()) return Environment.GetEnvironmentVariable(name);
        return Marshal.PtrToStringUTF8(getenv(name));
    }

    private static void NativeSetenv(string name, string value)
    {
        // On Windows the C runtime's getenv reads the process environment block, which .NET's call does change.
        if (OperatingSystem.IsWindows())
        {
            Environment.SetEnvironmentVariable(name, value);
            return;
        }
        if (setenv(name, value, 0) != 0)
            throw new InvalidOperationException(FormattableString.Invariant($"setenv({name}) failed: errno {Marshal.GetLastPInvokeError()}."));
        // Keep .NET's view (and so child processes started through System.Diagnostics.Process) in step.
        Environment.SetEnvironmentVariable(name, value);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc")]
    private static extern IntPtr getenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);
}
