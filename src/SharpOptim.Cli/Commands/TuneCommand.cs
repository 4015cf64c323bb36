using System.Globalization;
using SharpOptim.Cli.Compare;
using SharpOptim.Cli.Tune;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Tuning;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim tune</c>: per optimizer, a budgeted successive-halving sweep over log-scale hyperparameter ranges,
/// selected on a validation split carved from the training data, then the selected configuration re-run on several
/// seeds and reported once on the test split, with time-to-target (AlgoPerf-style) and sensitivity plots
/// (<see cref="TuneReport"/>). Deterministic by seed and resumable: every finished trial is a file under
/// <c>OUT/trials</c>, and running the same command again continues where it stopped. Everything is checked before the
/// first trial: names, ranges, the budget, that every optimizer accepts the tuned hyperparameters, the output folder.
/// </summary>
public static class TuneCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["task"] = true, ["optimizers"] = true, ["tune"] = true, ["range"] = true, ["budget"] = true, ["steps"] = true, ["eta"] = true, ["halvings"] = true,
        ["seeds"] = true, ["seed"] = true, ["target"] = true, ["opt"] = true, ["eval-every"] = true, ["out"] = true, ["force"] = false,
        ["tensorboard"] = true, ["threads"] = true, ["cache"] = true, ["schedule"] = true,
    };

    /// <summary>Optimizers swept when --optimizers is not given.</summary>
    public const string DefaultOptimizers = "adamw,lion,sgd";

    /// <summary>Runs the command; <paramref name="cancel"/> plays the part of Ctrl-C; <paramref name="trialFinished"/>
    /// hears of every trial (tests stop a sweep part-way with it).</summary>
    public static int Run(Options o, IReadOnlyList<string> args, TextWriter stdout, CancellationToken cancel = default,
        Action<Tuner.TrialEvent>? trialFinished = null)
    {
        string taskName = o.String("task", "digits");
        if (!TaskCatalog.Names.Contains(taskName))
            throw new UsageException(FormattableString.Invariant($"unknown task '{taskName}'; valid tasks: {string.Join(", ", TaskCatalog.Names)}."));
        int steps = (int)o.Long("steps", CompareCommand.DefaultSteps(taskName), SuccessiveHalving.MinRungSteps, 10_000_000);
        int eta = (int)o.Long("eta", 3, 2, 16);
        int halvings = (int)o.Long("halvings", 2, 0, 10);
        long budget = o.Long("budget", 20L * steps, 1, long.MaxValue / 4);
        int seeds = (int)o.Long("seeds", 3, 1, 1000);
        int sampleSeed = (int)o.Long("seed", 0, 0, int.MaxValue);
        int evalEvery = (int)o.Long("eval-every", Math.Max(1, steps / 20), 1, 10_000_000);
        double? target = o.Has("target") ? o.Double("target", 0, 0, double.MaxValue) : null;
        ThreadsOption.Requested(o);
        var names = CompareCommand.ParseOptimizerList(o.String("optimizers", DefaultOptimizers)!);
        var overrides = CompareCommand.ParseOverrides(o.All("opt"), names);
        var tuned = (o.String("tune") ?? "lr").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (tuned.Count == 0) throw new UsageException("--tune names no hyperparameter: the search space is empty.");
        if (tuned.Distinct().Count() != tuned.Count) throw new UsageException(FormattableString.Invariant($"--tune names a hyperparameter twice: {o.String("tune")}."));
        var ranges = ParseRanges(o.All("range"), tuned);
        IReadOnlyList<Rung> rungs;
        try
        {
            rungs = SuccessiveHalving.Plan(budget, steps, eta, halvings);
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--budget: " + CommandLine.MessageOf(e));
        }
        string outDir = o.String("out") ?? DefaultOutDir(taskName);
        string? scheduleText = o.String("schedule");
        if (scheduleText is not null) _ = ScheduleSpec.Parse(scheduleText, steps);   // a bad schedule fails here, before any trial

        using var task = TaskCatalog.Create(taskName, o.String("cache"), validation: true);
        TaskRun probe;
        try
        {
            manual_seed(0);
            probe = task.Start(0);
        }
        catch (FileNotFoundException e)
        {
            throw new UsageException(e.Message);
        }
        using var threads = ThreadsOption.ForModel(o, probe.NamedParameters.Sum(p => p.Parameter.NumberOfElements));
        var spaces = new Dictionary<string, List<SearchDimension>>();
        var fixedValues = new Dictionary<string, Dictionary<string, double>>();
        using (probe)
        {
            foreach (var name in names)
            {
                var entry = OptimizerCatalog.Get(CompareCommand.CatalogName(name));
                var h = CompareDefaults.ForTask(CompareCommand.CatalogName(name), task, overrides.GetValueOrDefault(name));
                IReadOnlyDictionary<string, double> defaults;
                try
                {
                    defaults = entry.Defaults(probe.NamedParameters, h);
                }
                catch (ArgumentException e)
                {
                    throw new UsageException(FormattableString.Invariant($"{name}: {CommandLine.MessageOf(e)}"));
                }
                var dims = new List<SearchDimension>();
                foreach (var t in tuned)
                {
                    if (!defaults.ContainsKey(t))
                        throw new UsageException(FormattableString.Invariant($"--tune: {name} has no hyperparameter '{t}'; its hyperparameters: {string.Join(", ", defaults.Keys)}."));
                    if (overrides.GetValueOrDefault(name)?.ContainsKey(t) == true)
                        throw new UsageException(FormattableString.Invariant($"--opt {name}: {t} is tuned (--tune), so it cannot also be fixed."));
                    double current = h.TryGetValue(t, out var hv) ? hv : defaults[t];
                    dims.Add(ranges.TryGetValue(t, out var r) ? r : SearchDimension.Default(t, current)
                        ?? throw new UsageException(FormattableString.Invariant($"--tune {t}: no default range for {name} (default {current.ToString(CultureInfo.InvariantCulture)}); give one with --range {t}=LOW:HIGH[:log|:linear].")));
                    h.Remove(t);
                }
                // Every configuration the sweep can draw must build: the corners of the box are the extremes.
                foreach (var corner in new[] { 0.0, 1.0 })
                {
                    var trial = new Dictionary<string, double>(h);
                    foreach (var d in dims) trial[d.Name] = d.At(corner);
                    try
                    {
                        using var opt = entry.Create(probe.NamedParameters, trial);
                    }
                    catch (ArgumentException e)
                    {
                        throw new UsageException(FormattableString.Invariant($"{name}: {CommandLine.MessageOf(e)}"));
                    }
                }
                spaces[name] = dims;
                fixedValues[name] = h;
            }
        }
        var plan = new TunePlan
        {
            Task = taskName, Optimizers = names, Spaces = spaces, Fixed = fixedValues, Budget = budget, Steps = steps, Eta = eta,
            Rungs = rungs.ToList(), Seeds = seeds, SampleSeed = sampleSeed, EvalEvery = evalEvery, Schedule = scheduleText ?? "constant",
        };
        var store = new TrialStore(Path.Combine(outDir, "trials"));
        PrepareOutDir(outDir, plan, store, o.Has("force"), stdout);

        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        ConsoleCancelEventHandler onCtrlC = (_, e) =>
        {
            e.Cancel = true;
            interrupt.Cancel();
            Console.Error.WriteLine("sharpoptim: stopping after the current step; finished trials are kept, and the same command continues the sweep.");
        };
        Console.CancelKeyPress += onCtrlC;
        try
        {
            stdout.WriteLine(FormattableString.Invariant($"tune {taskName}: {task.Description}"));
            stdout.WriteLine(FormattableString.Invariant($"  successive halving, eta {eta}: {string.Join(" -> ", rungs.Select(r => $"{r.Configurations} x {r.Steps} steps"))} ({SuccessiveHalving.Cost(rungs)} of {budget} budget steps per optimizer); then {seeds} seed(s) x {steps} steps"));
            stdout.WriteLine("  tuning " + string.Join("; ", names.Select(n => n + ": " + string.Join(", ", spaces[n].Select(Describe)))));
            stdout.WriteLine("  " + threads.Describe());
            string? tensorboard = o.String("tensorboard");
            var sweeps = new List<OptimizerSweep>();
            foreach (var name in names)
            {
                if (interrupt.IsCancellationRequested) break;
                var configs = new SearchSpace(spaces[name]).Sample(rungs[0].Configurations, sampleSeed);
                var sweep = Tuner.Sweep(name, configs, rungs, seeds, store,
                    (key, config) => TrainTrial(task, name, fixedValues[name], key, config, evalEvery, scheduleText, tensorboard, interrupt.Token),
                    ev =>
                    {
                        var r = ev.Result;
                        stdout.WriteLine(FormattableString.Invariant(
                            $"  {name,-12} {(ev.Key.Final ? $"final seed {ev.Key.Seed}" : $"c{ev.Key.Config:D3} {ev.Key.Steps} steps")} {ConfigText(configs[ev.Key.Config])}: validation loss {r.ValidationLoss:F4}{(r.Diverged ? " (diverged)" : "")}{(ev.Key.Final ? $", test accuracy {100 * r.TestAccuracy:F1}%" : "")}, {r.WallSeconds:F1} s{(ev.FromStore ? " (from an earlier run)" : "")}"));
                        stdout.Flush();
                        trialFinished?.Invoke(ev);
                    }, interrupt.Token);
                sweeps.Add(sweep);
            }
            var report = new TuneReport(plan, sweeps, target, "sharpoptim " + string.Join(' ', args), threads.Describe(), task.Description);
            report.PrintTable(stdout);
            report.Write(outDir);
            stdout.WriteLine(FormattableString.Invariant($"wrote {string.Join(", ", TuneReport.Files)} to {Path.GetFullPath(outDir)}"));
            if (report.Complete) return 0;
            stdout.WriteLine("interrupted: the files cover the trials that finished; run the same command again to continue the sweep.");
            return CompareCommand.InterruptedExitCode;
        }
        finally
        {
            Console.CancelKeyPress -= onCtrlC;
        }
    }

    private static TrialResult TrainTrial(TrainingTask task, string name, IReadOnlyDictionary<string, double> fixedValues, TrialKey key,
        IReadOnlyDictionary<string, double> config, int evalEvery, string? scheduleText, string? tensorboard, CancellationToken cancel)
    {
        // A schedule spans each trial's own length: a rung of 30 steps decays over 30 steps, as a user's short run would.
        var schedule = scheduleText is null ? null : ScheduleSpec.Parse(scheduleText, key.Steps)(name);
        var given = new Dictionary<string, double>(fixedValues);
        foreach (var (k, v) in config) given[k] = v;
        var (run, opt, hyper) = CompareCommand.StartSeeded(task, name, given, key.Seed);
        using var _ = run;
        using var __ = opt;
        using var log = tensorboard is null ? null : new Training.TensorBoardLog(Path.Combine(tensorboard,
            FormattableString.Invariant($"{name}_{(key.Final ? "final" : "rung")}_{ConfigText(config).Replace(' ', '_').Replace('=', '-')}_s{key.Steps}_seed{key.Seed}")));
        var r = TaskTrainer.Train(run, opt, key.Steps, schedule, key.Final ? evalEvery : 0, null, cancel, x => x.EvaluateValidation(), log);
        var evals = r.Evaluations.Select(e => new TrialEvaluation(e.Step, r.Seconds[e.Step - 1], e.Loss, e.Accuracy)).ToList();
        var test = key.Final && r.Completed ? run.Evaluate() : new Evaluation(double.NaN, double.NaN);
        return new TrialResult
        {
            Hyperparameters = hyper, ValidationLoss = r.Diverged ? double.NaN : r.TestLoss, ValidationAccuracy = r.Diverged ? double.NaN : r.TestAccuracy,
            StepsTaken = r.Steps, WallSeconds = r.WallSeconds, Diverged = r.Diverged, Evaluations = evals,
            TestLoss = test.Loss, TestAccuracy = test.Accuracy, StateBytes = r.StateBytes,
        };
    }

    /// <summary>Where a sweep writes when no --out is given: <c>tune-results/TASK</c>; running the same command again
    /// continues that sweep (a different one there is refused unless --force).</summary>
    public static string DefaultOutDir(string task) => Path.Combine("tune-results", task);

    private static void PrepareOutDir(string outDir, TunePlan plan, TrialStore store, bool force, TextWriter stdout)
    {
        string planPath = Path.Combine(outDir, "sweep.json");
        var existing = TunePlan.TryRead(planPath);
        if (existing is not null && !existing.SameAs(plan))
        {
            if (!force)
                throw new UsageException(FormattableString.Invariant($"'{outDir}' holds a different sweep (its sweep.json differs from this command's plan); choose another --out, or give --force to replace it."));
            if (Directory.Exists(store.Directory)) Directory.Delete(store.Directory, recursive: true);
        }
        else if (existing is null && File.Exists(planPath) && !force)
            throw new UsageException(FormattableString.Invariant($"'{planPath}' is not a sweep plan; choose another --out, or give --force to replace it."));
        ComparisonReport.CheckWritable(outDir, overwrite: true);
        if (existing is not null && existing.SameAs(plan))
        {
            stdout.WriteLine(FormattableString.Invariant($"continuing the sweep in {Path.GetFullPath(outDir)}: {store.Count} finished trial(s) on disk"));
            return;
        }
        string temp = planPath + ".tmp";
        File.WriteAllText(temp, plan.ToJson());
        File.Move(temp, planPath, overwrite: true);
    }

    /// <summary>Parses --range NAME=LOW:HIGH[:log|:linear] (log by default) for tuned names only.</summary>
    public static Dictionary<string, SearchDimension> ParseRanges(IReadOnlyList<string> specs, IReadOnlyList<string> tuned)
    {
        var result = new Dictionary<string, SearchDimension>();
        foreach (var spec in specs)
        {
            int eq = spec.IndexOf('=');
            if (eq <= 0) throw new UsageException(FormattableString.Invariant($"--range '{spec}': expected NAME=LOW:HIGH[:log|:linear]."));
            string name = spec[..eq].Trim();
            if (!tuned.Contains(name)) throw new UsageException(FormattableString.Invariant($"--range {name}: '{name}' is not tuned (add it to --tune)."));
            var parts = spec[(eq + 1)..].Split(':');
            if (parts.Length is < 2 or > 3) throw new UsageException(FormattableString.Invariant($"--range '{spec}': expected NAME=LOW:HIGH[:log|:linear]."));
            double Num(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
                ? v : throw new UsageException(FormattableString.Invariant($"--range {name}: '{s}' is not a number."));
            bool log = parts.Length == 2 || parts[2] switch
            {
                "log" => true,
                "linear" => false,
                _ => throw new UsageException(FormattableString.Invariant($"--range {name}: scale '{parts[2]}' is neither log nor linear.")),
            };
            try
            {
                if (!result.TryAdd(name, SearchDimension.Checked(name, Num(parts[0]), Num(parts[1]), log)))
                    throw new UsageException(FormattableString.Invariant($"--range {name} is given twice."));
            }
            catch (ArgumentException e)
            {
                throw new UsageException("--range " + CommandLine.MessageOf(e));
            }
        }
        return result;
    }

    private static string Describe(SearchDimension d) =>
        FormattableString.Invariant($"{d.Name} in [{d.Low:G3}, {d.High:G3}]{(d.Log ? " (log)" : "")}");

    /// <summary>A configuration as "name=value ..." with 3 significant digits.</summary>
    public static string ConfigText(IReadOnlyDictionary<string, double> config) =>
        string.Join(' ', config.Select(kv => FormattableString.Invariant($"{kv.Key}={kv.Value:G3}")));
}
