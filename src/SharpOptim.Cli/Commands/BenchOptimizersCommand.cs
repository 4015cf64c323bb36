using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SharpOptim.Cli.Compare;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim bench optimizers --task T --optimizers A,B,...</c>: the cost of one optimizer step on a task's real
/// model (its real parameter names and shapes, so matrix-aware optimizers route as in training), against AdamW
/// measured in the same run: the median time of <c>step()</c> and of a whole training iteration (zero_grad, forward,
/// backward, step) over real batches, and the optimizer state in bytes per parameter and as a fraction of AdamW's.
/// Hyperparameters are compare's defaults, with --opt NAME:k=v overrides; NAME@LABEL entries as in compare.
/// </summary>
public static class BenchOptimizersCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["task"] = true, ["optimizers"] = true, ["opt"] = true, ["warmup"] = true, ["repeats"] = true, ["threads"] = true, ["cache"] = true, ["json"] = true,
    };

    public static int Run(Options o, TextWriter stdout)
    {
        string taskName = o.String("task", "charlm");
        if (!TaskCatalog.Names.Contains(taskName))
            throw new UsageException(FormattableString.Invariant($"bench optimizers: unknown task '{taskName}'; valid: {string.Join(", ", TaskCatalog.Names)}."));
        var names = CompareCommand.ParseOptimizerList(o.String("optimizers", "muon,drop-muon,auon,lanton,adam-mini,galore,frugal")!);
        names.RemoveAll(n => n.Equals("adamw", StringComparison.OrdinalIgnoreCase));
        names.Insert(0, "adamw");
        var overrides = CompareCommand.ParseOverrides(o.All("opt"), names);
        int width = Math.Max(12, names.Max(n => n.Length));
        int warmup = (int)o.Long("warmup", 3, 0, 1000);
        int repeats = (int)o.Long("repeats", 21, 1, 10_000);
        string? jsonPath = o.String("json");
        // libtorch and the fused kernels together (this set libtorch's threads only before).
        using var threadsOption = ThreadsOption.Apply(o, Environment.ProcessorCount);
        int threads = threadsOption.Threads;

        using var task = TaskCatalog.Create(taskName, o.String("cache"));
        var rows = new List<Dictionary<string, object>>();
        double adamwMs = double.NaN, adamwTrainMs = double.NaN;
        long adamwBytes = 0;
        stdout.WriteLine(FormattableString.Invariant($"bench optimizers: {task.Description}; {warmup} warm-up + {repeats} timed steps each"));
        stdout.WriteLine("  " + threadsOption.Describe());
        stdout.WriteLine(FormattableString.Invariant($"  {"optimizer".PadRight(width)} {"step ms",9} {"x AdamW",8} {"train ms",9} {"x AdamW",8} {"state B",11} {"B/param",8} {"% AdamW",8}"));
        foreach (var name in names)
        {
            manual_seed(1000);
            using var run = LoadRun(task);
            long count = run.NamedParameters.Sum(p => p.Parameter.NumberOfElements);
            string catalogName = CompareCommand.CatalogName(name);
            using var opt = OptimizerCatalog.Get(catalogName).Create(run.NamedParameters,
                CompareDefaults.ForTask(catalogName, task, overrides.GetValueOrDefault(name)));
            // Every iteration is a real training step on the next batch (fresh gradients: the noise estimates of
            // LANTON and the frozen layers of Drop-Muon behave as in training); step() and the whole iteration are
            // timed separately.
            var stepTimes = new double[repeats];
            var trainTimes = new double[repeats];
            for (int i = 0; i < warmup + repeats; i++)
            {
                using var scope = NewDisposeScope();
                long start = Stopwatch.GetTimestamp();
                opt.zero_grad();
                run.TrainLoss().backward();
                long before = Stopwatch.GetTimestamp();
                opt.step();
                if (i < warmup) continue;
                stepTimes[i - warmup] = Stopwatch.GetElapsedTime(before).TotalMilliseconds;
                trainTimes[i - warmup] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            double ms = Median(stepTimes), trainMs = Median(trainTimes);
            long bytes = opt.StateBytes;
            if (name == "adamw") (adamwMs, adamwTrainMs, adamwBytes) = (ms, trainMs, bytes);
            stdout.WriteLine(FormattableString.Invariant($"  {name.PadRight(width)} {ms,9:F2} {ms / adamwMs,8:F2} {trainMs,9:F1} {trainMs / adamwTrainMs,8:F2} {bytes,11:N0} {bytes / (double)count,8:F2} {100.0 * bytes / adamwBytes,7:F1}%"));
            rows.Add(new Dictionary<string, object>
            {
                ["optimizer"] = name, ["step_ms"] = Math.Round(ms, 3), ["step_vs_adamw"] = Math.Round(ms / adamwMs, 3),
                ["train_step_ms"] = Math.Round(trainMs, 3), ["train_step_vs_adamw"] = Math.Round(trainMs / adamwTrainMs, 3),
                ["state_bytes"] = bytes, ["state_bytes_per_param"] = Math.Round(bytes / (double)count, 3),
                ["state_vs_adamw"] = Math.Round(bytes / (double)adamwBytes, 4), ["params"] = count,
            });
        }
        if (jsonPath is not null)
        {
            var doc = new Dictionary<string, object?> { ["task"] = taskName, ["threads"] = threads, ["warmup"] = warmup, ["repeats"] = repeats, ["rows"] = rows };
            string text = JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }) + "\n";
            SharpOptim.Checkpoints.AtomicFile.Write(jsonPath, s =>
            {
                using var w = new StreamWriter(s, leaveOpen: true);
                w.Write(text);
            });
            stdout.WriteLine($"  wrote {jsonPath}");
        }
        return 0;
    }

    private static double Median(double[] times)
    {
        Array.Sort(times);
        int n = times.Length;
        return n % 2 == 1 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
    }

    private static TaskRun LoadRun(TrainingTask task)
    {
        try { return task.Start(0); }
        catch (FileNotFoundException e) { throw new UsageException(e.Message); }
    }
}
