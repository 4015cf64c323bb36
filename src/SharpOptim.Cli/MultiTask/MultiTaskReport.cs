using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using SharpOptim.Cli.Compare;
using SharpOptim.Tasks.MultiTask;

namespace SharpOptim.Cli.MultiTask;

/// <summary>
/// Writes a multi-task comparison: results.json (every run: final and periodic test metrics, step times, passes,
/// weights every 5th step), results.csv (one row per run), one PNG per task (held-out metric vs step, mean over seeds),
/// one PNG per weighted balancer (its task weights vs step, mean over seeds) and report.md. Atomically as compare does:
/// every file goes into a staging folder first, then the earlier results.json is removed, the others are moved in and
/// results.json, the commit marker, last.
/// </summary>
internal static class MultiTaskReport
{
    /// <summary>The run's description for the files.</summary>
    public sealed record Meta(string Command, int Steps, int Seeds, int EvalEvery, DateTime Started, bool Complete, string Threads);

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);

    /// <summary>Whether <paramref name="dir"/> holds a multi-task comparison already.</summary>
    public static bool HoldsResults(string dir) => File.Exists(Path.Combine(dir, "results.json")) || File.Exists(Path.Combine(dir, "report.md"));

    /// <summary>Writes the files into <paramref name="dir"/>; returns their names.</summary>
    public static IReadOnlyList<string> Write(MultiTaskProblem p, IReadOnlyList<string> balancers, IReadOnlyList<MultiTaskRunResult> runs, Meta meta, string dir)
    {
        Directory.CreateDirectory(dir);
        string staging = Path.Combine(dir, ComparisonReport.StagingPrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            var files = new List<string>();
            void Durable(string name, string text)
            {
                using var f = new FileStream(Path.Combine(staging, name), FileMode.Create, FileAccess.Write, FileShare.None);
                f.Write(Encoding.UTF8.GetBytes(text));
                f.Flush(flushToDisk: true);
                files.Add(name);
            }
            var summaries = MultiTaskSummary.Of(p, balancers, runs);
            Durable("results.csv", Csv(p, runs));
            for (int t = 0; t < p.Heads.Count; t++)
            {
                string name = Inv($"task_{p.TaskName(t)}.png");
                PlotMetric(p, balancers, runs, t, Path.Combine(staging, name));
                files.Add(name);
            }
            foreach (var b in balancers.Where(b => runs.Any(r => r.Balancer == b && r.SingleTask is null && r.Weights.Any(w => w is not null)) && b != "equal"))
            {
                string name = Inv($"weights_{b}.png");
                PlotWeights(p, b, runs, Path.Combine(staging, name));
                files.Add(name);
            }
            Durable("report.md", Markdown(p, summaries, runs, meta, files.Where(f => f.EndsWith(".png", StringComparison.Ordinal)).ToList()));
            Durable("results.json", Json(p, summaries, runs, meta));
            File.Delete(Path.Combine(dir, "results.json"));
            foreach (var f in files.Where(f => f != "results.json"))
                File.Move(Path.Combine(staging, f), Path.Combine(dir, f), overwrite: true);
            File.Move(Path.Combine(staging, "results.json"), Path.Combine(dir, "results.json"), overwrite: true);
            return files;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static string F(double v, string fmt) => double.IsFinite(v) ? v.ToString(fmt, CultureInfo.InvariantCulture) : "—";
    private static string Pm(double m, double s, string fmt) => !double.IsFinite(m) ? "—" : double.IsFinite(s) ? F(m, fmt) + " ± " + F(s, fmt) : F(m, fmt);
    private static string Metric(MultiTaskProblem p, int t, double v) => p.HigherIsBetter(t) ? F(100 * v, "F1") : F(v, "F3");
    private static string MetricPm(MultiTaskProblem p, int t, double m, double s) => p.HigherIsBetter(t) ? Pm(100 * m, 100 * s, "F1") : Pm(m, s, "F3");

    /// <summary>The markdown table of the summaries (single-task references first).</summary>
    public static string Table(MultiTaskProblem p, IReadOnlyList<MultiTaskSummary> summaries, IReadOnlyList<MultiTaskRunResult> runs)
    {
        int t = p.Heads.Count;
        var sb = new StringBuilder();
        sb.AppendLine("| method | seeds | " + string.Join(" | ", Enumerable.Range(0, t).Select(k => p.HigherIsBetter(k) ? p.MetricName(k) + " %" : p.MetricName(k))) + " | Δm % | ms/step | × EW | backward passes / step | mean ‖Δw‖₁ |");
        sb.AppendLine("|---|---|" + string.Concat(Enumerable.Repeat("---|", t)) + "---|---|---|---|---|");
        var (sm, ss, sn) = MultiTaskSummary.SingleTask(p, runs);
        if (sn > 0)
            sb.AppendLine(Inv($"| single-task (each task alone) | {sn} | {string.Join(" | ", Enumerable.Range(0, t).Select(k => MetricPm(p, k, sm[k], ss[k])))} | 0 | — | — | 1 full (per task) | — |"));
        foreach (var s in summaries)
        {
            string name = s.Balancer + (MultiTaskBalancers.IsReconstruction(s.Balancer) ? " (reconstruction)" : "") + (s.Diverged > 0 ? Inv($" [{s.Diverged} diverged]") : "");
            sb.AppendLine(Inv($"| {name} | {s.Runs} | {string.Join(" | ", Enumerable.Range(0, t).Select(k => MetricPm(p, k, s.MetricMean[k], s.MetricStd[k])))} | {Pm(s.DeltaMean, s.DeltaStd, "F2")} | {F(s.StepMs, "F2")} | {F(s.StepRatio, "F2")} | {s.Passes} | {F(s.WeightChange, "F4")} |"));
        }
        return sb.ToString();
    }

    private static string Markdown(MultiTaskProblem p, List<MultiTaskSummary> summaries, IReadOnlyList<MultiTaskRunResult> runs, Meta meta, List<string> plots)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Inv($"# sharpoptim multitask: {p.Name}"));
        sb.AppendLine();
        if (!meta.Complete) sb.AppendLine("**Incomplete: interrupted before every run finished; the table covers the completed runs.**\n");
        sb.AppendLine(Inv($"- problem: {p.Description}"));
        sb.AppendLine(Inv($"- {meta.Steps} steps per run, {meta.Seeds} seed(s) per method, held-out evaluation every {meta.EvalEvery} steps"));
        sb.AppendLine(Inv($"- command: `{meta.Command}`"));
        sb.AppendLine(Inv($"- started {meta.Started:yyyy-MM-dd HH:mm} UTC on {RuntimeInformation.OSDescription.Trim()}, {Environment.ProcessorCount} cores, {RuntimeInformation.FrameworkDescription}; {meta.Threads}"));
        sb.AppendLine();
        sb.AppendLine(Table(p, summaries, runs));
        sb.AppendLine("Metrics: held-out split after the last step, mean ± std over seeds (accuracy in %, reconstruction as MSE, lower better). "
            + "Δm %: mean relative change against the single-task references, (100/T) Σ_t ±(M_t − M_t^STL)/M_t^STL, signed so that lower is better "
            + "(positive = negative transfer). ms/step: median wall time of a training step (forward, the balancer's backward passes, Adam's step), "
            + "median over seeds; × EW: its ratio to equal weighting's. Backward passes: \"full\" = through heads and trunk; \"head\" = from the losses "
            + "to the shared representation only; \"trunk\" = from the representation through the trunk; MARIGOLD's extra head forwards in brackets. "
            + "mean ‖Δw‖₁: mean change of the task weights between consecutive steps (how jumpy the balancing is). "
            + "MultiBalance and MARIGOLD are reconstructions from their abstracts (see README), not the papers' verified algorithms.");
        var pc = summaries.FirstOrDefault(s => s.ConflictFraction is not null);
        if (pc is not null)
            sb.AppendLine(Inv($"\nPCGrad found conflicting gradient pairs (negative inner product on the shared parameters) in {100 * pc.ConflictFraction!.Value:F1} % of ordered task pairs per step, on average."));
        sb.AppendLine();
        sb.AppendLine("Timing: one process on a shared machine (other jobs were running); ratios within one run are more telling than absolute times.");
        sb.AppendLine();
        foreach (var f in plots) sb.AppendLine(Inv($"![{f}]({f})\n"));
        return sb.ToString();
    }

    private static string Csv(MultiTaskProblem p, IReadOnlyList<MultiTaskRunResult> runs)
    {
        var sb = new StringBuilder();
        sb.AppendLine("method,single_task,seed,steps,completed,diverged," + string.Join(",", Enumerable.Range(0, p.Heads.Count).Select(k => p.MetricName(k).Replace(' ', '_'))) + ",median_step_ms,full_backward,head_backward,trunk_backward,extra_head_forward");
        foreach (var r in runs)
            sb.AppendLine(Inv($"{r.Balancer},{(r.SingleTask is { } k ? p.TaskName(k) : "")},{r.Seed},{r.Steps},{r.Completed},{r.Diverged},{string.Join(",", r.FinalMetrics.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))},{r.MedianStepMs.ToString("F4", CultureInfo.InvariantCulture)},{r.PassCounts.Full},{r.PassCounts.Head},{r.PassCounts.Trunk},{r.PassCounts.HeadForward}"));
        return sb.ToString();
    }

    private static string Json(MultiTaskProblem p, List<MultiTaskSummary> summaries, IReadOnlyList<MultiTaskRunResult> runs, Meta meta)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            void N(string name, double v) { if (double.IsFinite(v)) w.WriteNumber(name, v); else w.WriteNull(name); }
            void A(string name, IEnumerable<double> xs) { w.WriteStartArray(name); foreach (var x in xs) { if (double.IsFinite(x)) w.WriteNumberValue(x); else w.WriteNullValue(); } w.WriteEndArray(); }
            w.WriteStartObject();
            w.WriteString("command", meta.Command);
            w.WriteBoolean("complete", meta.Complete);
            w.WriteString("problem", p.Name);
            w.WriteString("description", p.Description);
            w.WriteNumber("steps", meta.Steps);
            w.WriteNumber("seeds", meta.Seeds);
            w.WriteString("started_utc", meta.Started.ToString("O", CultureInfo.InvariantCulture));
            w.WriteString("threads", meta.Threads);
            w.WriteStartArray("tasks");
            for (int t = 0; t < p.Heads.Count; t++) { w.WriteStartObject(); w.WriteString("name", p.TaskName(t)); w.WriteString("metric", p.MetricName(t)); w.WriteBoolean("higher_is_better", p.HigherIsBetter(t)); w.WriteEndObject(); }
            w.WriteEndArray();
            var (sm, ss, _) = MultiTaskSummary.SingleTask(p, runs);
            A("single_task_mean", sm);
            A("single_task_std", ss);
            w.WriteStartArray("summary");
            foreach (var s in summaries)
            {
                w.WriteStartObject();
                w.WriteString("method", s.Balancer);
                w.WriteBoolean("reconstruction", MultiTaskBalancers.IsReconstruction(s.Balancer));
                w.WriteNumber("runs", s.Runs);
                w.WriteNumber("diverged", s.Diverged);
                A("metric_mean", s.MetricMean);
                A("metric_std", s.MetricStd);
                N("delta_m_percent_mean", s.DeltaMean);
                N("delta_m_percent_std", s.DeltaStd);
                N("median_step_ms", s.StepMs);
                N("step_time_vs_equal", s.StepRatio);
                w.WriteString("backward_passes", s.Passes);
                N("mean_weight_change_l1", s.WeightChange);
                if (s.ConflictFraction is { } c) w.WriteNumber("conflict_fraction", c);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("runs");
            foreach (var r in runs)
            {
                w.WriteStartObject();
                w.WriteString("method", r.Balancer);
                if (r.SingleTask is { } k) w.WriteString("single_task", p.TaskName(k));
                w.WriteNumber("seed", r.Seed);
                w.WriteNumber("steps", r.Steps);
                w.WriteBoolean("completed", r.Completed);
                w.WriteBoolean("diverged", r.Diverged);
                A("final_metrics", r.FinalMetrics);
                N("median_step_ms", r.MedianStepMs);
                w.WriteStartObject("passes_per_step");
                w.WriteNumber("full_backward", r.PassCounts.Full);
                w.WriteNumber("head_backward", r.PassCounts.Head);
                w.WriteNumber("trunk_backward", r.PassCounts.Trunk);
                w.WriteNumber("extra_head_forward", r.PassCounts.HeadForward);
                w.WriteEndObject();
                w.WriteStartArray("evaluations");
                foreach (var (step, m) in r.Evaluations) { w.WriteStartObject(); w.WriteNumber("step", step); A("metrics", m); w.WriteEndObject(); }
                w.WriteEndArray();
                A("train_loss_every_5", r.TrainLoss.Where((_, i) => i % 5 == 0));
                if (r.Weights.Any(x => x is not null) && r.SingleTask is null)
                {
                    w.WriteStartArray("weights_every_5");
                    for (int i = 0; i < r.Weights.Count; i += 5) { if (r.Weights[i] is { } ww) { w.WriteStartArray(); foreach (var x in ww) w.WriteNumberValue(x); w.WriteEndArray(); } else w.WriteNullValue(); }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void Save(ScottPlot.Plot plt, string path)
    {
        plt.SavePng(path, 900, 520);
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        f.Flush(flushToDisk: true);
    }

    private static void PlotMetric(MultiTaskProblem p, IReadOnlyList<string> balancers, IReadOnlyList<MultiTaskRunResult> runs, int t, string path)
    {
        var plt = new ScottPlot.Plot();
        var groups = balancers.Select(b => (Label: b, Runs: runs.Where(r => r.Balancer == b && r.SingleTask is null && r.Completed).ToList()))
            .Append((Label: "single-task", Runs: runs.Where(r => r.SingleTask == t && r.Completed).ToList()))
            .Where(g => g.Runs.Count > 0).ToList();
        var colors = PlotStyle.Colors(groups.Count);
        var all = new List<double>();
        for (int i = 0; i < groups.Count; i++)
        {
            var rs = groups[i].Runs;
            int n = rs.Min(r => r.Evaluations.Count);
            var xs = rs[0].Evaluations.Take(n).Select(e => (double)e.Step).ToArray();
            var ys = Enumerable.Range(0, n).Select(j => rs.Average(r => r.Evaluations[j].Metrics[t]) * (p.HigherIsBetter(t) ? 100 : 1)).ToArray();
            all.AddRange(ys.Skip(n / 5));
            var line = plt.Add.Scatter(xs, ys);
            line.Color = colors[i];
            line.LineWidth = groups[i].Label == "single-task" ? 3 : 2;
            line.MarkerSize = 4;
            line.LegendText = rs.Count > 1 ? Inv($"{groups[i].Label} (mean of {rs.Count})") : groups[i].Label;
        }
        plt.Title(Inv($"{p.Name}: held-out {p.MetricName(t)} vs step"));
        plt.XLabel("step");
        plt.YLabel(p.HigherIsBetter(t) ? p.MetricName(t) + " (%)" : p.MetricName(t));
        if (all.Count > 0)
        {
            double lo = all.Min(), hi = all.Max(), pad = Math.Max(1e-6, 0.05 * (hi - lo));
            plt.Axes.SetLimitsY(lo - pad, hi + pad);
        }
        plt.ShowLegend(p.HigherIsBetter(t) ? ScottPlot.Alignment.LowerRight : ScottPlot.Alignment.UpperRight);
        Save(plt, path);
    }

    private static void PlotWeights(MultiTaskProblem p, string b, IReadOnlyList<MultiTaskRunResult> runs, string path)
    {
        var plt = new ScottPlot.Plot();
        var rs = runs.Where(r => r.Balancer == b && r.SingleTask is null && r.Completed && r.Weights.All(w => w is not null)).ToList();
        var colors = PlotStyle.Colors(p.Heads.Count);
        if (rs.Count > 0)
        {
            int n = rs.Min(r => r.Weights.Count);
            var xs = Enumerable.Range(1, n).Select(i => (double)i).ToArray();
            for (int t = 0; t < p.Heads.Count; t++)
            {
                var ys = Enumerable.Range(0, n).Select(i => rs.Average(r => r.Weights[i]![t])).ToArray();
                var line = plt.Add.Scatter(xs, ys);
                line.Color = colors[t];
                line.LineWidth = 1.5f;
                line.MarkerSize = 0;
                line.LegendText = p.TaskName(t);
            }
        }
        plt.Title(Inv($"{p.Name}: {b} task weights vs step (mean over {rs.Count} seed(s))"));
        plt.XLabel("step");
        plt.YLabel("weight");
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        Save(plt, path);
    }
}
