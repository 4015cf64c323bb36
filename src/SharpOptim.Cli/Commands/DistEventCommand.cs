using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Cli.Compare;
using SharpOptim.Distributed;
using SharpOptim.Tasks.Distributed;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// The event-driven branch of <c>sharpoptim dist</c> (<c>--algorithm dadao</c> or <c>sa-srrw</c>, <c>--task
/// breast_cancer</c>): these methods do not run in lockstep rounds, so instead of <see cref="DistributedRunner"/> they
/// are driven by <see cref="EventDrivenExperiments"/> on <see cref="LogisticNodes"/> (simulator only, as the brief
/// allows). Prints progress and a table and writes results.json, curves.csv, plots and report.md atomically (staging
/// folder, results.json moved last).
/// <list type="bullet">
/// <item>dadao: for every graph (--topology ring,geometric) and μ (--mus 0.1,0.01,0.001), DADAO over --seeds event
/// lists and the gradient-tracking baseline (full gradients, tuned step) until (1/n)Σ‖x_i − x*‖² &lt; --target (1e-8);
/// the growth of the gradient count per decade of μ is fitted and compared with √(L/μ) and L/μ.</item>
/// <item>sa-srrw: for every α (--alphas 0,5,20), --seeds walks of --rounds token steps on --topology (small-world);
/// the seed-averaged ‖θ_n − θ*‖² vs n on log-log axes.</item>
/// </list>
/// </summary>
public static class DistEventCommand
{
    /// <summary>The algorithms this branch runs.</summary>
    public static readonly IReadOnlyList<string> Algorithms = new[] { "dadao", "sa-srrw" };

    private static readonly string[] Files = { "results.json", "curves.csv", "error_vs_gradients.png", "gradients_vs_condition.png", "error_vs_steps.png", "report.md" };

    /// <summary>True when <paramref name="o"/> asks for an event-driven algorithm (which must then run alone).</summary>
    public static bool Handles(Options o)
    {
        var names = o.String("algorithm", "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (!names.Any(Algorithms.Contains)) return false;
        if (names.Length > 1) throw new UsageException($"dist: {string.Join(", ", names.Where(Algorithms.Contains))} is event-driven and runs alone (one --algorithm), not with {string.Join(", ", names.Where(n => !Algorithms.Contains(n)))}.");
        return true;
    }

    public static int Run(Options o, IReadOnlyList<string> args, TextWriter stdout)
    {
        string algorithm = o.String("algorithm", "");
        if (o.String("backend", "sim") != "sim") throw new UsageException($"dist: {algorithm} is event-driven and runs on the simulator only (--backend sim).");
        string taskName = o.String("task", "breast_cancer");
        if (taskName != "breast_cancer") throw new UsageException($"dist: {algorithm} runs on --task breast_cancer (ℓ2-logistic regression); got '{taskName}'.");
        bool dadao = algorithm == "dadao";
        int workers = (int)o.Long("workers", dadao ? 10 : 20, 3, 455);
        var graphs = o.String("topology", dadao ? "ring,geometric" : "small-world").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var g in graphs)
            if (!NodeGraphs.Names.Contains(g)) throw new UsageException($"dist: {algorithm} takes --topology among {string.Join(", ", NodeGraphs.Names)}; got '{g}'.");
        var mus = Numbers(o, "mus", dadao ? "0.1,0.01,0.001" : "0.1");
        foreach (var mu in mus) if (!(mu > 0) || !double.IsFinite(mu)) throw new UsageException($"dist: --mus {mu}: μ must be positive.");
        int seeds = (int)o.Long("seeds", dadao ? 3 : 20, 1, 1000);
        string dir = o.String("out", Path.Combine("dist-results", algorithm));
        if (File.Exists(Path.Combine(dir, "results.json")) && !o.Has("force"))
            throw new UsageException($"dist: '{dir}' already holds results; pass --force to replace them or --out to choose another folder.");
        var runs = new List<EventDrivenRun>();
        string description;
        if (dadao)
        {
            double target = o.Double("target", 1e-8, 1e-30, 1);
            description = Inv($"DADAO vs gradient tracking (full gradients, step tuned over c/L, c ∈ {{0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128}}) on standardised breast_cancer ℓ2-logistic regression over n = {workers} nodes; until (1/n)Σ‖x_i − x*‖² < {target:G3}");
            foreach (var graph in graphs)
            {
                var edges = NodeGraphs.Create(graph, workers, 0);
                foreach (var mu in mus)
                {
                    var problem = new LogisticNodes(workers, mu);
                    for (int seed = 0; seed < seeds; seed++)
                    {
                        var r = EventDrivenExperiments.RunDadao(problem, edges, graph, seed, target);
                        runs.Add(r);
                        stdout.WriteLine(Inv($"dadao {graph} μ={mu:G3} seed {seed}: L/μ {problem.Smoothness / mu:F0}, {(r.Reached ? "reached" : "NOT reached")} after {r.Gradients} gradient and {r.Communications} communication events (χ₁ {r.Constants["chi1"]:F2}, χ₂ {r.Constants["chi2"]:F2})"));
                    }
                    var gt = EventDrivenExperiments.RunGradientTracking(problem, edges, graph, target);
                    runs.Add(gt);
                    stdout.WriteLine(Inv($"gt {graph} μ={mu:G3}: {(gt.Reached ? "reached" : "NOT reached")} after {gt.Gradients} gradients and {gt.Communications} communications, step {gt.Constants["step_factor"]:G3}/L"));
                }
            }
        }
        else
        {
            var alphas = Numbers(o, "alphas", "0,5,20");
            int steps = (int)o.Long("rounds", 20_000, 1, 100_000_000);
            double scale = o.Double("step-scale", 5, 1e-9, 1e9);
            double mu = mus[0];
            var graph = graphs[0];
            var edges = NodeGraphs.Create(graph, workers, 0);
            var problem = new LogisticNodes(workers, mu);
            description = Inv($"SA-SRRW (RECONSTRUCTION) on standardised breast_cancer ℓ2-logistic regression (μ = {mu:G3}) over N = {workers} agents, {graph} graph ({edges.Length} edges), {steps} token steps, γ_n = (n+1)^−0.8, β_n = {scale:G3}·(n+1)^−0.9");
            foreach (var alpha in alphas)
                for (int seed = 0; seed < seeds; seed++)
                {
                    var r = EventDrivenExperiments.RunSaSrrw(problem, edges, graph, new SaSrrwOptions { Repellence = alpha, Seed = seed, StepScale = scale, StartNode = seed % workers }, steps);
                    runs.Add(r);
                }
            foreach (var g in runs.GroupBy(r => r.Method))
                stdout.WriteLine(Inv($"{g.Key}: mean ‖θ_n − θ*‖² at n = {steps}: {g.Average(r => r.Curve[^1].Error):E3} over {g.Count()} seeds"));
        }
        string table = dadao ? DadaoTable(runs) : SaSrrwTable(runs);
        stdout.WriteLine();
        stdout.Write(table);
        Write(dir, algorithm, description, "sharpoptim " + string.Join(' ', args), runs, table, dadao);
        stdout.WriteLine($"wrote {Path.Combine(dir, "report.md")}");
        return 0;
    }

    private static double[] Numbers(Options o, string name, string fallback) =>
        o.String(name, fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
            double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v : throw new UsageException($"dist: --{name} '{s}' is not a number.")).ToArray();

    /// <summary>Per graph and μ: mean gradient and communication counts of DADAO (over seeds) and GT, and their growth per decade of μ.</summary>
    private static string DadaoTable(IReadOnlyList<EventDrivenRun> runs)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| graph | μ | L/μ | method | reached | gradient events | communication events | gradients ×/decade | communications ×/decade |");
        sb.AppendLine("|---|---:|---:|---|---:|---:|---:|---:|---:|");
        foreach (var graph in runs.Select(r => r.Graph).Distinct())
            foreach (var method in new[] { "dadao", "gt" })
            {
                (double Mu, double G, double C)? previous = null;
                foreach (var g in runs.Where(r => r.Graph == graph && r.Method == method).GroupBy(r => r.Mu).OrderByDescending(g => g.Key))
                {
                    double grads = g.Average(r => (double)r.Gradients), comms = g.Average(r => (double)r.Communications);
                    string growth(double now, double before) => previous is null ? "–" : Inv($"{Math.Pow(now / before, 1 / Math.Log10(previous.Value.Mu / g.Key)):F2}");
                    var first = g.First();
                    sb.AppendLine(Inv($"| {graph} | {g.Key:G3} | {first.Constants["L"] / g.Key:F0} | {method}{(method == "gt" ? Inv($" (η = {first.Constants["step_factor"]:G3}/L)") : "")} | {g.Count(r => r.Reached)}/{g.Count()} | {grads:F0} | {comms:F0} | {(previous is null ? "–" : growth(grads, previous.Value.G))} | {(previous is null ? "–" : growth(comms, previous.Value.C))} |"));
                    previous = (g.Key, grads, comms);
                }
            }
        sb.AppendLine();
        sb.AppendLine("Fitted exponent p of gradient events ∝ (L/μ)^p (least squares over the μ values; √(L/μ) is p = 0.5, L/μ is p = 1):");
        sb.AppendLine();
        foreach (var graph in runs.Select(r => r.Graph).Distinct())
            foreach (var method in new[] { "dadao", "gt" })
                sb.AppendLine(Inv($"- {graph}, {method}: p = {Exponent(runs.Where(r => r.Graph == graph && r.Method == method).ToList()):F2}"));
        return sb.ToString();
    }

    /// <summary>Least-squares slope of log(mean gradient count) against log(L/μ).</summary>
    public static double Exponent(IReadOnlyList<EventDrivenRun> runs)
    {
        var points = runs.GroupBy(r => r.Mu).Select(g => (X: Math.Log(g.First().Constants["L"] / g.Key), Y: Math.Log(g.Average(r => (double)r.Gradients)))).ToList();
        if (points.Count < 2) return double.NaN;
        double mx = points.Average(p => p.X), my = points.Average(p => p.Y);
        return points.Sum(p => (p.X - mx) * (p.Y - my)) / points.Sum(p => (p.X - mx) * (p.X - mx));
    }

    private static string SaSrrwTable(IReadOnlyList<EventDrivenRun> runs)
    {
        var groups = runs.GroupBy(r => r.Method).ToList();
        var steps = groups[0].First().Curve.Select(p => p.Gradients).ToArray();
        var shown = new[] { steps.Length / 2, 3 * steps.Length / 4, steps.Length - 1 }.Distinct().ToArray();
        var baseline = groups[0].ToList();
        var sb = new StringBuilder();
        sb.Append("| method | seeds |");
        foreach (var k in shown) sb.Append(Inv($" E‖θ_n − θ*‖² at n = {steps[k]} |"));
        sb.AppendLine(Inv($" ratio to {groups[0].Key} at n = {steps[^1]} | fitted slope of log error vs log n (last half of the curve) | max |x_i − 1/N| at the end |"));
        sb.Append("|---|---:|").Append(string.Concat(shown.Select(_ => "---:|"))).AppendLine("---:|---:|---:|");
        foreach (var g in groups)
        {
            var list = g.ToList();
            double Mean(int k) => list.Average(r => r.Curve[k].Error);
            sb.Append(Inv($"| {g.Key} | {list.Count} |"));
            foreach (var k in shown) sb.Append(Inv($" {Mean(k):E3} ± {StdErr(list.Select(r => r.Curve[k].Error)):E1} |"));
            var half = Enumerable.Range(steps.Length / 2, steps.Length - steps.Length / 2).Where(k => steps[k] > 0).ToList();
            double mx = half.Average(k => Math.Log(steps[k])), my = half.Average(k => Math.Log(Mean(k)));
            double slope = half.Sum(k => (Math.Log(steps[k]) - mx) * (Math.Log(Mean(k)) - my)) / half.Sum(k => Math.Pow(Math.Log(steps[k]) - mx, 2));
            sb.AppendLine(Inv($" {Mean(steps.Length - 1) / baseline.Average(r => r.Curve[^1].Error):F3} | {slope:F2} | {list.Average(r => r.Constants["visit_measure_max_deviation"]):E2} |"));
        }
        sb.AppendLine();
        sb.AppendLine("± is the standard error of the mean over seeds.");
        return sb.ToString();
    }

    private static double StdErr(IEnumerable<double> values)
    {
        var v = values.ToList();
        if (v.Count < 2) return 0;
        double m = v.Average();
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Count - 1) / v.Count);
    }

    private static void Write(string dir, string algorithm, string description, string command, IReadOnlyList<EventDrivenRun> runs, string table, bool dadao)
    {
        Directory.CreateDirectory(dir);
        string staging = Path.Combine(dir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            File.WriteAllText(Path.Combine(staging, "results.json"), JsonSerializer.Serialize(new { algorithm, description, command, runs }, new JsonSerializerOptions { WriteIndented = true }));
            var csv = new StringBuilder("method,graph,mu,seed,gradients,communications,error\n");
            foreach (var r in runs)
                foreach (var p in r.Curve)
                    csv.AppendLine(Inv($"{r.Method},{r.Graph},{r.Mu:R},{r.Seed},{p.Gradients},{p.Communications},{p.Error:R}"));
            File.WriteAllText(Path.Combine(staging, "curves.csv"), csv.ToString());
            if (dadao)
            {
                PlotDadaoCurves(runs, Path.Combine(staging, "error_vs_gradients.png"));
                PlotGrowth(runs, Path.Combine(staging, "gradients_vs_condition.png"));
            }
            else PlotSaSrrw(runs, Path.Combine(staging, "error_vs_steps.png"));
            var md = new StringBuilder();
            md.AppendLine($"# sharpoptim dist: {algorithm}").AppendLine();
            md.AppendLine(description + ".").AppendLine();
            md.AppendLine("Command:").AppendLine().AppendLine("```").AppendLine(command).AppendLine("```").AppendLine();
            md.Append(table).AppendLine();
            md.AppendLine(dadao
                ? "Counts are network totals at the first check (every 100 events) below the target; DADAO's are means over its seeds (event lists). A communication is one edge exchange (one d-vector each way): one DADAO communication event; 2|E| per gradient-tracking round (x and y). Plots: error_vs_gradients.png (seed 0 for DADAO), gradients_vs_condition.png. Curves: curves.csv; everything: results.json."
                : "Plot: error_vs_steps.png (log-log, mean over seeds). Curves: curves.csv; everything: results.json.");
            File.WriteAllText(Path.Combine(staging, "report.md"), md.ToString());
            File.Delete(Path.Combine(dir, "results.json"));
            foreach (var f in Files.Where(f => f != "results.json"))
            {
                if (File.Exists(Path.Combine(staging, f))) File.Move(Path.Combine(staging, f), Path.Combine(dir, f), overwrite: true);
                else File.Delete(Path.Combine(dir, f));
            }
            File.Move(Path.Combine(staging, "results.json"), Path.Combine(dir, "results.json"), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static void PlotDadaoCurves(IReadOnlyList<EventDrivenRun> runs, string path)
    {
        var plt = new ScottPlot.Plot();
        var shown = runs.Where(r => r.Seed == 0).ToList();
        var colors = PlotStyle.Colors(shown.Count);
        for (int k = 0; k < shown.Count; k++)
        {
            var r = shown[k];
            var pts = r.Curve.Where(p => p.Gradients > 0 && p.Error > 0 && double.IsFinite(p.Error)).ToList();
            if (pts.Count == 0) continue;
            var line = plt.Add.Scatter(pts.Select(p => Math.Log10(p.Gradients)).ToArray(), pts.Select(p => Math.Log10(p.Error)).ToArray());
            line.Color = colors[k];
            line.LineWidth = 2;
            line.MarkerSize = 0;
            line.LinePattern = r.Method == "gt" ? ScottPlot.LinePattern.Dashed : ScottPlot.LinePattern.Solid;
            line.LegendText = Inv($"{r.Method} {r.Graph} μ={r.Mu:G3}");
        }
        plt.Title("DADAO (solid) vs gradient tracking (dashed): (1/n)Σ‖x_i − x*‖² vs gradient events");
        plt.XLabel("log10 gradient evaluations (network total)");
        plt.YLabel("error (log scale)");
        PlotStyle.LogAxis(plt);
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        plt.SavePng(path, 1000, 600);
    }

    private static void PlotGrowth(IReadOnlyList<EventDrivenRun> runs, string path)
    {
        var plt = new ScottPlot.Plot();
        var groups = runs.GroupBy(r => (r.Method, r.Graph)).ToList();
        var colors = PlotStyle.Colors(groups.Count);
        for (int k = 0; k < groups.Count; k++)
        {
            var pts = groups[k].GroupBy(r => r.Mu).OrderByDescending(g => g.Key)
                .Select(g => (X: Math.Log10(g.First().Constants["L"] / g.Key), Y: Math.Log10(g.Average(r => (double)r.Gradients)))).ToArray();
            var line = plt.Add.Scatter(pts.Select(p => p.X).ToArray(), pts.Select(p => p.Y).ToArray());
            line.Color = colors[k];
            line.LineWidth = 2;
            line.MarkerSize = 7;
            line.LegendText = Inv($"{groups[k].Key.Method} {groups[k].Key.Graph} (p = {Exponent(groups[k].ToList()):F2})");
        }
        plt.Title("gradient events to reach the target vs condition number (log-log; slope 0.5 = √(L/μ), 1 = L/μ)");
        plt.XLabel("log10 L/μ");
        plt.YLabel("log10 gradient events");
        plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
        plt.SavePng(path, 900, 520);
    }

    private static void PlotSaSrrw(IReadOnlyList<EventDrivenRun> runs, string path)
    {
        var plt = new ScottPlot.Plot();
        var groups = runs.GroupBy(r => r.Method).ToList();
        var colors = PlotStyle.Colors(groups.Count);
        for (int k = 0; k < groups.Count; k++)
        {
            var list = groups[k].ToList();
            var idx = Enumerable.Range(1, list[0].Curve.Count - 1).ToArray();
            var line = plt.Add.Scatter(idx.Select(i => Math.Log10(list[0].Curve[i].Gradients)).ToArray(), idx.Select(i => Math.Log10(list.Average(r => r.Curve[i].Error))).ToArray());
            line.Color = colors[k];
            line.LineWidth = 2;
            line.MarkerSize = 3;
            line.LegendText = Inv($"{groups[k].Key} (mean of {list.Count})");
        }
        plt.Title("SA-SRRW (reconstruction): E‖θ_n − θ*‖² vs token steps n (log-log)");
        plt.XLabel("log10 n");
        plt.YLabel("E‖θ_n − θ*‖² (log scale)");
        PlotStyle.LogAxis(plt);
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        plt.SavePng(path, 900, 520);
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
