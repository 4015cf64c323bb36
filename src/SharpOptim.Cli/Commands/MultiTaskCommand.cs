using System.Globalization;
using SharpOptim.Cli.MultiTask;
using SharpOptim.MultiTask;
using SharpOptim.Tasks.MultiTask;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim multitask</c>: trains a multi-task problem (<see cref="MultiTaskProblem"/>) with several gradient
/// balancers and seeds, plus the single-task references (each task trained alone, for Δm%), prints a table with
/// per-task metrics, Δm%, time per step and backward passes per step, and writes results.json, results.csv, plots and
/// report.md (<see cref="MultiTaskReport"/>). Names, counts and the output directory are checked before any training;
/// Ctrl-C stops after the current run and writes what finished, marked incomplete.
/// </summary>
public static class MultiTaskCommand
{
    /// <summary>The options the command accepts (true: takes a value).</summary>
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["task"] = true, ["balancers"] = true, ["steps"] = true, ["seeds"] = true, ["eval-every"] = true, ["out"] = true,
        ["force"] = false, ["cache"] = true, ["threads"] = true, ["no-single-task"] = false,
    };

    /// <summary>Runs the command.</summary>
    public static int Run(Options o, IReadOnlyList<string> args, TextWriter stdout, CancellationToken cancel = default)
    {
        string taskName = o.String("task", "digits-3task");
        if (!MultiTaskProblem.Names.Contains(taskName))
            throw new UsageException(FormattableString.Invariant($"unknown multi-task problem '{taskName}'; valid: {string.Join(", ", MultiTaskProblem.Names)}."));
        var problem = MultiTaskProblem.Create(taskName, o.String("cache"));
        var balancers = o.String("balancers", string.Join(",", MultiTaskBalancers.Names)).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (balancers.Count == 0) throw new UsageException("--balancers needs at least one name.");
        foreach (var b in balancers)
            if (!MultiTaskBalancers.Names.Contains(b))
                throw new UsageException(FormattableString.Invariant($"unknown balancer '{b}'; valid: {string.Join(", ", MultiTaskBalancers.Names)}."));
        if (balancers.Distinct().Count() != balancers.Count) throw new UsageException("--balancers names a balancer twice.");
        int steps = (int)o.Long("steps", problem.DefaultSteps, 1, 10_000_000);
        int seeds = (int)o.Long("seeds", 3, 1, 1000);
        int evalEvery = (int)o.Long("eval-every", Math.Max(1, steps / 10), 1, 10_000_000);
        bool references = !o.Has("no-single-task");
        string outDir = o.String("out") ?? DefaultOut(taskName, o.Has("force"));
        if (MultiTaskReport.HoldsResults(outDir) && !o.Has("force"))
            throw new UsageException(FormattableString.Invariant($"the output directory '{outDir}' already holds results; choose another --out, or give --force to replace them."));
        ThreadsOption.Requested(o);
        try
        {
            Directory.CreateDirectory(outDir);
            string probe = Path.Combine(outDir, FormattableString.Invariant($".sharpoptim-write-test-{Environment.ProcessId}"));
            File.WriteAllBytes(probe, new byte[] { 1 });
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException(FormattableString.Invariant($"cannot write to the output directory '{outDir}': {e.Message}"));
        }

        using var data = problem.Load();
        using var train = new MultiTaskTargets(data.TrainX, data.TrainY, problem.ReconstructionScale);
        using var test = new MultiTaskTargets(data.TestX, data.TestY, problem.ReconstructionScale);
        long parameters;
        using (var probeNet = new MultiTaskNet(problem)) parameters = probeNet.parameters().Sum(p => p.numel());
        using var threads = ThreadsOption.ForModel(o, parameters);
        int t = problem.Heads.Count;
        var started = DateTime.UtcNow;
        stdout.WriteLine(FormattableString.Invariant($"multitask {taskName}: {problem.Description}"));
        stdout.WriteLine(FormattableString.Invariant($"  {balancers.Count} balancer(s) x {seeds} seed(s) x {steps} steps{(references ? $", plus {t} single-task reference(s) per seed" : "")}; {parameters:N0} parameters"));
        stdout.WriteLine("  " + threads.Describe());

        // Untimed warm-up (JIT, libtorch start-up) on every balancer, so that the first timed run is not charged for it.
        foreach (var b in balancers)
            MultiTaskTrainer.Train(problem, data, train, test, b, MultiTaskBalancers.Create(b, t), 1000, Math.Min(5, steps), steps);

        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        ConsoleCancelEventHandler onCtrlC = (_, e) => { e.Cancel = true; interrupt.Cancel(); };
        Console.CancelKeyPress += onCtrlC;
        var runs = new List<MultiTaskRunResult>();
        try
        {
            // Interleaved by seed, so that slow phases of a shared machine spread over every method rather than one.
            for (int seed = 0; seed < seeds && !interrupt.IsCancellationRequested; seed++)
            {
                if (references)
                    for (int k = 0; k < t && !interrupt.IsCancellationRequested; k++)
                    {
                        var oneHot = Enumerable.Range(0, t).Select(j => j == k ? 1.0 : 0.0).ToArray();
                        var r = MultiTaskTrainer.Train(problem, data, train, test, "stl", new FixedWeights(oneHot), seed, steps, evalEvery, k, interrupt.Token);
                        Keep(r, FormattableString.Invariant($"stl-{problem.TaskName(k)}"));
                    }
                foreach (var b in balancers)
                {
                    if (interrupt.IsCancellationRequested) break;
                    Keep(MultiTaskTrainer.Train(problem, data, train, test, b, MultiTaskBalancers.Create(b, t), seed, steps, evalEvery, null, interrupt.Token), b);
                }
            }
        }
        finally
        {
            Console.CancelKeyPress -= onCtrlC;
        }

        void Keep(MultiTaskRunResult r, string label)
        {
            if (!r.Completed && !r.Diverged) return;   // stopped by Ctrl-C: not a result
            runs.Add(r);
            string metrics = string.Join(", ", Enumerable.Range(0, t).Select(k => problem.HigherIsBetter(k)
                ? FormattableString.Invariant($"{problem.MetricName(k)} {100 * r.FinalMetrics[k]:F1}%")
                : FormattableString.Invariant($"{problem.MetricName(k)} {r.FinalMetrics[k]:F3}")));
            stdout.WriteLine(FormattableString.Invariant($"  {label,-14} seed {r.Seed}: {r.Steps} steps{(r.Diverged ? " (diverged)" : "")}, {metrics}; {r.MedianStepMs:F2} ms/step, {r.Passes}"));
        }

        bool complete = !interrupt.IsCancellationRequested;
        var summaries = MultiTaskSummary.Of(problem, balancers, runs);
        stdout.WriteLine();
        stdout.Write(MultiTaskReport.Table(problem, summaries, runs));
        var meta = new MultiTaskReport.Meta("sharpoptim " + string.Join(' ', args), steps, seeds, evalEvery, started, complete, threads.Describe());
        var files = MultiTaskReport.Write(problem, balancers, runs, meta, outDir);
        stdout.WriteLine(FormattableString.Invariant($"wrote {string.Join(", ", files)} to {Path.GetFullPath(outDir)}"));
        return complete ? 0 : CompareCommand.InterruptedExitCode;
    }

    private static string DefaultOut(string task, bool force)
    {
        string first = Path.Combine("multitask-results", task);
        if (force || !MultiTaskReport.HoldsResults(first)) return first;
        for (int k = 2; ; k++)
        {
            string dir = string.Create(CultureInfo.InvariantCulture, $"{first}-{k}");
            if (!MultiTaskReport.HoldsResults(dir)) return dir;
        }
    }
}
