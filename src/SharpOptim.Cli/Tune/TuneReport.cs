using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Cli.Compare;
using SharpOptim.Tasks.Tuning;

namespace SharpOptim.Cli.Tune;

/// <summary>
/// The report of a sweep: per optimizer the selected configuration, its re-runs' validation and test figures, time to
/// the validation target (steps and training seconds, AlgoPerf-style: the first evaluation at or below the target),
/// and the search's cost; results.json (everything, trials included), results.csv (one row per trial), report.md and
/// three plots: sensitivity.png (first rung's validation loss against the first tuned hyperparameter, one curve per
/// optimizer), validation_vs_step.png and validation_vs_time.png (the re-runs' mean validation loss).
/// </summary>
public sealed class TuneReport
{
    /// <summary>The files <see cref="Write"/> produces.</summary>
    public static readonly string[] Files = { "results.json", "results.csv", "sensitivity.png", "validation_vs_step.png", "validation_vs_time.png", "report.md" };

    private readonly TunePlan _plan;
    private readonly IReadOnlyList<OptimizerSweep> _sweeps;
    private readonly string _command, _threads, _taskDescription;

    /// <summary>A report over <paramref name="sweeps"/>; <paramref name="target"/> is the validation-loss target
    /// (null: tuned AdamW's mean final validation loss when AdamW is swept, else the median optimizer's).</summary>
    public TuneReport(TunePlan plan, IReadOnlyList<OptimizerSweep> sweeps, double? target, string command, string threads, string taskDescription)
    {
        _plan = plan;
        _sweeps = sweeps;
        _command = command;
        _threads = threads;
        _taskDescription = taskDescription;
        var means = sweeps.Where(s => s.Complete && s.Finals.All(f => !f.Diverged))
            .ToDictionary(s => s.Optimizer, s => s.Finals.Average(f => f.ValidationLoss));
        TargetGiven = target is not null;
        // AlgoPerf sets a workload's target from a well-tuned baseline; here the baseline is AdamW when it is in the
        // sweep (the time for each optimizer to reach tuned AdamW's final validation loss), else the median optimizer.
        TargetSource = target is not null ? "--target"
            : means.ContainsKey("adamw") ? "tuned AdamW's mean final validation loss"
            : "the median of the optimizers' mean final validation losses";
        Target = target ?? (means.TryGetValue("adamw", out var a) ? a : means.Count > 0 ? Median(means.Values) : double.NaN);
    }

    /// <summary>The validation-loss target.</summary>
    public double Target { get; }

    /// <summary>Whether the target came from --target.</summary>
    public bool TargetGiven { get; }

    /// <summary>Where the target comes from, in words.</summary>
    public string TargetSource { get; }

    /// <summary>Whether every optimizer's sweep finished.</summary>
    public bool Complete => _sweeps.Count == _plan.Optimizers.Count && _sweeps.All(s => s.Complete);

    /// <summary>Steps and training seconds at which one re-run first reached the target (null: never).</summary>
    public static (int Step, double Seconds)? TimeToTarget(TrialResult run, double target)
    {
        foreach (var e in run.Evaluations)
            if (double.IsFinite(e.Loss) && e.Loss <= target) return (e.Step, e.Seconds);
        return null;
    }

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a.Length == 0 ? double.NaN : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    private sealed record Row(string Optimizer, string Config, MeanStd Validation, MeanStd TestLoss, MeanStd TestAccuracy, int Reached, int Runs,
        double StepsToTarget, double SecondsToTarget, long SearchSteps, long StateBytes, bool Complete);

    private IEnumerable<Row> Rows() => _sweeps.Select(s =>
    {
        var f = s.Finals;
        var times = f.Select(r => TimeToTarget(r, Target)).ToList();
        var reached = times.Where(t => t is not null).Select(t => t!.Value).ToList();
        return new Row(s.Optimizer, s.Selected < 0 ? "—" : Commands.TuneCommand.ConfigText(s.Configs[s.Selected]),
            MeanStd.Of(f.Select(r => r.ValidationLoss).ToList()), MeanStd.Of(f.Select(r => r.TestLoss).ToList()), MeanStd.Of(f.Select(r => r.TestAccuracy).ToList()),
            reached.Count, f.Count, reached.Count == f.Count && f.Count > 0 ? Median(reached.Select(t => (double)t.Step)) : double.NaN,
            reached.Count == f.Count && f.Count > 0 ? Median(reached.Select(t => t.Seconds)) : double.NaN, s.SearchSteps,
            f.Count > 0 ? f[^1].StateBytes : 0, s.Complete);
    });

    /// <summary>The summary table on the terminal.</summary>
    public void PrintTable(TextWriter stdout)
    {
        stdout.WriteLine();
        stdout.WriteLine(Inv($"{_plan.Task}: selected configurations, {_plan.Seeds} seed(s) x {_plan.Steps} steps; target validation loss {Target:F4} ({TargetSource}){(Complete ? "" : " (INCOMPLETE)")}"));
        stdout.WriteLine(Inv($"  {"optimizer",-14} {"configuration",-28} {"val loss",16} {"test loss",16} {"test acc %",12} {"to target",16} {"search",8}"));
        foreach (var r in Rows())
            stdout.WriteLine(Inv($"  {r.Optimizer,-14} {r.Config,-28} {ComparisonReport.Pm(r.Validation, "F4"),16} {ComparisonReport.Pm(r.TestLoss, "F4"),16} {ComparisonReport.Pm(new MeanStd(100 * r.TestAccuracy.Mean, 100 * r.TestAccuracy.Std), "F1"),12} {ToTarget(r),16} {r.SearchSteps,8}"));
    }

    private static string ToTarget(Row r) => double.IsNaN(r.StepsToTarget)
        ? Inv($"{r.Reached}/{r.Runs} reached")
        : Inv($"{r.StepsToTarget:F0} st / {r.SecondsToTarget:F2} s");

    /// <summary>Writes every file of <see cref="Files"/> into <paramref name="dir"/>, each to a temporary name first and
    /// renamed into place (results.json last), so each file is whole.</summary>
    public void Write(string dir)
    {
        Directory.CreateDirectory(dir);
        void Atomic(string name, Action<string> write)
        {
            string temp = Path.Combine(dir, FormattableString.Invariant($".{name}.{Environment.ProcessId}.tmp{Path.GetExtension(name)}"));
            write(temp);
            using (var f = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite)) f.Flush(flushToDisk: true);
            File.Move(temp, Path.Combine(dir, name), overwrite: true);
        }
        Atomic("results.csv", p => File.WriteAllText(p, Csv()));
        Atomic("sensitivity.png", Sensitivity);
        Atomic("validation_vs_step.png", p => Curves(p, byTime: false));
        Atomic("validation_vs_time.png", p => Curves(p, byTime: true));
        Atomic("report.md", p => File.WriteAllText(p, Markdown()));
        Atomic("results.json", p => { using var s = File.Create(p); WriteJson(s); });
    }

    private string Csv()
    {
        var sb = new StringBuilder("optimizer,kind,config,steps,seed,hyperparameters,validation_loss,validation_accuracy,test_loss,test_accuracy,wall_seconds,diverged\n");
        foreach (var s in _sweeps)
        {
            foreach (var rung in s.Rungs)
                foreach (var (c, r) in rung.Trials)
                    sb.AppendLine(Line(s.Optimizer, "rung", c, rung.Steps, 0, r));
            for (int i = 0; i < s.Finals.Count; i++)
                sb.AppendLine(Line(s.Optimizer, "final", s.Selected, _plan.Steps, i, s.Finals[i]));
        }
        return sb.ToString();

        static string Line(string opt, string kind, int c, int steps, int seed, TrialResult r) => Inv(
            $"{opt},{kind},{c},{steps},{seed},{string.Join(' ', r.Hyperparameters.Select(kv => Inv($"{kv.Key}={kv.Value:R}")))},{N(r.ValidationLoss)},{N(r.ValidationAccuracy)},{N(r.TestLoss)},{N(r.TestAccuracy)},{r.WallSeconds:R},{(r.Diverged ? 1 : 0)}");
        static string N(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";
    }

    private string Markdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine(Inv($"# Tuning: {_plan.Task}{(Complete ? "" : " (INCOMPLETE: run the same command again to continue)")}"));
        sb.AppendLine();
        sb.AppendLine(Inv($"- Task: {_taskDescription}. Selection reads the validation split only; the test split is evaluated once, at the end of each re-run of the selected configuration."));
        sb.AppendLine(Inv($"- Search: successive halving with η = {_plan.Eta}, every rung from scratch on seed 0: {string.Join(" → ", _plan.Rungs.Select(r => Inv($"{r.Configurations} × {r.Steps} steps")))} ({SuccessiveHalving.Cost(_plan.Rungs)} of the {_plan.Budget}-step budget per optimizer); configurations {(_plan.Spaces.Values.First().Count == 1 ? "on an evenly spaced log grid" : "from a shifted Halton sequence")} (sample seed {_plan.SampleSeed}). Then the selected configuration on {_plan.Seeds} seed(s) × {_plan.Steps} steps, validation every {_plan.EvalEvery} steps. Schedule: {_plan.Schedule} (spanning each trial's length)."));
        foreach (var name in _plan.Optimizers)
            sb.AppendLine(Inv($"- {name}: tunes {string.Join(", ", _plan.Spaces[name].Select(d => Inv($"{d.Name} ∈ [{d.Low:G3}, {d.High:G3}]{(d.Log ? " (log)" : "")}")))}; fixed {(_plan.Fixed[name].Count == 0 ? "(catalog defaults)" : string.Join(", ", _plan.Fixed[name].Select(kv => Inv($"{kv.Key}={kv.Value:G4}"))))}"));
        sb.AppendLine(Inv($"- Target: validation loss {Target:F4} ({TargetSource}); time to target = the first validation evaluation at or below it (median over seeds; \"k/n reached\" when some seed never does)."));
        sb.AppendLine(Inv($"- Command: `{_command}`"));
        sb.AppendLine(Inv($"- Machine: {ComparisonReport.Machine()}; {_threads}"));
        sb.AppendLine();
        sb.AppendLine("| optimizer | selected | validation loss | test loss | test accuracy | steps to target | seconds to target | search steps | state |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in Rows())
            sb.AppendLine(Inv($"| {r.Optimizer}{(r.Complete ? "" : " (incomplete)")} | {r.Config} | {ComparisonReport.Pm(r.Validation, "F4")} | {ComparisonReport.Pm(r.TestLoss, "F4")} | {ComparisonReport.Pm(new MeanStd(100 * r.TestAccuracy.Mean, 100 * r.TestAccuracy.Std), "F1")} % | {(double.IsNaN(r.StepsToTarget) ? Inv($"{r.Reached}/{r.Runs} reached") : Inv($"{r.StepsToTarget:F0}"))} | {(double.IsNaN(r.SecondsToTarget) ? "—" : Inv($"{r.SecondsToTarget:F2}"))} | {r.SearchSteps} | {(r.Runs == 0 ? "—" : ComparisonReport.Bytes(r.StateBytes))} |"));
        sb.AppendLine();
        sb.AppendLine("![validation loss after the first rung vs the first tuned hyperparameter](sensitivity.png)");
        sb.AppendLine();
        sb.AppendLine("![validation loss of the selected configurations vs step](validation_vs_step.png)");
        sb.AppendLine();
        sb.AppendLine("![validation loss of the selected configurations vs training seconds](validation_vs_time.png)");
        sb.AppendLine();
        sb.AppendLine("## Rungs");
        foreach (var s in _sweeps)
        {
            sb.AppendLine();
            sb.AppendLine(Inv($"**{s.Optimizer}**"));
            foreach (var rung in s.Rungs)
                sb.AppendLine(Inv($"- {rung.Steps} steps: {string.Join("; ", rung.Trials.OrderBy(t => t.Result.Score).Select(t => Inv($"c{t.Config} {Commands.TuneCommand.ConfigText(s.Configs[t.Config])} → {(t.Result.Diverged ? "diverged" : t.Result.ValidationLoss.ToString("F4", CultureInfo.InvariantCulture))}")))}"));
        }
        return sb.ToString();
    }

    private void WriteJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        void Num(string name, double v) { if (double.IsFinite(v)) w.WriteNumber(name, v); else w.WriteNull(name); }
        void Trial(TrialResult r)
        {
            w.WriteStartObject("hyperparameters");
            foreach (var (k, v) in r.Hyperparameters) w.WriteNumber(k, v);
            w.WriteEndObject();
            Num("validation_loss", r.ValidationLoss);
            Num("validation_accuracy", r.ValidationAccuracy);
            Num("test_loss", r.TestLoss);
            Num("test_accuracy", r.TestAccuracy);
            w.WriteNumber("steps", r.StepsTaken);
            w.WriteNumber("wall_seconds", r.WallSeconds);
            w.WriteBoolean("diverged", r.Diverged);
        }
        w.WriteStartObject();
        w.WriteString("task", _plan.Task);
        w.WriteString("command", _command);
        w.WriteBoolean("complete", Complete);
        Num("target_validation_loss", Target);
        w.WriteBoolean("target_given", TargetGiven);
        w.WriteNumber("budget_steps", _plan.Budget);
        w.WriteNumber("eta", _plan.Eta);
        w.WriteStartArray("rungs");
        foreach (var r in _plan.Rungs) { w.WriteStartObject(); w.WriteNumber("configurations", r.Configurations); w.WriteNumber("steps", r.Steps); w.WriteEndObject(); }
        w.WriteEndArray();
        w.WriteStartArray("optimizers");
        foreach (var (s, row) in _sweeps.Zip(Rows()))
        {
            w.WriteStartObject();
            w.WriteString("name", s.Optimizer);
            w.WriteBoolean("complete", s.Complete);
            w.WriteNumber("search_steps", s.SearchSteps);
            if (s.Selected >= 0)
            {
                w.WriteStartObject("selected");
                foreach (var (k, v) in s.Configs[s.Selected]) w.WriteNumber(k, v);
                w.WriteEndObject();
            }
            Num("steps_to_target", row.StepsToTarget);
            Num("seconds_to_target", row.SecondsToTarget);
            w.WriteNumber("runs_reaching_target", row.Reached);
            w.WriteStartArray("rungs");
            foreach (var rung in s.Rungs)
            {
                w.WriteStartObject();
                w.WriteNumber("steps", rung.Steps);
                w.WriteStartArray("trials");
                foreach (var (c, r) in rung.Trials) { w.WriteStartObject(); w.WriteNumber("config", c); Trial(r); w.WriteEndObject(); }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("finals");
            foreach (var r in s.Finals)
            {
                w.WriteStartObject();
                Trial(r);
                w.WriteStartArray("validation");
                foreach (var e in r.Evaluations) { w.WriteStartArray(); w.WriteNumberValue(e.Step); w.WriteNumberValue(e.Seconds); if (double.IsFinite(e.Loss)) w.WriteNumberValue(e.Loss); else w.WriteNullValue(); w.WriteNumberValue(e.Accuracy); w.WriteEndArray(); }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private void Sensitivity(string path)
    {
        var plt = new ScottPlot.Plot();
        var colors = PlotStyle.Colors(_sweeps.Count);
        string dim = _plan.Spaces.Values.First()[0].Name;
        var all = new List<double>();
        for (int k = 0; k < _sweeps.Count; k++)
        {
            var s = _sweeps[k];
            if (s.Rungs.Count == 0) continue;
            var pts = s.Rungs[0].Trials.Where(t => !t.Result.Diverged && double.IsFinite(t.Result.ValidationLoss))
                .Select(t => (X: Math.Log10(s.Configs[t.Config][dim]), Y: t.Result.ValidationLoss)).OrderBy(p => p.X).ToArray();
            if (pts.Length == 0) continue;
            all.AddRange(pts.Select(p => p.Y));
            var line = plt.Add.Scatter(pts.Select(p => p.X).ToArray(), pts.Select(p => p.Y).ToArray());
            line.Color = colors[k];
            line.LineWidth = _plan.Spaces[s.Optimizer].Count == 1 ? 2 : 0;
            line.MarkerSize = 6;
            line.LegendText = s.Optimizer;
        }
        plt.Title(Inv($"{_plan.Task}: validation loss after {_plan.Rungs[0].Steps} steps vs {dim} (diverged runs omitted)"));
        plt.XLabel(dim + " (log scale)");
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = x => Math.Pow(10, x).ToString("G2", CultureInfo.InvariantCulture),
        };
        plt.YLabel("validation loss");
        if (all.Count > 0) plt.Axes.SetLimitsY(Math.Max(0, all.Min() - 0.05 * (all.Max() - all.Min() + 1e-9)), Math.Min(all.Max(), 3 * Median(all)) * 1.05);
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        plt.SavePng(path, 900, 520);
    }

    private void Curves(string path, bool byTime)
    {
        var plt = new ScottPlot.Plot();
        var colors = PlotStyle.Colors(_sweeps.Count);
        for (int k = 0; k < _sweeps.Count; k++)
        {
            var runs = _sweeps[k].Finals.Where(r => !r.Diverged && r.Evaluations.Count > 0).ToList();
            if (runs.Count == 0) continue;
            int n = runs.Min(r => r.Evaluations.Count);
            var xs = Enumerable.Range(0, n).Select(i => byTime ? runs.Average(r => r.Evaluations[i].Seconds) : runs[0].Evaluations[i].Step).ToArray();
            var ys = Enumerable.Range(0, n).Select(i => runs.Average(r => r.Evaluations[i].Loss)).ToArray();
            var line = plt.Add.Scatter(xs, ys);
            line.Color = colors[k];
            line.LineWidth = 2;
            line.MarkerSize = 4;
            line.LegendText = Inv($"{_sweeps[k].Optimizer} (mean of {runs.Count})");
        }
        if (double.IsFinite(Target))
        {
            var h = plt.Add.HorizontalLine(Target);
            h.LinePattern = ScottPlot.LinePattern.Dashed;
            h.Color = ScottPlot.Colors.Gray;
            h.LegendText = Inv($"target {Target:F3}");
        }
        plt.Title(Inv($"{_plan.Task}: validation loss of the selected configurations vs {(byTime ? "training seconds" : "step")}"));
        plt.XLabel(byTime ? "training seconds" : "step");
        plt.YLabel("validation loss");
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        plt.SavePng(path, 900, 520);
    }
}
