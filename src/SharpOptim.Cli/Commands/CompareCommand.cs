using System.Globalization;
using SharpOptim.Cli.Compare;
using SharpOptim.Optimizers;
using SharpOptim.Schedules;
using SharpOptim.Tasks;
using Spectre.Console;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim compare</c>: trains one task with several optimizers and seeds, shows live progress, prints a
/// summary table and writes results.json, results.csv, PNG plots and report.md (see <see cref="ComparisonReport"/>).
/// Everything is checked before the first step: task, optimizer and hyperparameter names, values (by building each
/// optimizer once), the schedule and the output directory. Ctrl-C stops the current run, writes what finished,
/// marked incomplete, and exits with 130. The console's Ctrl-C handler stays in place until the files are written:
/// a Ctrl-C while they are written, or a second one at any time, is reported on stderr and the files are still
/// finished (written into a staging folder and moved into place with results.json last, see
/// <see cref="ComparisonReport.Write"/>), then the command exits with 130; the signal never ends the process.
/// </summary>
public static class CompareCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["task"] = true, ["optimizers"] = true, ["steps"] = true, ["seeds"] = true, ["out"] = true, ["opt"] = true,
        ["schedule"] = true, ["eval-every"] = true, ["cache"] = true, ["no-progress"] = false, ["force"] = false, ["threads"] = true,
        ["tensorboard"] = true,
    };

    /// <summary>Exit code after Ctrl-C (128 + SIGINT, as shells report it).</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>Test hook only: milliseconds to pause before each file of the writing phase, so that the tests can
    /// send a real SIGINT while the files are being written. Not for users; unset in normal use.</summary>
    public const string TestWriteDelayVariable = "SHARPOPTIM_TEST_WRITE_DELAY_MS";

    /// <summary>Steps per run for each task when --steps is not given.</summary>
    public static int DefaultSteps(string task) => task switch { "charlm" => 300, "logreg" => 300, _ => 500 };

    /// <summary>Runs the command; <paramref name="cancel"/> plays the part of Ctrl-C (the console's handler is added too);
    /// <paramref name="runFinished"/> is told of each run as it ends.</summary>
    public static int Run(Options o, IReadOnlyList<string> args, TextWriter stdout, CancellationToken cancel = default,
        Action<RunRecord>? runFinished = null)
    {
        string taskName = o.String("task", "digits");
        if (!TaskCatalog.Names.Contains(taskName))
            throw new UsageException(FormattableString.Invariant($"unknown task '{taskName}'; valid tasks: {string.Join(", ", TaskCatalog.Names)}."));
        int steps = (int)o.Long("steps", DefaultSteps(taskName), 1, 10_000_000);
        int seeds = (int)o.Long("seeds", 3, 1, 1000);
        int evalEvery = (int)o.Long("eval-every", Math.Max(1, steps / 10), 1, 10_000_000);
        string outDir = o.String("out") ?? (o.Has("force") ? Path.Combine("compare-results", taskName) : ComparisonReport.DefaultOutDir(taskName));
        ThreadsOption.Requested(o);   // a bad --threads fails here, with the other options
        var names = ParseOptimizerList(o.String("optimizers", CompareDefaults.Optimizers)!);
        var overrides = ParseOverrides(o.All("opt"), names);
        var scheduleText = o.String("schedule");
        var schedule = scheduleText is null ? null : ScheduleSpec.Parse(scheduleText, steps);

        using var task = TaskCatalog.Create(taskName, o.String("cache"));
        var settings = new List<(string Name, Dictionary<string, double> Hyper, ISchedule? Schedule)>();
        // Load the data and build every optimizer once on a real model: bad values fail here, before any training.
        var probe = LoadOrExplain(task);
        // Threads follow the model's size unless --threads says otherwise; set before the warm-up steps so that
        // libtorch starts its thread team at the size the runs will use.
        using var threads = ThreadsOption.ForModel(o, probe.NamedParameters.Sum(p => p.Parameter.NumberOfElements));
        using (probe)
        {
            foreach (var name in names)
            {
                var h = CompareDefaults.ForTask(CatalogName(name), task, overrides.GetValueOrDefault(name));
                using (var warm = OptimizerCatalog.Get(CatalogName(name)).Create(probe.NamedParameters, h))
                {
                    // A few untimed steps, so that JIT and libtorch start-up are not charged to the first timed run.
                    for (int i = 0; i < 3; i++)
                    {
                        using var scope = NewDisposeScope();
                        warm.zero_grad();
                        probe.TrainLoss().backward();
                        try { warm.step(); } catch (NonFiniteGradientException) { break; }
                    }
                }
                settings.Add((name, h, schedule?.Invoke(name)));
            }
        }
        ComparisonReport.CheckWritable(outDir, o.Has("force"));
        if (scheduleText is not null && scheduleText.StartsWith("refined", StringComparison.Ordinal)
            && Path.GetFullPath(ScheduleSpec.SourcePath(scheduleText) ?? "") == Path.GetFullPath(Path.Combine(outDir, "results.json")))
            throw new UsageException("--schedule refined reads its gradient norms from the --out directory; choose another --out.");

        var comparison = new Comparison
        {
            Task = taskName, TaskDescription = task.Description, Steps = steps, Seeds = seeds, Schedule = scheduleText ?? "constant",
            Optimizers = names, CommandLine = "sharpoptim " + string.Join(' ', args.Select(Quote)),
        };
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        int ctrlCs = 0;
        bool writing = false, ctrlCWhileWriting = false;
        ConsoleCancelEventHandler onCtrlC = (_, e) =>
        {
            // The signal never ends the process: killed between two files, the directory would hold part of the new
            // results beside the old ones. The first Ctrl-C stops the current run; the files of what finished are
            // written (a few seconds at most) and the command exits with 130. Later ones, and any during writing,
            // are only reported.
            e.Cancel = true;
            int n = Interlocked.Increment(ref ctrlCs);
            interrupt.Cancel();
            if (Volatile.Read(ref writing))
            {
                Volatile.Write(ref ctrlCWhileWriting, true);
                Console.Error.WriteLine("sharpoptim: Ctrl-C while writing the files: finishing them first (a half-written set would be inconsistent), then exiting.");
            }
            else if (n > 1)
                Console.Error.WriteLine("sharpoptim: already stopping: the current step ends, the finished runs are written, then the command exits.");
        };
        Console.CancelKeyPress += onCtrlC;
        try
        {
            Exception? failure = null;
            var retried = new List<string>();
            RunRecord Record((string Name, Dictionary<string, double> Hyper, ISchedule? Schedule) s, int seed, Action<StepProgress>? progress)
            {
                var record = WithOneRetryOnNativeError(() => TrainOne(task, s, seed, steps, evalEvery, interrupt.Token, progress, o.String("tensorboard")),
                    e => retried.Add(FormattableString.Invariant($"{s.Name} seed {seed} ({e.Message.Split('\n')[0].Trim()})")),
                    () => interrupt.IsCancellationRequested);
                comparison.Runs.Add(record);
                runFinished?.Invoke(record);
                return record;
            }
            try
            {
                stdout.WriteLine(FormattableString.Invariant($"compare {taskName}: {task.Description}; {names.Count} optimizer(s) x {seeds} seed(s) x {steps} steps"));
                stdout.WriteLine("  " + threads.Describe());
                bool live = !o.Has("no-progress") && ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
                if (live)
                {
                    AnsiConsole.Progress()
                        .AutoClear(false)
                        .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                            new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                        .Start(ctx =>
                        {
                            var bars = settings.SelectMany(s => Enumerable.Range(0, seeds).Select(seed => (s, seed, bar: ctx.AddTask(Label(s.Name, seed, null), autoStart: false, maxValue: steps)))).ToList();
                            foreach (var (s, seed, bar) in bars)
                            {
                                if (interrupt.IsCancellationRequested) break;
                                bar.StartTask();
                                var record = Record(s, seed, p =>
                                {
                                    bar.Value = p.Step;
                                    if (p.Step % 10 == 0 || p.Step == steps) bar.Description = Label(s.Name, seed, p.Loss) + FormattableString.Invariant($"  step {p.Step}/{steps}");
                                });
                                bar.Description = Label(s.Name, seed, record.Result.FinalTrainLoss) + (record.Result.Diverged ? " [red](diverged)[/]" : record.Result.Completed ? "" : " [grey](stopped)[/]");
                                bar.StopTask();
                            }
                        });
                }
                else
                {
                    foreach (var s in settings)
                        for (int seed = 0; seed < seeds && !interrupt.IsCancellationRequested; seed++)
                        {
                            var r = Record(s, seed, null).Result;
                            stdout.WriteLine(FormattableString.Invariant($"  {s.Name,-12} seed {seed}: {r.Steps} steps{(r.Diverged ? " (diverged: non-finite loss or gradient)" : r.Completed ? "" : " (stopped)")}, train loss {r.FinalTrainLoss:F4}, test loss {r.TestLoss:F4}, accuracy {100 * r.TestAccuracy:F1}%, {r.WallSeconds:F2} s"));
                        }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A run failed (a native libtorch error, out of memory, ...): keep every run that finished.
                failure = e;
            }
            // Complete when every run finished, even if Ctrl-C came during the last evaluation.
            comparison.Complete = failure is null && comparison.Runs.Count == names.Count * seeds
                && comparison.Runs.All(r => r.Result.Completed || r.Result.Diverged);
            PrintTable(comparison, stdout);
            foreach (var r in retried)
                stdout.WriteLine(FormattableString.Invariant($"note: {r} hit a libtorch error and was run again from the start (same seed, same data)."));
            Volatile.Write(ref writing, true);
            stdout.WriteLine(FormattableString.Invariant($"writing the files to {Path.GetFullPath(outDir)} ..."));
            stdout.Flush();
            ComparisonReport.Write(comparison, outDir, TestWriteDelay());
            stdout.WriteLine(FormattableString.Invariant($"wrote {string.Join(", ", ComparisonReport.Files)} to {Path.GetFullPath(outDir)}"));
            if (failure is not null)
            {
                stdout.WriteLine(FormattableString.Invariant($"a run failed ({failure.GetType().Name}: {failure.Message}); the files hold the runs that finished, marked incomplete."));
                return 1;
            }
            if (Volatile.Read(ref ctrlCWhileWriting))
            {
                // The user asked to stop; the files were finished first and are what the message says they are.
                stdout.WriteLine(comparison.Complete
                    ? "interrupted while writing the files: they were finished first and are complete."
                    : "interrupted: the results above cover the runs that finished; the files were finished and are marked incomplete.");
                return InterruptedExitCode;
            }
            // A stop requested after the last run had finished (during its final evaluation) loses nothing: success.
            if (comparison.Complete) return 0;
            stdout.WriteLine("interrupted: the results above cover the runs that finished; the files are marked incomplete.");
            return InterruptedExitCode;
        }
        finally
        {
            // Only now: until the files are written, a Ctrl-C must not reach the default handler (which ends the process).
            Console.CancelKeyPress -= onCtrlC;
        }
    }

    private static TimeSpan TestWriteDelay() =>
        int.TryParse(Environment.GetEnvironmentVariable(TestWriteDelayVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out int ms) && ms > 0
            ? TimeSpan.FromMilliseconds(Math.Min(ms, 60_000)) : TimeSpan.Zero;

    private static TaskRun LoadOrExplain(TrainingTask task)
    {
        try
        {
            manual_seed(0);
            return task.Start(0);
        }
        catch (FileNotFoundException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static RunRecord TrainOne(TrainingTask task, (string Name, Dictionary<string, double> Hyper, ISchedule? Schedule) s, int seed,
        int steps, int evalEvery, CancellationToken cancel, Action<StepProgress>? progress, string? tensorboard = null)
    {
        var (run, opt, hyper) = StartSeeded(task, s.Name, s.Hyper, seed);
        using var _ = run;
        using var __ = opt;
        // One TensorBoard run per optimizer configuration (NAME or NAME@LABEL) and seed; a retried run starts a new file.
        using var log = tensorboard is null ? null : new Training.TensorBoardLog(Path.Combine(tensorboard, FormattableString.Invariant($"{s.Name}/seed{seed}")));
        var result = TaskTrainer.Train(run, opt, steps, s.Schedule, evalEvery, progress, cancel, tensorboard: log);
        return new RunRecord(s.Name, hyper, seed, result);
    }

    /// <summary>
    /// One seeded run of <paramref name="task"/> with optimizer entry <paramref name="name"/> (NAME or NAME@LABEL) built on
    /// its model: the same seed gives every optimizer the same initial model and batch order, and optimizers with their
    /// own random draws (Drop-Muon's layers, FRUGAL's blocks) get the seed too. Returns the hyperparameters used. Compare
    /// and tune both start their runs here, so their runs agree for the same configuration and seed.
    /// </summary>
    internal static (TaskRun Run, OptimizerBase Optimizer, Dictionary<string, double> Hyper) StartSeeded(TrainingTask task, string name,
        IReadOnlyDictionary<string, double> hyperparameters, int seed)
    {
        manual_seed(1000 + seed);
        var run = task.Start(seed);
        var hyper = new Dictionary<string, double>(hyperparameters);
        if (CatalogName(name) is "drop-muon" or "frugal") hyper.TryAdd("seed", seed);
        try
        {
            return (run, OptimizerCatalog.Get(CatalogName(name)).Create(run.NamedParameters, hyper), hyper);
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="run"/>; when it fails with a libtorch error (<see cref="System.Runtime.InteropServices.ExternalException"/>)
    /// and no stop was requested, reports it and runs it once more; a second failure propagates. In every case seen
    /// so far such an error was TorchSharp 0.107 freeing an implicitly created Scalar during the native call (a race
    /// with the garbage collector; see HeldScalars in the task models). A run is deterministic for its seed, so the
    /// second attempt gives the result the first would have given.
    /// </summary>
    public static T WithOneRetryOnNativeError<T>(Func<T> run, Action<Exception> retrying, Func<bool> stopRequested)
    {
        try
        {
            return run();
        }
        catch (System.Runtime.InteropServices.ExternalException e) when (!stopRequested())
        {
            retrying(e);
            return run();
        }
    }

    /// <summary>
    /// Parses an --optimizers list: comma-separated NAME or NAME@LABEL entries, each NAME in the catalog, no entry
    /// twice; a <see cref="UsageException"/> names the first bad entry.
    /// </summary>
    public static List<string> ParseOptimizerList(string text)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (names.Count == 0) throw new UsageException("--optimizers lists no optimizer.");
        foreach (var n in names)
        {
            int at = n.IndexOf('@');
            if (at >= 0 && (at == 0 || at == n.Length - 1 || !n[(at + 1)..].All(ch => char.IsLetterOrDigit(ch) || ch is '-' or '_' or '.')))
                throw new UsageException(FormattableString.Invariant($"--optimizers: '{n}' is not NAME or NAME@LABEL (a label is letters, digits, '-', '_' or '.')."));
            if (!OptimizerCatalog.All.Any(e => string.Equals(e.Name, CatalogName(n), StringComparison.OrdinalIgnoreCase)))
                throw new UsageException(FormattableString.Invariant($"unknown optimizer '{CatalogName(n)}'; valid optimizers: {string.Join(", ", OptimizerCatalog.All.Select(e => e.Name))}."));
        }
        if (names.Distinct(StringComparer.OrdinalIgnoreCase).Count() != names.Count)
            throw new UsageException(FormattableString.Invariant($"--optimizers names an optimizer twice: {text}."));
        return names;
    }

    /// <summary>The catalog name of an --optimizers entry: NAME, or NAME@LABEL for a second configuration of the
    /// same optimizer (its own --opt NAME@LABEL:..., its own rows and curves).</summary>
    public static string CatalogName(string entry) => (entry.IndexOf('@') is var at and >= 0 ? entry[..at] : entry).ToLowerInvariant();

    private static string Label(string name, int seed, double? loss) =>
        FormattableString.Invariant($"{Markup.Escape(name),-12} seed {seed}") + (loss is { } l ? FormattableString.Invariant($"  loss {l:F4}") : "");

    /// <summary>Parses every --opt NAME:key=value,... into per-optimizer overrides.</summary>
    public static Dictionary<string, Dictionary<string, double>> ParseOverrides(IReadOnlyList<string> specs, IReadOnlyList<string> names)
    {
        var result = new Dictionary<string, Dictionary<string, double>>(StringComparer.OrdinalIgnoreCase);
        foreach (var text in specs)
        {
            var spec = KeyValueSpec.Parse(text, "opt");
            if (!names.Contains(spec.Name, StringComparer.OrdinalIgnoreCase))
                throw new UsageException(FormattableString.Invariant($"--opt {text}: '{spec.Name}' is not among the compared optimizers ({string.Join(", ", names)})."));
            if (spec.Values.Count == 0) throw new UsageException(FormattableString.Invariant($"--opt {text}: give hyperparameters as {spec.Name}:name=value,..."));
            if (!result.TryGetValue(spec.Name, out var h)) result[spec.Name] = h = new Dictionary<string, double>();
            foreach (var key in spec.Values.Keys)
            {
                string v = spec.Values[key];
                double x = v.ToLowerInvariant() switch
                {
                    "true" => 1,
                    "false" => 0,
                    _ => double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _) ? spec.Number(key, "opt")
                        : throw new UsageException(FormattableString.Invariant($"--opt {spec.Name}: {key}={v} is neither a number nor true/false.")),
                };
                h[key] = x;
            }
        }
        return result;
    }

    private static void PrintTable(Comparison c, TextWriter stdout)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = ColorSystemSupport.Detect,
        });
        if (!ReferenceEquals(stdout, Console.Out) || Console.IsOutputRedirected) console.Profile.Width = 160;
        var table = new Table().Border(TableBorder.Minimal)
            .Caption((c.Summaries().Any(x => x.Runs != c.Seeds) ? "n: completed runs; " : "")
                + "train: loss over the last 5% of steps; step ms: median; state: optimizer state; all spreads in report.md")
            .Title(FormattableString.Invariant($"{c.Task}: {c.Steps} steps, {c.Seeds} seed(s): means (± std of test figures){(c.Complete ? "" : " (INCOMPLETE)")}"));
        // To fit 80 columns the terminal shows the spread only for the test figures (report.md has all of them),
        // and the run count only when some optimizer has fewer runs than the seed count.
        var summaries = c.Summaries().ToList();
        bool showN = summaries.Any(s => s.Runs != c.Seeds);
        foreach (var h in new[] { "optimizer", "n", "train", "test loss", "acc %", "wall s", "step ms", "state" })
            if (h != "n" || showN)
                table.AddColumn(new TableColumn(h) { Alignment = h == "optimizer" ? Justify.Left : Justify.Right, NoWrap = h != "optimizer" });
        static string Pm(MeanStd m, string f) => ComparisonReport.Pm(m, f).Replace(" ± ", "±", StringComparison.Ordinal);
        static string Mean(MeanStd m, string f) => double.IsNaN(m.Mean) ? "—" : m.Mean.ToString(f, CultureInfo.InvariantCulture);
        foreach (var s in summaries)
            table.AddRow(new[] { Markup.Escape(s.Label) }
                .Concat(showN ? new[] { s.Runs.ToString(CultureInfo.InvariantCulture) } : Array.Empty<string>())
                .Concat(new[]
                {
                    Mean(s.TrainLoss, "F3"), Pm(s.TestLoss, "F3"), Pm(new MeanStd(100 * s.TestAccuracy.Mean, 100 * s.TestAccuracy.Std), "F1"),
                    Mean(s.WallSeconds, "F2"), double.IsNaN(s.MedianStepMs) ? "—" : s.MedianStepMs.ToString("F2", CultureInfo.InvariantCulture),
                    s.Runs == 0 ? "—" : ComparisonReport.Bytes(s.StateBytes),
                }).ToArray());
        console.Write(table);
    }

    private static string Quote(string a) => a.Length > 0 && a.All(ch => char.IsLetterOrDigit(ch) || "-_.,:=/+".Contains(ch)) ? a : "'" + a.Replace("'", "'\\''") + "'";
}
