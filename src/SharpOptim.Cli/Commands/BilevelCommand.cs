using System.Diagnostics;
using System.Globalization;
using SharpOptim.Bilevel;
using SharpOptim.Cli.Bilevel;
using SharpOptim.Tasks.Bilevel;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim bilevel --task hyperclean|hyperclean-blocks|l2-global|l2-groups|l2-per-feature [--methods A,B] [--seeds N] [--out DIR]</c>: runs bilevel methods on a real
/// task for several seeds, prints progress and a table, and writes results.json/csv, curves.csv, plots and report.md
/// (atomically, through a staging folder; see <see cref="BilevelReport"/>).
/// </summary>
public static class BilevelCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["task"] = true, ["methods"] = true, ["seeds"] = true, ["out"] = true, ["force"] = false, ["threads"] = true,
        ["iterations-scale"] = true, ["no-progress"] = false,
    };

    public static int Run(Options o, IReadOnlyList<string> args, TextWriter stdout)
    {
        string taskName = o.String("task", "hyperclean");
        if (taskName is not ("hyperclean" or "hyperclean-blocks" or "l2-global" or "l2-groups" or "l2-per-feature"))
            throw new UsageException($"bilevel: unknown task '{taskName}'; valid: hyperclean, hyperclean-blocks, l2-global, l2-groups, l2-per-feature.");
        int seeds = (int)o.Long("seeds", 3, 1, 100);
        double scale = o.Double("iterations-scale", 1, 1e-3, 100);
        string dir = o.String("out", Path.Combine("bilevel-results", taskName));
        if (File.Exists(Path.Combine(dir, "results.json")) && !o.Has("force"))
            throw new UsageException($"bilevel: '{dir}' already holds results; pass --force to replace them or --out to choose another folder.");
        IBilevelBenchTask Make(int seed) => taskName == "hyperclean" ? new HyperCleaningBench(seed)
            : taskName == "hyperclean-blocks" ? new OneVsRestCleaningBench(seed)
            : new L2TuningBench(seed, taskName switch { "l2-global" => L2Grouping.Global, "l2-groups" => L2Grouping.RealAndNoise, _ => L2Grouping.PerFeature }, taskName);
        IReadOnlyList<string> methods;
        using (var probe = Make(0))
        {
            methods = o.String("methods") is { } m ? m.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : probe.DefaultMethods;
            if (methods.Count == 0) throw new UsageException("bilevel: --methods is empty.");
            foreach (var name in methods)   // an unknown name fails here, before any run
            {
                var p = probe.CreateProblem(BatchStream.Full(), BatchStream.Full());
                probe.CreateSolver(name, p);
            }
        }
        using var threads = ThreadsOption.Apply(o, 1);
        stdout.WriteLine(threads.Describe());
        bool progress = !o.Has("no-progress");
        var runs = new List<BilevelRunRecord>();
        var baselines = new List<(int, string, IReadOnlyDictionary<string, double>)>();
        string headline = "", machine = Inv($"Machine: {Environment.ProcessorCount} logical CPU cores, {threads.Describe()}; shared with other jobs, so timings are noisy.");
        IReadOnlyList<string> tableMetrics = Array.Empty<string>();
        for (int seed = 0; seed < seeds; seed++)
        {
            using var task = Make(seed);
            headline = task.Headline;
            tableMetrics = task.TableMetrics;
            foreach (var b in task.Baselines())
            {
                baselines.Add((seed, b.Name, b.Metrics));
                stdout.WriteLine(Inv($"seed {seed}: {b.Name}: {string.Join(", ", b.Metrics.Select(kv => $"{kv.Key} {kv.Value:F4}"))}"));
            }
            foreach (var method in methods)
            {
                var (ub, lb) = task.BatchSizes(method);
                var upper = ub == 0 ? BatchStream.Full() : BatchStream.Random(task.UpperCount, ub, 1000 * seed + 1);
                var lower = lb == 0 ? BatchStream.Full() : BatchStream.Random(task.LowerCount, lb, 1000 * seed + 2);
                var problem = task.CreateProblem(upper, lower);
                var (solver, iterations, config) = task.CreateSolver(method, problem);
                iterations = Math.Max(1, (int)Math.Round(iterations * scale));
                int every = Math.Max(1, iterations / 20);
                var curve = new List<BilevelCurvePoint> { new(0, 0, 0, task.Evaluate(problem.X, problem.Y)) };
                var clock = new Stopwatch();
                bool diverged = false;
                for (int it = 1; it <= iterations; it++)
                {
                    clock.Start();
                    solver.Step();
                    clock.Stop();
                    if (it % every == 0 || it == iterations)
                    {
                        var metrics = task.Evaluate(problem.X, problem.Y);
                        curve.Add(new(it, clock.Elapsed.TotalSeconds, solver.Counts.Total, metrics));
                        if (progress)
                            stdout.WriteLine(Inv($"seed {seed} {method,-16} it {it,6}/{iterations}  {string.Join("  ", tableMetrics.Select(k => $"{k} {metrics[k]:F4}"))}  {clock.Elapsed.TotalSeconds,6:F1} s"));
                        if (metrics.Values.Any(v => double.IsNaN(v) || double.IsInfinity(v)) || !double.IsFinite(metrics["upper_loss"]))
                        {
                            diverged = true;
                            break;
                        }
                    }
                }
                var final = curve[^1].Metrics;
                runs.Add(new BilevelRunRecord(method, seed, config, solver.Iteration, clock.Elapsed.TotalSeconds, solver.Counts, final, curve, diverged));
                stdout.WriteLine(Inv($"seed {seed} {method}: {string.Join(", ", tableMetrics.Select(k => $"{k} {final[k]:F4}"))}, {clock.Elapsed.TotalSeconds:F1} s, {solver.Counts.Total} oracle calls{(diverged ? ", DIVERGED" : "")}"));
            }
        }
        var results = new BilevelResults(taskName, "sharpoptim " + string.Join(' ', args), methods, seeds, headline, tableMetrics, runs, baselines, machine);
        stdout.WriteLine();
        stdout.Write(BilevelReport.Table(results));
        BilevelReport.Write(results, dir);
        stdout.WriteLine($"wrote {Path.Combine(dir, "report.md")}");
        return 0;
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
