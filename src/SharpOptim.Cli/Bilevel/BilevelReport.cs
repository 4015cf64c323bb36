using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Cli.Compare;

namespace SharpOptim.Cli.Bilevel;

/// <summary>
/// Writes a bilevel run's results.json, results.csv (one row per run), curves.csv, report.md and four plots (headline
/// metric and upper loss against solver seconds and against oracle calls) into a staging folder inside the output
/// directory, then moves each file into place (results.json last), so an interrupted write never leaves a mix.
/// </summary>
internal static class BilevelReport
{
    private static string Inv(FormattableString s) => FormattableString.Invariant(s);

    public static void Write(BilevelResults r, string dir)
    {
        Directory.CreateDirectory(dir);
        string staging = Path.Combine(dir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            File.WriteAllText(Path.Combine(staging, "results.csv"), Csv(r));
            File.WriteAllText(Path.Combine(staging, "curves.csv"), Curves(r));
            Plot(r, Path.Combine(staging, $"{r.Headline}_vs_time.png"), r.Headline, byCalls: false);
            Plot(r, Path.Combine(staging, $"{r.Headline}_vs_oracle_calls.png"), r.Headline, byCalls: true);
            Plot(r, Path.Combine(staging, "upper_loss_vs_time.png"), "upper_loss", byCalls: false);
            Plot(r, Path.Combine(staging, "upper_loss_vs_oracle_calls.png"), "upper_loss", byCalls: true);
            File.WriteAllText(Path.Combine(staging, "report.md"), Markdown(r));
            File.WriteAllText(Path.Combine(staging, "results.json"), Json(r));
            foreach (var f in Directory.GetFiles(staging).Select(Path.GetFileName).Where(f => f != "results.json"))
                File.Move(Path.Combine(staging, f!), Path.Combine(dir, f!), overwrite: true);
            File.Move(Path.Combine(staging, "results.json"), Path.Combine(dir, "results.json"), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>Mean and sample standard deviation.</summary>
    public static (double Mean, double Std) Stats(IEnumerable<double> values)
    {
        var v = values.ToList();
        if (v.Count == 0) return (double.NaN, double.NaN);
        double m = v.Average();
        double s = v.Count > 1 ? Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Count - 1)) : 0;
        return (m, s);
    }

    /// <summary>The summary table (markdown), one row per method and per baseline.</summary>
    public static string Table(BilevelResults r)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| method | " + string.Join(" | ", r.TableMetrics) + " | iterations | solver s | oracle calls (f / g / 2nd) | diverged |");
        sb.AppendLine("|---|" + string.Concat(r.TableMetrics.Select(_ => "---|")) + "---|---|---|---|");
        foreach (var m in r.Methods)
        {
            var runs = r.Runs.Where(x => x.Method == m).ToList();
            if (runs.Count == 0) continue;
            var cells = r.TableMetrics.Select(k => Cell(runs.Select(x => x.Final.TryGetValue(k, out var v) ? v : double.NaN)));
            var (sec, secSd) = Stats(runs.Select(x => x.Seconds));
            sb.AppendLine(Inv($"| {m} | {string.Join(" | ", cells)} | {runs[0].Iterations} | {sec:F1} ± {secSd:F1} | {runs.Average(x => x.Counts.UpperGradients):F0} / {runs.Average(x => x.Counts.LowerGradients):F0} / {runs.Average(x => x.Counts.SecondOrder):F0} | {runs.Count(x => x.Diverged)}/{runs.Count} |"));
        }
        foreach (var name in r.Baselines.Select(b => b.Name).Distinct())
        {
            var bs = r.Baselines.Where(b => b.Name == name).ToList();
            var cells = r.TableMetrics.Select(k => Cell(bs.Select(b => b.Metrics.TryGetValue(k, out var v) ? v : double.NaN)));
            sb.AppendLine($"| *{name}* | {string.Join(" | ", cells)} | | | | |");
        }
        return sb.ToString();
    }

    private static string Cell(IEnumerable<double> values)
    {
        var v = values.ToList();
        if (v.All(double.IsNaN)) return "–";
        var (m, s) = Stats(v);
        return Inv($"{m:F4} ± {s:F4}");
    }

    private static string Markdown(BilevelResults r)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Inv($"# sharpoptim bilevel: {r.Task}"));
        sb.AppendLine();
        sb.AppendLine(Inv($"Command: `{r.Command}`  "));
        sb.AppendLine(Inv($"Seeds: {r.Seeds} (each seed draws its own split{(r.Task == "hyperclean" ? ", label corruption" : "")} and minibatches). Mean ± sample standard deviation over seeds. {r.Machine}"));
        sb.AppendLine();
        sb.AppendLine(Table(r));
        sb.AppendLine("Oracle calls: f = gradients of the upper loss, g = gradients of the lower loss, 2nd = double-backward calls of g (Hessian-vector and cross products, both from one call). Solver seconds exclude evaluation.");
        sb.AppendLine();
        sb.AppendLine("## Configurations");
        sb.AppendLine();
        foreach (var m in r.Methods)
        {
            var run = r.Runs.FirstOrDefault(x => x.Method == m);
            if (run is not null) sb.AppendLine(Inv($"- **{m}**: {run.Config}"));
        }
        sb.AppendLine();
        sb.AppendLine("## Per seed");
        sb.AppendLine();
        sb.AppendLine("| method | seed | " + string.Join(" | ", r.TableMetrics) + " | solver s | oracle calls |");
        sb.AppendLine("|---|---|" + string.Concat(r.TableMetrics.Select(_ => "---|")) + "---|---|");
        foreach (var run in r.Runs)
            sb.AppendLine(Inv($"| {run.Method} | {run.Seed} | {string.Join(" | ", r.TableMetrics.Select(k => run.Final.TryGetValue(k, out var v) ? v.ToString("F4", CultureInfo.InvariantCulture) : "–"))} | {run.Seconds:F1} | {run.Counts.Total} |"));
        foreach (var b in r.Baselines)
            sb.AppendLine(Inv($"| *{b.Name}* | {b.Seed} | {string.Join(" | ", r.TableMetrics.Select(k => b.Metrics.TryGetValue(k, out var v) ? v.ToString("F4", CultureInfo.InvariantCulture) : "–"))} | | |"));
        sb.AppendLine();
        sb.AppendLine("## Plots");
        sb.AppendLine();
        foreach (var p in new[] { $"{r.Headline}_vs_time", $"{r.Headline}_vs_oracle_calls", "upper_loss_vs_time", "upper_loss_vs_oracle_calls" })
            sb.AppendLine($"![{p}]({p}.png)");
        return sb.ToString();
    }

    private static string Csv(BilevelResults r)
    {
        var keys = r.Runs.SelectMany(x => x.Final.Keys).Distinct().ToList();
        var sb = new StringBuilder();
        sb.AppendLine("method,seed,iterations,seconds,upper_gradients,lower_gradients,second_order,diverged," + string.Join(",", keys));
        foreach (var x in r.Runs)
            sb.AppendLine(Inv($"{x.Method},{x.Seed},{x.Iterations},{x.Seconds:R},{x.Counts.UpperGradients},{x.Counts.LowerGradients},{x.Counts.SecondOrder},{x.Diverged},") +
                string.Join(",", keys.Select(k => x.Final.TryGetValue(k, out var v) ? v.ToString("R", CultureInfo.InvariantCulture) : "")));
        return sb.ToString();
    }

    private static string Curves(BilevelResults r)
    {
        var keys = r.Runs.SelectMany(x => x.Curve.SelectMany(c => c.Metrics.Keys)).Distinct().ToList();
        var sb = new StringBuilder();
        sb.AppendLine("method,seed,iteration,seconds,oracle_calls," + string.Join(",", keys));
        foreach (var x in r.Runs)
            foreach (var c in x.Curve)
                sb.AppendLine(Inv($"{x.Method},{x.Seed},{c.Iteration},{c.Seconds:R},{c.OracleCalls},") +
                    string.Join(",", keys.Select(k => c.Metrics.TryGetValue(k, out var v) ? v.ToString("R", CultureInfo.InvariantCulture) : "")));
        return sb.ToString();
    }

    private static string Json(BilevelResults r) => JsonSerializer.Serialize(new
    {
        task = r.Task,
        command = r.Command,
        seeds = r.Seeds,
        machine = r.Machine,
        runs = r.Runs.Select(x => new
        {
            method = x.Method, seed = x.Seed, config = x.Config, iterations = x.Iterations, seconds = x.Seconds, diverged = x.Diverged,
            oracle_calls = new { upper_gradients = x.Counts.UpperGradients, lower_gradients = x.Counts.LowerGradients, second_order = x.Counts.SecondOrder },
            final = x.Final.ToDictionary(k => k.Key, k => double.IsFinite(k.Value) ? (double?)k.Value : null),
        }),
        baselines = r.Baselines.Select(b => new { seed = b.Seed, name = b.Name, metrics = b.Metrics.ToDictionary(k => k.Key, k => double.IsFinite(k.Value) ? (double?)k.Value : null) }),
    }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Mean curve over seeds of <paramref name="metric"/> per method (points matched by index; each seed has the
    /// same evaluation schedule), against mean solver seconds or mean oracle calls.</summary>
    private static void Plot(BilevelResults r, string path, string metric, bool byCalls)
    {
        var plt = new ScottPlot.Plot();
        var colors = PlotStyle.Colors(Math.Max(1, r.Methods.Count));
        var all = new List<double>();
        for (int k = 0; k < r.Methods.Count; k++)
        {
            var runs = r.Runs.Where(x => x.Method == r.Methods[k] && x.Curve.Count > 0).ToList();
            if (runs.Count == 0) continue;
            int n = runs.Min(x => x.Curve.Count);
            var xs = Enumerable.Range(0, n).Select(i => runs.Average(x => byCalls ? x.Curve[i].OracleCalls : x.Curve[i].Seconds)).ToArray();
            var ys = Enumerable.Range(0, n).Select(i => runs.Average(x => x.Curve[i].Metrics.TryGetValue(metric, out var v) ? v : double.NaN)).ToArray();
            all.AddRange(ys.Where(double.IsFinite));
            var line = plt.Add.Scatter(xs, ys);
            line.Color = colors[k];
            line.LineWidth = 2;
            line.MarkerSize = 3;
            line.LegendText = runs.Count > 1 ? Inv($"{r.Methods[k]} (mean of {runs.Count})") : r.Methods[k];
        }
        if (byCalls) plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic();
        plt.Title(Inv($"{r.Task}: {metric} vs {(byCalls ? "oracle calls" : "solver seconds")}"));
        plt.XLabel(byCalls ? "oracle calls (gradients of f and g + double-backward calls)" : "solver seconds (evaluation excluded)");
        plt.YLabel(metric);
        if (all.Count > 0)
        {
            double lo = all.Min(), hi = all.Max();
            double pad = Math.Max(1e-3, (hi - lo) * 0.05);
            plt.Axes.SetLimitsY(lo - pad, hi + pad);
        }
        plt.ShowLegend(metric.Contains("loss") ? ScottPlot.Alignment.UpperRight : ScottPlot.Alignment.LowerRight);
        plt.SavePng(path, 900, 520);
    }
}
