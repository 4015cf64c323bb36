using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Cli.Compare;
using SharpOptim.Tasks.Distributed;

namespace SharpOptim.Cli.Distributed;

/// <summary>
/// Table, results.json/csv, plots and report.md of <c>sharpoptim dist</c>, written through a staging folder inside the
/// output directory and moved into place with results.json last, as <c>compare</c> does: an interrupted write never
/// leaves a mix of old and new files behind results.json.
/// </summary>
public static class DistReport
{
    /// <summary>The files a report consists of (results.json is the marker, moved last).</summary>
    public static readonly string[] Files =
    {
        "results.json", "curves.csv", "loss_vs_gradients.png", "accuracy_vs_gradients.png", "loss_vs_bytes.png", "consensus_vs_gradients.png", "stationarity_vs_gradients.png", "report.md",
    };

    private const string StagingPrefix = ".sharpoptim-writing-";

    /// <summary>Mean ± std over seeds of the final metrics, per label.</summary>
    public static string Table(DistResults r)
    {
        var sb = new StringBuilder();
        bool composite = r.Runs.Any(x => x.Result.Final.Metrics.ContainsKey("stationarity"));
        sb.Append("| method | workers | test accuracy | train loss | ");
        sb.Append(composite ? "objective | stationarity | zeros in x̄ | zeros in prox point | " : "");
        sb.AppendLine("consensus Ξ | grads/worker | MB sent/worker | syncs | seconds |");
        sb.Append("|---|---:|---:|---:|");
        sb.Append(composite ? "---:|---:|---:|---:|" : "");
        sb.AppendLine("---:|---:|---:|---:|---:|");
        foreach (var g in r.Runs.GroupBy(x => x.Label))
        {
            var runs = g.Select(x => x.Result).ToList();
            string Ms(string key, string fmt) => MeanStd(runs.Select(x => x.Final.Metrics.TryGetValue(key, out var v) ? v : double.NaN), fmt);
            sb.Append(Inv($"| {g.Key}{(runs.Any(x => x.Diverged) ? " (diverged)" : "")} | {runs[0].Workers} | {Ms("test_accuracy", "F4")} | {Ms("train_loss", "F4")} | "));
            if (composite) sb.Append(Inv($"{Ms("objective", "F4")} | {Ms("stationarity", "E2")} | {Ms("sparsity", "F3")} | {Ms("prox_sparsity", "F3")} | "));
            sb.AppendLine(Inv($"{MeanStd(runs.Select(x => x.Final.ConsensusError), "E2")} | {runs.Average(x => x.Final.GradientEvaluations):F0} | {runs.Average(x => x.Final.BytesSent) / 1e6:F3} | {(runs[0].Workers > 1 ? runs.Average(x => (double)x.GlobalSyncs).ToString("F0", CultureInfo.InvariantCulture) : "–")} | {runs.Average(x => x.Seconds):F1} |"));
        }
        return sb.ToString();
    }

    /// <summary>Writes every file into <paramref name="dir"/> atomically (see the class remarks).</summary>
    public static void Write(DistResults r, string dir)
    {
        Directory.CreateDirectory(dir);
        string staging = Path.Combine(dir, StagingPrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            WriteDurably(Path.Combine(staging, "results.json"), s => JsonSerializer.Serialize(s, Json(r), new JsonSerializerOptions { WriteIndented = true }));
            WriteDurably(Path.Combine(staging, "curves.csv"), s => s.Write(Encoding.UTF8.GetBytes(Csv(r))));
            Plot(r, Path.Combine(staging, "loss_vs_gradients.png"), "training loss of x̄ vs gradient evaluations per worker", "gradient evaluations per worker", "training loss", p => p.GradientEvaluations, "train_loss", log: true);
            Plot(r, Path.Combine(staging, "accuracy_vs_gradients.png"), "test accuracy of x̄ vs gradient evaluations per worker", "gradient evaluations per worker", "test accuracy", p => p.GradientEvaluations, "test_accuracy", log: false);
            Plot(r, Path.Combine(staging, "loss_vs_bytes.png"), "training loss of x̄ vs bytes sent per worker (log x)", "log10 bytes sent per worker", "training loss", p => p.BytesSent > 0 ? Math.Log10(p.BytesSent) : double.NaN, "train_loss", log: true);
            Plot(r, Path.Combine(staging, "consensus_vs_gradients.png"), "consensus error Ξ = (1/n) Σ‖x_i − x̄‖² vs gradient evaluations", "gradient evaluations per worker", "consensus error", p => p.GradientEvaluations, null, log: true);
            if (r.Runs.Any(x => x.Result.Final.Metrics.ContainsKey("stationarity")))
                Plot(r, Path.Combine(staging, "stationarity_vs_gradients.png"), "composite stationarity ‖x̄ − prox(x̄ − ∇f(x̄))‖² vs gradient evaluations", "gradient evaluations per worker", "stationarity", p => p.GradientEvaluations, "stationarity", log: true);
            WriteDurably(Path.Combine(staging, "report.md"), s => s.Write(Encoding.UTF8.GetBytes(Markdown(r))));
            File.Delete(Path.Combine(dir, "results.json"));
            // stationarity_vs_gradients.png exists for composite tasks only; a stale one from another task is removed.
            foreach (var f in Files.Where(f => f != "results.json" && !File.Exists(Path.Combine(staging, f))))
                File.Delete(Path.Combine(dir, f));
            foreach (var f in Files.Where(f => f != "results.json" && File.Exists(Path.Combine(staging, f))))
                File.Move(Path.Combine(staging, f), Path.Combine(dir, f), overwrite: true);
            File.Move(Path.Combine(staging, "results.json"), Path.Combine(dir, "results.json"), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static object Json(DistResults r) => new
    {
        task = r.Task,
        task_description = r.TaskDescription,
        command = r.Command,
        workers = r.Workers,
        backend = r.Backend,
        topology = r.Topology,
        partition = r.Partition,
        alpha = r.Alpha,
        batch = r.Batch,
        seeds = r.Seeds,
        machine = r.Machine,
        runs = r.Runs.Select(x => new
        {
            label = x.Label,
            algorithm = x.Result.Algorithm,
            workers = x.Result.Workers,
            topology = x.Result.Topology,
            seed = x.Result.Seed,
            rounds = x.Result.Rounds,
            hyperparameters = x.Result.Hyperparameters,
            diverged = x.Result.Diverged,
            seconds = x.Result.Seconds,
            blocked_seconds_rank0 = x.Result.BlockedSeconds,
            messages_per_worker_rank0 = x.Result.Messages,
            global_syncs = x.Result.GlobalSyncs,
            final = Point(x.Result.Final),
            curve = x.Result.Curve.Select(Point),
        }),
    };

    private static object Point(DistributedRunPoint p) => new
    {
        round = p.Round,
        gradient_evaluations = p.GradientEvaluations,
        bytes_sent = p.BytesSent,
        consensus_error = p.ConsensusError,
        seconds = p.Seconds,
        metrics = p.Metrics.ToDictionary(kv => kv.Key, kv => double.IsFinite(kv.Value) ? (double?)kv.Value : null),
    };

    private static string Csv(DistResults r)
    {
        var keys = r.Runs.SelectMany(x => x.Result.Curve.SelectMany(p => p.Metrics.Keys)).Distinct().OrderBy(k => k, StringComparer.Ordinal).ToList();
        var sb = new StringBuilder("label,seed,round,gradient_evaluations,bytes_sent,consensus_error,seconds," + string.Join(',', keys) + "\n");
        foreach (var x in r.Runs)
            foreach (var p in x.Result.Curve)
                sb.AppendLine(Inv($"{x.Label},{x.Result.Seed},{p.Round},{p.GradientEvaluations:R},{p.BytesSent:R},{p.ConsensusError:R},{p.Seconds:R},") +
                    string.Join(',', keys.Select(k => p.Metrics.TryGetValue(k, out var v) ? v.ToString("R", CultureInfo.InvariantCulture) : "")));
        return sb.ToString();
    }

    private static string Markdown(DistResults r)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Inv($"# sharpoptim dist: {r.Task}"));
        sb.AppendLine();
        sb.AppendLine(Inv($"Task: {r.TaskDescription}. {r.Workers} workers on the {r.Backend} backend, topology {r.Topology}, partition {r.Partition}{(r.Partition == "dirichlet" ? Inv($"(α = {r.Alpha})") : "")}, batch {r.Batch}, {r.Seeds} seed(s)."));
        sb.AppendLine();
        sb.AppendLine("Command:");
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine(r.Command);
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine("Final metrics of the network average x̄ (mean ± std over seeds). Bytes are what each worker sent for the algorithm, by the brief's conventions (a ring all-reduce of d floats counts 2·d·(n−1)/n floats; a gossip round d floats per out-neighbour); evaluation traffic and the initial broadcast are excluded. Consensus Ξ = (1/n) Σ_i ‖x_i − x̄‖² of the reported models (0 for methods whose workers report the shared global model). Syncs: global synchronisations (all-reduces) of the algorithm.");
        sb.AppendLine();
        sb.Append(Table(r));
        sb.AppendLine();
        sb.AppendLine("Hyperparameters per run:");
        sb.AppendLine();
        foreach (var g in r.Runs.GroupBy(x => x.Label))
        {
            var x = g.First().Result;
            sb.AppendLine(Inv($"- {g.Key}: {x.Algorithm} on {x.Workers} worker(s), {x.Rounds} rounds, {string.Join(", ", x.Hyperparameters.Select(kv => $"{kv.Key} = {kv.Value}"))}"));
        }
        sb.AppendLine();
        sb.AppendLine("Plots: loss_vs_gradients.png, accuracy_vs_gradients.png, loss_vs_bytes.png, consensus_vs_gradients.png" + (r.Runs.Any(x => x.Result.Final.Metrics.ContainsKey("stationarity")) ? ", stationarity_vs_gradients.png" : "") + " (means over seeds). Curves: curves.csv; everything: results.json.");
        sb.AppendLine();
        sb.AppendLine(r.Machine);
        return sb.ToString();
    }

    private static void Plot(DistResults r, string path, string title, string xLabel, string yLabel, Func<DistributedRunPoint, double> x, string? metric, bool log)
    {
        var plt = new ScottPlot.Plot();
        var groups = r.Runs.GroupBy(v => v.Label).ToList();
        var colors = PlotStyle.Colors(groups.Count);
        var all = new List<double>();
        for (int k = 0; k < groups.Count; k++)
        {
            var runs = groups[k].Select(v => v.Result).ToList();
            int n = runs.Min(v => v.Curve.Count);
            double Y(DistributedRunPoint p) => metric is null ? p.ConsensusError : p.Metrics.TryGetValue(metric, out var v) ? v : double.NaN;
            var xs = Enumerable.Range(0, n).Select(i => runs.Average(v => x(v.Curve[i]))).ToArray();
            var ys = Enumerable.Range(0, n).Select(i => runs.Average(v => Y(v.Curve[i]))).ToArray();
            // Points without an x (no bytes sent yet; single-worker runs on the bytes plot) are left out.
            var hasX = Enumerable.Range(0, n).Where(i => double.IsFinite(xs[i])).ToArray();
            xs = hasX.Select(i => xs[i]).ToArray();
            ys = hasX.Select(i => ys[i]).ToArray();
            n = xs.Length;
            if (log)
            {
                // Ξ is exactly 0 for global-model methods and at round 0: those points are left out of a log plot.
                var keep = Enumerable.Range(0, n).Where(i => double.IsFinite(ys[i]) && ys[i] > 0).ToArray();
                xs = keep.Select(i => xs[i]).ToArray();
                ys = keep.Select(i => Math.Log10(ys[i])).ToArray();
            }
            if (xs.Length == 0) continue;
            all.AddRange(ys.Where(double.IsFinite));
            var line = plt.Add.Scatter(xs, ys);
            line.Color = colors[k];
            line.LineWidth = 2;
            line.MarkerSize = 3;
            line.LegendText = runs.Count > 1 ? Inv($"{groups[k].Key} (mean of {runs.Count})") : groups[k].Key;
        }
        plt.Title(Inv($"{r.Task}: {title}"));
        plt.XLabel(xLabel);
        if (log)
        {
            plt.YLabel(yLabel + " (log scale)");
            PlotStyle.LogAxis(plt);
        }
        else plt.YLabel(yLabel);
        if (all.Count > 0) plt.Axes.SetLimitsY(all.Min() - 0.05 * (all.Max() - all.Min() + 1e-9), all.Max() + 0.05 * (all.Max() - all.Min() + 1e-9));
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        plt.SavePng(path, 900, 520);
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        f.Flush(flushToDisk: true);
    }

    private static void WriteDurably(string path, Action<Stream> write)
    {
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        write(f);
        f.Flush(flushToDisk: true);
    }

    private static string MeanStd(IEnumerable<double> values, string format)
    {
        var v = values.ToList();
        if (v.Count == 0 || v.Any(d => !double.IsFinite(d))) return "n/a";
        double mean = v.Average();
        double std = v.Count > 1 ? Math.Sqrt(v.Sum(d => (d - mean) * (d - mean)) / (v.Count - 1)) : 0;
        return v.Count > 1 ? mean.ToString(format, CultureInfo.InvariantCulture) + " ± " + std.ToString(format, CultureInfo.InvariantCulture) : mean.ToString(format, CultureInfo.InvariantCulture);
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
