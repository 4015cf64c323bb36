using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using SharpOptim.Cli;
using SharpOptim.Cli.Commands;
using SharpOptim.Kernels;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// Thread settings for a machine another training process shares (issue 18, item 1): the library setting reaches
/// libtorch and the fused kernels, --threads is parsed and applied, passive waiting reaches libgomp in a fresh
/// process, and the kernel workers do not spin while idle. No timings of speed here: those are in
/// <c>sharpoptim bench busy</c>.
/// </summary>
[Collection("kernel-threads")]
public sealed class BusyMachineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpoptim-busy-test-").FullName;
    private readonly int _torchThreads = get_num_threads();
    private readonly int _kernelThreads = ChunkedParallel.MaxThreads;

    public void Dispose()
    {
        set_num_threads(_torchThreads);
        ChunkedParallel.MaxThreads = _kernelThreads;
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void SetThreadsSetsLibtorchAndTheKernelWorkersTogether()
    {
        CpuThreads.SetThreads(1);
        Assert.Equal(1, get_num_threads());
        Assert.Equal(1, ChunkedParallel.MaxThreads);
        Assert.Equal(1, CpuThreads.Threads);
        CpuThreads.SetThreads(3);
        Assert.Equal(3, get_num_threads());
        Assert.Equal(3, ChunkedParallel.MaxThreads);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CpuThreads.SetThreads(0));
        Assert.Equal("threads", e.ParamName);
        Assert.Equal(3, get_num_threads());   // a refused value changes nothing
    }

    [Fact]
    public void DefaultThreadsFollowTheModelSize()
    {
        // digits' MLP (4,810 parameters) and logreg: one thread; charlm (about 0.8 M): one per core.
        Assert.Equal(1, CpuThreads.DefaultFor(4_810));
        Assert.Equal(1, CpuThreads.DefaultFor(CpuThreads.SingleThreadBelowParameters - 1));
        Assert.Equal(Environment.ProcessorCount, CpuThreads.DefaultFor(CpuThreads.SingleThreadBelowParameters));
        Assert.Equal(Environment.ProcessorCount, CpuThreads.DefaultFor(800_000));
    }

    [Fact]
    public void PassiveWaitingRequestedAfterLibtorchLoadedIsReportedNotPretended()
    {
        // This test process loaded libtorch long ago (and may have OMP variables set): the policy cannot change now,
        // and the call must say so rather than claim it did.
        _ = get_num_threads();
        var outcome = CpuThreads.UsePassiveWaiting();
        Assert.True(outcome is WaitPolicyOutcome.TooLate or WaitPolicyOutcome.UserChoice, outcome.ToString());
        if (OperatingSystem.IsLinux()) Assert.True(CpuThreads.OpenMpLoaded());
    }

    [Fact]
    public void CompareAppliesThreadsRecordsThemAndRestoresTheEarlierCounts()
    {
        set_num_threads(2);
        ChunkedParallel.MaxThreads = 2;
        string outDir = Path.Combine(_dir, "one");
        var (code, output, err) = CliTests.Run("compare", "--optimizers", "adamw", "--steps", "5", "--seeds", "1", "--threads", "1", "--out", outDir, "--no-progress");
        Assert.True(code == 0, err + output);
        Assert.Contains("threads: 1 thread", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
        var machine = doc.RootElement.GetProperty("machine");
        Assert.Equal(1, machine.GetProperty("torch_threads").GetInt32());
        Assert.StartsWith("1 thread,", machine.GetProperty("thread_settings").GetString());
        Assert.Contains("- threads: 1 thread,", File.ReadAllText(Path.Combine(outDir, "report.md")));
        // The command leaves the process as it found it.
        Assert.Equal(2, get_num_threads());
        Assert.Equal(2, ChunkedParallel.MaxThreads);

        // Without --threads, digits' small MLP trains on one thread.
        string defaults = Path.Combine(_dir, "default");
        var (code2, output2, err2) = CliTests.Run("compare", "--optimizers", "adamw", "--steps", "5", "--seeds", "1", "--out", defaults, "--no-progress");
        Assert.True(code2 == 0, err2 + output2);
        Assert.Contains("threads: 1 thread", output2);
        Assert.Contains("default for this model size", output2);
    }

    [Fact]
    public void BadThreadCountsAreRefusedNamingTheValueOnEveryCommandThatTrains()
    {
        var commands = new[]
        {
            new[] { "compare", "--out", Path.Combine(_dir, "x") },
            new[] { "bench", "busy" },
            new[] { "bench", "drop-muon" },
            new[] { "bench", "optimizers", "--task", "digits" },
            new[] { "bench", "step", "--params", "1000" },
        };
        foreach (var command in commands)
            foreach (var (value, expected) in new[] { ("0", "got 0"), ("abc", "got 'abc'"), ("-2", "got -2"), ("2000", "got 2000") })
            {
                var (code, _, err) = CliTests.Run(command.Concat(new[] { "--threads", value }).ToArray());
                Assert.True(code == 2, string.Join(' ', command) + " --threads " + value + ": " + err);
                Assert.Contains("--threads", err);
                Assert.Contains(expected, err);
            }
        var (bad, _, e) = CliTests.Run("bench", "busy", "--neighbour", "noisy");
        Assert.Equal(2, bad);
        Assert.Contains("'noisy'", e);
    }

    [Fact]
    public void BenchBusyChildReportsItsThreadsAndEveryStep()
    {
        // What each of the benchmark's children prints, parsed by the parent: its settings, then one cumulative
        // training time per step.
        var (code, output, err) = CliTests.Run("bench", "busy", "--one", "digits", "--steps", "4", "--threads", "2");
        Assert.True(code == 0, err + output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith("threads: 2 threads,", lines[0]);
        var steps = lines.Skip(1).Select(l => l.Split(' ')).ToList();
        Assert.Equal(new[] { "1", "2", "3", "4" }, steps.Select(x => x[1]));
        var seconds = steps.Select(x => double.Parse(x[2], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.All(seconds, x => Assert.True(x > 0));
        Assert.Equal(seconds.Order(), seconds);
        var (bad, _, e) = CliTests.Run("bench", "busy", "--one", "mnist10k");
        Assert.Equal(2, bad);
        Assert.Contains("'mnist10k'", e);
        var (misplaced, _, e2) = CliTests.Run("bench", "busy", "--steps", "5");
        Assert.Equal(2, misplaced);
        Assert.Contains("--one", e2);
    }

    [Fact]
    public void PassiveWaitingReachesLibgompInAFreshProcessUnlessTheUserChose()
    {
        if (!OperatingSystem.IsLinux()) return;   // libgomp and its OMP_DISPLAY_ENV report: Linux builds of libtorch
        // libgomp prints the settings it read at load with OMP_DISPLAY_ENV=VERBOSE. GOMP_SPINCOUNT is the spin budget
        // it derived: 0 for passive, 300000 for its default (spin, then sleep).
        string Display(Dictionary<string, string?> env)
        {
            env["OMP_DISPLAY_ENV"] = "VERBOSE";
            var args = new[] { "compare", "--optimizers", "adamw", "--steps", "2", "--seeds", "1", "--no-progress", "--force", "--out", Path.Combine(_dir, "child") };
            using var p = Process.Start(CliProcess.StartInfo(args, env))!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEndAsync();
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(120)), "the child did not finish");
            Assert.True(p.ExitCode == 0, stdout.Result + stderr.Result);
            return stderr.Result + stdout.Result;
        }
        string passive = Display(new() { ["OMP_WAIT_POLICY"] = null, ["GOMP_SPINCOUNT"] = null });
        Assert.Contains("GOMP_SPINCOUNT = '0'", passive);
        Assert.Contains("OMP_WAIT_POLICY = 'PASSIVE'", passive);
        Assert.Contains("(set by SharpOptim)", passive);
        // A user's own choice is kept (this is also how `bench busy` runs the old settings).
        string chosen = Display(BenchBusyCommand.ChildEnvironment("old"));
        Assert.Contains("GOMP_SPINCOUNT = '300000'", chosen);
        string active = Display(new() { ["OMP_WAIT_POLICY"] = "ACTIVE", ["GOMP_SPINCOUNT"] = null });
        Assert.Contains("GOMP_SPINCOUNT = '30000000000'", active);
    }

    [Fact]
    public void KernelWorkersDoNotSpinWhileWaitingForWork()
    {
        if (!OperatingSystem.IsLinux()) return;   // per-thread CPU clocks through clock_gettime: Linux
        ChunkedParallel.MaxThreads = 2;
        var job = new ThreadCpuJob();
        const int jobs = 40;
        for (int i = 0; i < jobs; i++)
        {
            // Two slices: the calling thread takes the first, one worker the second.
            ChunkedParallel.Run(job, 2 * ChunkedParallel.SerialThreshold);
            // The idle gap between two steps (a model's forward and backward run here in training).
            Thread.Sleep(15);
        }
        var worker = job.Calls.Where(c => c.Thread != Environment.CurrentManagedThreadId).ToList();
        Assert.Equal(jobs, worker.Count);
        // CPU time the worker used between the end of one job and the start of the next: with the old spin count
        // (2000 SpinWait iterations before blocking) about a millisecond or more per gap; blocking at once, a few
        // microseconds (the wake-up itself).
        double idleCpuMs = 0;
        for (int i = 1; i < worker.Count; i++) idleCpuMs += (worker[i].StartCpuNs - worker[i - 1].EndCpuNs) / 1e6;
        double perGap = idleCpuMs / (worker.Count - 1);
        Assert.True(perGap < 0.2, FormattableString.Invariant($"a kernel worker used {perGap:F3} ms of CPU per idle gap"));
    }

    /// <summary>Records, on whichever thread runs a slice, that thread's CPU clock at the start and end of the slice.</summary>
    private sealed class ThreadCpuJob : ChunkJob
    {
        public readonly List<(int Thread, long StartCpuNs, long EndCpuNs)> Calls = new();

        public override void Run(long start, long end)
        {
            long t0 = ThreadCpuNs();
            long t1 = ThreadCpuNs();
            lock (Calls) Calls.Add((Environment.CurrentManagedThreadId, t0, t1));
        }
    }

    private static long ThreadCpuNs()
    {
        const int ClockThreadCpuTimeId = 3;
        if (clock_gettime(ClockThreadCpuTimeId, out var ts) != 0) throw new InvalidOperationException("clock_gettime failed");
        return ts.Seconds * 1_000_000_000 + ts.Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc")]
    private static extern int clock_gettime(int clock, out TimeSpec time);
}
