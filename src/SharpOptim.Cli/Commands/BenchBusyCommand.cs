using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SharpOptim.Cli.Compare;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim bench busy</c>: training wall time of digits and charlm (AdamW) alone and beside a second
/// multi-threaded training process, with the old thread settings (libtorch's defaults: one thread per core, libgomp's
/// default waiting, which spins about 300,000 times before sleeping) and the new ones (<see cref="CpuThreads"/>:
/// threads by model size, passive waiting), in one run and one table.
/// </summary>
/// <remarks>
/// Every timed training is a child process (<c>bench busy --one TASK</c>: AdamW as compare trains it), because the
/// OpenMP wait policy is fixed when a process loads libtorch; the child reports each step's time as it ends
/// (training time only, evaluation and start-up excluded). The neighbour is <c>sharpoptim compare --task charlm</c> with the old settings (the realistic case:
/// any TorchSharp program that did not choose), or the new ones with <c>--neighbour new|both</c>. A timed training
/// still running after <c>--limit</c> seconds (start-up included) is killed; its figures cover the steps it took and
/// its wall time is projected to the full step count (marked "stopped"), which bounds the benchmark's total time.
/// </remarks>
public static class BenchBusyCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["digits-steps"] = true, ["charlm-steps"] = true, ["threads"] = true, ["neighbour"] = true, ["limit"] = true, ["json"] = true,
        ["one"] = true, ["steps"] = true,
    };

    /// <summary>The issue's floor: beside a second training process, at most this many times the time alone.</summary>
    public const double FloorRatio = 4.0;

    /// <summary>One timed training.</summary>
    /// <param name="Task">digits or charlm.</param>
    /// <param name="Settings">old or new.</param>
    /// <param name="Neighbour">none, old or new.</param>
    /// <param name="ThreadSettings">What the child reported (threads, OpenMP wait).</param>
    /// <param name="Steps">Steps taken.</param>
    /// <param name="StepsRequested">Steps asked for.</param>
    /// <param name="WallSeconds">Training seconds, projected to <paramref name="StepsRequested"/> when stopped early.</param>
    /// <param name="MedianMs">Median step.</param>
    /// <param name="P95Ms">95th-percentile step.</param>
    /// <param name="MaxMs">Slowest step.</param>
    public sealed record Row(string Task, string Settings, string Neighbour, string ThreadSettings, int Steps, int StepsRequested,
        double WallSeconds, double MedianMs, double P95Ms, double MaxMs)
    {
        /// <summary>Whether the run was stopped at the time limit.</summary>
        public bool Stopped => Steps < StepsRequested;

        /// <summary>When the child had to be killed without a result (not even one step within the limit and the
        /// grace after SIGINT): how long it had run; NaN otherwise.</summary>
        public double KilledAfterSeconds { get; init; } = double.NaN;
    }

    public static int Run(Options o, TextWriter stdout)
    {
        if (o.String("one") is { } one) return One(o, one, stdout);
        if (o.Has("steps")) throw new UsageException("bench busy: --steps goes with --one TASK; the benchmark takes --digits-steps and --charlm-steps.");
        int digitsSteps = (int)o.Long("digits-steps", 300, 10, 1_000_000);
        int charlmSteps = (int)o.Long("charlm-steps", 20, 2, 100_000);
        int? threads = ThreadsOption.Requested(o);
        string neighbourText = o.String("neighbour", "old");
        var neighbours = neighbourText switch
        {
            "old" => new[] { "old" },
            "new" => new[] { "new" },
            "both" => new[] { "old", "new" },
            _ => throw new UsageException(FormattableString.Invariant($"--neighbour must be old, new or both, got '{neighbourText}'.")),
        };
        double limit = o.Double("limit", 30, 5, 3600);
        string? jsonPath = o.String("json");
        if (jsonPath is not null && Path.GetDirectoryName(Path.GetFullPath(jsonPath)) is { } jd && !Directory.Exists(jd))
            throw new UsageException(FormattableString.Invariant($"--json: directory '{jd}' does not exist."));

        string work = Path.Combine(Path.GetTempPath(), FormattableString.Invariant($"sharpoptim-bench-busy-{Environment.ProcessId}"));
        Directory.CreateDirectory(work);
        var rows = new List<Row>();
        var clock = Stopwatch.StartNew();
        try
        {
            stdout.WriteLine(FormattableString.Invariant($"load average at the start (other processes on this machine): {MachineLoad.Averages(unavailable: "n/a")}"));
            stdout.WriteLine(FormattableString.Invariant($"bench busy: AdamW on digits ({digitsSteps} steps) and charlm ({charlmSteps} steps), alone and beside `sharpoptim compare --task charlm`; {Environment.ProcessorCount} cores"));
            stdout.WriteLine(FormattableString.Invariant($"  old settings: {Environment.ProcessorCount} threads (libtorch's default), libgomp's default wait (GOMP_SPINCOUNT=300000: spin, then sleep)"));
            stdout.WriteLine(FormattableString.Invariant($"  new settings: {(threads is { } t ? t.ToString(CultureInfo.InvariantCulture) + " thread(s) (--threads)" : "threads by model size (CpuThreads.DefaultFor)")}, OMP_WAIT_POLICY=PASSIVE; fused-kernel workers never spin"));
            var tasks = new[] { ("digits", digitsSteps), ("charlm", charlmSteps) };
            foreach (var (task, steps) in tasks)
                foreach (var settings in new[] { "old", "new" })
                    rows.Add(Timed(task, steps, settings, "none", threads, limit, stdout));
            foreach (var neighbour in neighbours)
            {
                stdout.WriteLine(FormattableString.Invariant($"  starting the neighbour (compare --task charlm, {neighbour} settings) ..."));
                using var nb = StartNeighbour(neighbour, work);
                try
                {
                    foreach (var (task, steps) in tasks)
                        foreach (var settings in new[] { "old", "new" })
                            rows.Add(Timed(task, steps, settings, neighbour, threads, limit, stdout));
                }
                finally
                {
                    if (!nb.HasExited) nb.Kill(entireProcessTree: true);
                    nb.WaitForExit();
                }
            }
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        stdout.WriteLine();
        Print(rows, stdout);
        stdout.WriteLine(FormattableString.Invariant($"total {clock.Elapsed.TotalSeconds:F0} s"));
        if (jsonPath is not null)
        {
            var doc = new Dictionary<string, object?>
            {
                ["cores"] = Environment.ProcessorCount, ["digits_steps"] = digitsSteps, ["charlm_steps"] = charlmSteps, ["floor_ratio"] = FloorRatio,
                ["rows"] = rows.Select(r => new Dictionary<string, object?>
                {
                    ["task"] = r.Task, ["settings"] = r.Settings, ["neighbour"] = r.Neighbour, ["thread_settings"] = r.ThreadSettings,
                    ["steps"] = r.Steps, ["steps_requested"] = r.StepsRequested, ["wall_seconds"] = Finite(r.WallSeconds),
                    ["median_step_ms"] = Finite(r.MedianMs), ["p95_step_ms"] = Finite(r.P95Ms), ["max_step_ms"] = Finite(r.MaxMs),
                    ["vs_alone"] = Finite(Ratio(rows, r)), ["killed_after_seconds"] = Finite(r.KilledAfterSeconds),
                }).ToList(),
            };
            SharpOptim.Checkpoints.AtomicFile.Write(jsonPath, s => JsonSerializer.Serialize(s, doc, new JsonSerializerOptions { WriteIndented = true }));
            stdout.WriteLine(FormattableString.Invariant($"wrote {Path.GetFullPath(jsonPath)}"));
        }
        return 0;
    }

    /// <summary>The environment of a child with the given settings: "old" pins libgomp's default waiting explicitly
    /// (GOMP_SPINCOUNT=300000 is what libgomp uses when nothing is set), which also keeps SharpOptim's passive
    /// default off; "new" clears both variables so that the child's own default (passive) applies.</summary>
    public static Dictionary<string, string?> ChildEnvironment(string settings) => settings == "old"
        ? new Dictionary<string, string?> { ["OMP_WAIT_POLICY"] = null, ["GOMP_SPINCOUNT"] = "300000" }
        : new Dictionary<string, string?> { ["OMP_WAIT_POLICY"] = null, ["GOMP_SPINCOUNT"] = null };

    /// <summary>The --threads arguments of a child with the given settings.</summary>
    private static IEnumerable<string> ThreadArgs(string settings, int? threads) => settings == "old"
        ? new[] { "--threads", System.Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture) }
        : threads is { } t ? new[] { "--threads", t.ToString(CultureInfo.InvariantCulture) } : Array.Empty<string>();

    private static Process StartNeighbour(string settings, string work)
    {
        var args = new List<string> { "compare", "--task", "charlm", "--optimizers", "adamw", "--steps", "1000000", "--seeds", "1",
            "--eval-every", "0", "--no-progress", "--force", "--out", Path.Combine(work, "neighbour-" + settings) };
        args.AddRange(ThreadArgs(settings, null));
        var p = Process.Start(CliProcess.StartInfo(args, ChildEnvironment(settings)))!;
        using var started = new ManualResetEventSlim(false);
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.StartsWith("compare charlm", StringComparison.Ordinal)) started.Set();
        };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        // Its header comes after loading the data and the warm-up steps; give it a moment more to be in its loop.
        if (!started.Wait(TimeSpan.FromSeconds(120)) || p.HasExited)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            throw new InvalidOperationException("bench busy: the neighbour process did not start training.");
        }
        Thread.Sleep(1000);
        return p;
    }

    private static Row Timed(string task, int steps, string settings, string neighbour, int? threads, double limit, TextWriter stdout)
    {
        var args = new List<string> { "bench", "busy", "--one", task, "--steps", steps.ToString(CultureInfo.InvariantCulture) };
        args.AddRange(ThreadArgs(settings, threads));
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(CliProcess.StartInfo(args, ChildEnvironment(settings)))!;
        var seconds = new List<double>();
        string threadSettings = "?";
        var errors = new System.Text.StringBuilder();
        using var done = new ManualResetEventSlim(false);
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
            {
                done.Set();
                return;
            }
            lock (seconds)
            {
                if (line.StartsWith("threads: ", StringComparison.Ordinal)) threadSettings = line["threads: ".Length..];
                else if (line.StartsWith("step ", StringComparison.Ordinal))
                    seconds.Add(double.Parse(line.Split(' ')[2], CultureInfo.InvariantCulture));
            }
        };
        p.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        // At the limit the child is killed: the steps it reported are the figures (nothing to write, no grace needed).
        bool finished = p.WaitForExit(TimeSpan.FromSeconds(limit));
        if (!finished) p.Kill(entireProcessTree: true);
        p.WaitForExit();
        done.Wait(TimeSpan.FromSeconds(10));
        if (finished && p.ExitCode != 0)
        {
            string text;
            lock (errors) text = errors.ToString().Trim();
            throw new InvalidOperationException(FormattableString.Invariant($"bench busy: the {task} training ({settings} settings, neighbour {neighbour}) failed (exit {p.ExitCode}): {text}"));
        }
        List<double> cumulative;
        string reported;
        lock (seconds)
        {
            cumulative = seconds.ToList();
            reported = threadSettings;
        }
        var stepMs = cumulative.Select((x, i) => (x - (i == 0 ? 0 : cumulative[i - 1])) * 1000).Order().ToArray();
        double wall = cumulative.Count == 0 ? double.NaN : cumulative[^1] * steps / cumulative.Count;
        var row = new Row(task, settings, neighbour, reported, cumulative.Count, steps, wall,
            Percentile(stepMs, 0.5), Percentile(stepMs, 0.95), stepMs.Length == 0 ? double.NaN : stepMs[^1])
        { KilledAfterSeconds = cumulative.Count == 0 ? clock.Elapsed.TotalSeconds : double.NaN };
        stdout.WriteLine(row.Steps == 0
            ? FormattableString.Invariant($"  {task,-6} {settings} settings, neighbour {neighbour,-4}: stopped after {row.KilledAfterSeconds:F0} s before its first step ended")
            : FormattableString.Invariant($"  {task,-6} {settings} settings, neighbour {neighbour,-4}: {row.WallSeconds,8:F2} s{(row.Stopped ? FormattableString.Invariant($" (stopped after {row.Steps} of {steps} steps, projected)") : "")}, median step {row.MedianMs:F2} ms"));
        return row;
    }

    /// <summary>
    /// <c>bench busy --one TASK --steps N [--threads N]</c>, what the benchmark runs in each child: AdamW on TASK as
    /// compare trains it (same data, model and defaults, after 3 untimed warm-up steps on another copy of the model),
    /// printing "threads: ..." and then "step I SECONDS" (cumulative training seconds) after every step, so that the
    /// parent has the figures of every step taken even when it stops the child at its time limit.
    /// </summary>
    private static int One(Options o, string taskName, TextWriter stdout)
    {
        if (taskName is not ("digits" or "charlm"))
            throw new UsageException(FormattableString.Invariant($"bench busy --one: task must be digits or charlm, got '{taskName}'."));
        int steps = (int)o.Long("steps", 100, 1, 10_000_000);
        ThreadsOption.Requested(o);
        using var task = TaskCatalog.Create(taskName, null);
        var hyper = CompareDefaults.ForTask("adamw", task);
        manual_seed(0);
        using (var warmRun = task.Start(0))
        using (var threads = ThreadsOption.ForModel(o, warmRun.NamedParameters.Sum(p => p.Parameter.NumberOfElements)))
        {
            stdout.WriteLine("threads: " + CpuThreads.Describe());
            using (var warm = OptimizerCatalog.Get("adamw").Create(warmRun.NamedParameters, hyper))
                for (int i = 0; i < 3; i++)
                {
                    using var scope = NewDisposeScope();
                    warm.zero_grad();
                    warmRun.TrainLoss().backward();
                    warm.step();
                }
            manual_seed(1000);
            using var run = task.Start(0);
            using var opt = OptimizerCatalog.Get("adamw").Create(run.NamedParameters, hyper);
            TaskTrainer.Train(run, opt, steps, evalEvery: 0, progress: p =>
            {
                stdout.WriteLine(FormattableString.Invariant($"step {p.Step} {p.Seconds:R}"));
                stdout.Flush();
            });
        }
        return 0;
    }

    // JSON has no NaN: a figure that does not exist (a killed run) is null.
    private static double? Finite(double x) => double.IsFinite(x) ? x : null;


    private static string Note(Row r) =>
        !double.IsNaN(r.KilledAfterSeconds) ? FormattableString.Invariant($" [killed after {r.KilledAfterSeconds:F0} s: no step ended]")
        : r.Stopped ? FormattableString.Invariant($" [stopped at {r.Steps}/{r.StepsRequested}, wall projected]") : "";

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    /// <summary>Wall time relative to the same task and settings alone.</summary>
    private static double Ratio(List<Row> rows, Row r) =>
        rows.FirstOrDefault(x => x.Task == r.Task && x.Settings == r.Settings && x.Neighbour == "none") is { } alone ? r.WallSeconds / alone.WallSeconds : double.NaN;

    private static void Print(List<Row> rows, TextWriter stdout)
    {
        stdout.WriteLine("task    settings  neighbour  wall s    median ms  p95 ms    max ms    x alone  threads");
        foreach (var r in rows)
            stdout.WriteLine(FormattableString.Invariant($"{r.Task,-7} {r.Settings,-9} {r.Neighbour,-10} {r.WallSeconds,-9:F2} {r.MedianMs,-10:F2} {r.P95Ms,-9:F2} {r.MaxMs,-9:F1} {Ratio(rows, r),-8:F1} {r.ThreadSettings}{Note(r)}"));
        stdout.WriteLine();
        foreach (var task in rows.Select(r => r.Task).Distinct())
        {
            var oldAlone = rows.First(r => r.Task == task && r.Settings == "old" && r.Neighbour == "none");
            var newAlone = rows.First(r => r.Task == task && r.Settings == "new" && r.Neighbour == "none");
            stdout.WriteLine(FormattableString.Invariant($"{task}: alone, new settings take {newAlone.WallSeconds / oldAlone.WallSeconds:F2}x the old settings' time"));
            foreach (var beside in rows.Where(r => r.Task == task && r.Neighbour != "none" && r.Settings == "new"))
            {
                double ratio = Ratio(rows, beside);
                var oldBeside = rows.First(r => r.Task == task && r.Settings == "old" && r.Neighbour == beside.Neighbour);
                string verdict = double.IsNaN(ratio) ? "unknown" : ratio <= FloorRatio ? "met" : "NOT met";
                stdout.WriteLine(FormattableString.Invariant($"{task}: beside a neighbour with {beside.Neighbour} settings, new settings {ratio:F1}x alone (floor {FloorRatio:F0}x: {verdict}); old settings {Ratio(rows, oldBeside):F1}x"));
            }
        }
    }
}
