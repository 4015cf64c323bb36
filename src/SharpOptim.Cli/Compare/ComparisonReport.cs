using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace SharpOptim.Cli.Compare;

/// <summary>
/// Writes a <see cref="Comparison"/> to a directory: results.json (every run's curves and summary, the command
/// line, versions, machine), results.csv (one row per run), three PNG plots (training loss vs step and vs
/// wall-clock seconds, test loss vs step; one line per optimizer, mean over seeds with a min–max band) and
/// report.md embedding them.
/// <para>The set stays consistent however the writing ends: every file is first written (and flushed to disk) into a
/// staging folder <c>.sharpoptim-writing-PID</c> inside the output directory; then the earlier results.json (if
/// any) is deleted, the other files are moved into place, and results.json is moved in last. results.json is the
/// commit marker: when it is present, every other file beside it belongs to the same comparison; a directory with
/// plots or report.md but no results.json holds an unfinished write (only possible if the process was killed,
/// e.g. by SIGKILL or a power cut, during those few renames). Staging folders left by killed processes are removed
/// by the next write to the same directory. No <c>.partial</c> file is ever left beside the results.</para>
/// </summary>
public static class ComparisonReport
{
    /// <summary>The files written, in order.</summary>
    public static readonly string[] Files = { "results.json", "results.csv", "loss_vs_step.png", "loss_vs_time.png", "test_loss_vs_step.png", "report.md" };

    /// <summary>Prefix of the staging folder a write uses inside the output directory (followed by the process id).</summary>
    public const string StagingPrefix = ".sharpoptim-writing-";

    /// <summary>Writes every file into <paramref name="dir"/> (created if needed), through a staging folder, with
    /// results.json last (see the class remarks). <paramref name="pauseBeforeEachFile"/> is a test hook (the tests
    /// send SIGINT while the files are written); zero otherwise.</summary>
    public static void Write(Comparison c, string dir, TimeSpan pauseBeforeEachFile = default)
    {
        Directory.CreateDirectory(dir);
        RemoveAbandonedStaging(dir);
        string staging = Path.Combine(dir, StagingPrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            void Pause()
            {
                if (pauseBeforeEachFile > TimeSpan.Zero) Thread.Sleep(pauseBeforeEachFile);
            }
            Pause();
            WriteDurably(Path.Combine(staging, "results.json"), s => WriteJson(c, s));
            Pause();
            WriteDurably(Path.Combine(staging, "results.csv"), s => WriteCsv(c, s));
            Pause();
            Plot(c, Path.Combine(staging, "loss_vs_step.png"), "training loss (EMA-smoothed) vs step", "step", "training loss", byTime: false, test: false);
            Pause();
            Plot(c, Path.Combine(staging, "loss_vs_time.png"), "training loss (EMA-smoothed) vs wall-clock", "training seconds", "training loss", byTime: true, test: false);
            Pause();
            Plot(c, Path.Combine(staging, "test_loss_vs_step.png"), "held-out loss vs step", "step", "test loss", byTime: false, test: true);
            Pause();
            WriteDurably(Path.Combine(staging, "report.md"), s => { var b = Encoding.UTF8.GetBytes(Markdown(c)); s.Write(b); });
            Pause();
            // The commit: withdraw the old marker, move the rest in, then the new marker.
            File.Delete(Path.Combine(dir, "results.json"));
            foreach (var f in Files.Where(f => f != "results.json"))
                File.Move(Path.Combine(staging, f), Path.Combine(dir, f), overwrite: true);
            File.Move(Path.Combine(staging, "results.json"), Path.Combine(dir, "results.json"), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    // A staging folder whose process no longer runs was abandoned by a killed write; its files are not the results.
    private static void RemoveAbandonedStaging(string dir)
    {
        foreach (var d in Directory.EnumerateDirectories(dir, StagingPrefix + "*"))
        {
            if (!int.TryParse(Path.GetFileName(d)[StagingPrefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                || pid == Environment.ProcessId || ProcessRuns(pid))
                continue;
            try
            {
                Directory.Delete(d, recursive: true);
            }
            catch (IOException)
            {
                // Another writer's folder after all, or a file system refusing: it does not affect this write.
            }
        }
    }

    private static bool ProcessRuns(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    // Written and flushed to disk before the rename that publishes it, so a crash after the rename cannot expose an
    // empty or truncated file.
    private static void WriteDurably(string path, Action<Stream> write)
    {
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        write(f);
        f.Flush(flushToDisk: true);
    }

    /// <summary>Whether <paramref name="dir"/> already holds a comparison's files.</summary>
    public static bool HoldsResults(string dir) => Files.Any(f => File.Exists(Path.Combine(dir, f)));

    /// <summary>
    /// Where a comparison writes when no --out is given: <c>compare-results/TASK</c>, or, when that already holds a
    /// comparison, the first of <c>compare-results/TASK-2</c>, <c>-3</c>, … that does not — so running the same command
    /// again never fails and never replaces earlier results.
    /// </summary>
    public static string DefaultOutDir(string task)
    {
        string first = Path.Combine("compare-results", task);
        if (!HoldsResults(first)) return first;
        for (int k = 2; ; k++)
        {
            string dir = FormattableString.Invariant($"{first}-{k}");
            if (!HoldsResults(dir)) return dir;
        }
    }

    /// <summary>Checks that <paramref name="dir"/> can be created and written, before any training: a clear error
    /// otherwise. A directory that already holds compare results (or a report.md) is refused unless
    /// <paramref name="overwrite"/>, so an earlier comparison is never replaced by accident.</summary>
    public static void CheckWritable(string dir, bool overwrite = false)
    {
        var existing = Files.Where(f => File.Exists(Path.Combine(dir, f))).ToList();
        if (existing.Count > 0 && !overwrite)
            throw new UsageException(FormattableString.Invariant($"the output directory '{dir}' already holds {string.Join(", ", existing)}; choose another --out, or give --force to replace them."));
        try
        {
            if (File.Exists(dir)) throw new IOException("it is a file");
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, FormattableString.Invariant($".sharpoptim-write-test-{Environment.ProcessId}"));
            File.WriteAllBytes(probe, new byte[] { 1 });
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException(FormattableString.Invariant($"cannot write to the output directory '{dir}': {e.Message}"));
        }
    }

    /// <summary>The markdown summary table.</summary>
    public static string MarkdownTable(Comparison c)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| optimizer | seeds | final train loss | test loss | test accuracy | wall s | median step ms | state |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var s in c.Summaries())
            sb.AppendLine(Inv($"| {s.Label} | {s.Runs} | {Pm(s.TrainLoss, "F4")} | {Pm(s.TestLoss, "F4")} | {Pm(new MeanStd(100 * s.TestAccuracy.Mean, 100 * s.TestAccuracy.Std), "F1")} % | {Pm(s.WallSeconds, "F2")} | {(double.IsNaN(s.MedianStepMs) ? "—" : s.MedianStepMs.ToString("F2", CultureInfo.InvariantCulture))} | {(s.Runs == 0 ? "—" : Bytes(s.StateBytes))} |"));
        return sb.ToString();
    }

    /// <summary>"mean ± std" with the given number format ("mean" alone when there is no spread to show: one run).</summary>
    public static string Pm(MeanStd m, string format) => double.IsNaN(m.Mean) ? "—"
        : double.IsNaN(m.Std) ? m.Mean.ToString(format, CultureInfo.InvariantCulture)
        : m.Mean.ToString(format, CultureInfo.InvariantCulture) + " ± " + m.Std.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>A byte count in B, KB, MB (powers of 1024).</summary>
    public static string Bytes(long b) => b switch
    {
        < 1024 => Inv($"{b} B"),
        < 1024 * 1024 => Inv($"{b / 1024.0:F1} KB"),
        _ => Inv($"{b / 1024.0 / 1024.0:F1} MB"),
    };

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);

    private static string Markdown(Comparison c)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Inv($"# sharpoptim compare: {c.Task}"));
        sb.AppendLine();
        if (!c.Complete) sb.AppendLine("**Incomplete: interrupted before every run finished; the table covers the completed runs.**\n");
        sb.AppendLine(Inv($"- task: {c.TaskDescription}"));
        sb.AppendLine(Inv($"- {c.Steps} steps, {c.Seeds} seed(s) per optimizer, schedule: {c.Schedule}"));
        sb.AppendLine(Inv($"- command: `{c.CommandLine}`"));
        sb.AppendLine(Inv($"- started {c.Started:yyyy-MM-dd HH:mm} UTC on {Machine()}; SharpOptim {Version(typeof(Optimizers.OptimizerBase).Assembly)}, TorchSharp {Version(typeof(TorchSharp.torch).Assembly)}"));
        sb.AppendLine(Inv($"- threads: {SharpOptim.CpuThreads.Describe()}"));
        sb.AppendLine();
        sb.AppendLine(MarkdownTable(c));
        sb.AppendLine("Seeds: completed runs (diverged ones — NaN or infinite loss or gradient — are counted beside the name and left out of the figures). Final train loss: mean batch loss over the last 5% of steps. Test figures: the held-out split after the last step. Wall s: training time (evaluation excluded). State: optimizer state after the run.");
        sb.AppendLine();
        sb.AppendLine("Hyperparameters (beyond each optimizer's defaults):");
        sb.AppendLine();
        foreach (var name in c.Optimizers)
        {
            var r = c.Runs.FirstOrDefault(x => x.Optimizer == name);
            if (r is null) continue;
            sb.AppendLine(Inv($"- {name}: {(r.Hyperparameters.Count == 0 ? "defaults" : string.Join(", ", r.Hyperparameters.Select(kv => Inv($"{kv.Key}={kv.Value}"))))}"));
        }
        sb.AppendLine();
        sb.AppendLine("![training loss vs step](loss_vs_step.png)");
        sb.AppendLine();
        sb.AppendLine("![training loss vs wall-clock](loss_vs_time.png)");
        sb.AppendLine();
        sb.AppendLine("![test loss vs step](test_loss_vs_step.png)");
        return sb.ToString();
    }

    internal static string Machine() =>
        Inv($"{RuntimeInformation.OSDescription.Trim()}, {CpuModel()}, {Environment.ProcessorCount} cores, {RuntimeInformation.FrameworkDescription}");

    private static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static string Version(Assembly a, bool full = false)
    {
        string v = a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? a.GetName().Version?.ToString() ?? "?";
        return full ? v : v.Split('+')[0];
    }

    private static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    private static void WriteJson(Comparison c, Stream s)
    {
        using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("command", c.CommandLine);
        w.WriteBoolean("complete", c.Complete);
        w.WriteString("task", c.Task);
        w.WriteString("task_description", c.TaskDescription);
        w.WriteNumber("steps", c.Steps);
        w.WriteNumber("seeds", c.Seeds);
        w.WriteString("schedule", c.Schedule);
        w.WriteString("started_utc", c.Started.ToString("O", CultureInfo.InvariantCulture));
        w.WriteStartObject("versions");
        w.WriteString("sharpoptim", Version(typeof(Optimizers.OptimizerBase).Assembly, full: true));   // with the source commit
        w.WriteString("torchsharp", Version(typeof(TorchSharp.torch).Assembly));
        w.WriteString("dotnet", RuntimeInformation.FrameworkDescription);
        w.WriteEndObject();
        w.WriteStartObject("machine");
        w.WriteString("os", RuntimeInformation.OSDescription.Trim());
        w.WriteString("cpu", CpuModel());
        w.WriteNumber("cores", Environment.ProcessorCount);
        w.WriteNumber("torch_threads", TorchSharp.torch.get_num_threads());
        w.WriteString("thread_settings", SharpOptim.CpuThreads.Describe());
        w.WriteEndObject();
        w.WriteStartArray("summary");
        foreach (var m in c.Summaries())
        {
            w.WriteStartObject();
            w.WriteString("optimizer", m.Optimizer);
            w.WriteNumber("runs", m.Runs);
            w.WriteNumber("diverged", m.Diverged);
            foreach (var (n, v) in new[] { ("final_train_loss", m.TrainLoss), ("test_loss", m.TestLoss), ("test_accuracy", m.TestAccuracy), ("wall_seconds", m.WallSeconds) })
            {
                Number(w, n + "_mean", v.Mean);
                Number(w, n + "_std", v.Std);
            }
            Number(w, "median_step_ms", m.MedianStepMs);
            w.WriteNumber("state_bytes", m.StateBytes);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("runs");
        foreach (var r in c.Runs)
        {
            var x = r.Result;
            w.WriteStartObject();
            w.WriteString("optimizer", r.Optimizer);
            w.WriteStartObject("hyperparameters");
            foreach (var (k, v) in r.Hyperparameters) w.WriteNumber(k, v);
            w.WriteEndObject();
            w.WriteNumber("seed", r.Seed);
            w.WriteBoolean("completed", x.Completed);
            w.WriteBoolean("diverged", x.Diverged);
            w.WriteNumber("steps_taken", x.Steps);
            Number(w, "final_train_loss", x.FinalTrainLoss);
            Number(w, "test_loss", x.TestLoss);
            Number(w, "test_accuracy", x.TestAccuracy);
            Number(w, "wall_seconds", x.WallSeconds);
            Number(w, "median_step_ms", x.MedianStepMs);
            w.WriteNumber("state_bytes", x.StateBytes);
            Array(w, "losses", x.Losses);
            Array(w, "seconds", x.Seconds);
            Array(w, "gradient_norms", x.GradientNorms);
            w.WriteStartArray("evaluations");
            foreach (var (step, loss, acc) in x.Evaluations)
            {
                w.WriteStartObject();
                w.WriteNumber("step", step);
                Number(w, "loss", loss);
                Number(w, "accuracy", acc);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Array(Utf8JsonWriter w, string name, IEnumerable<double> xs)
    {
        w.WriteStartArray(name);
        foreach (var v in xs)
        {
            if (double.IsFinite(v)) w.WriteNumberValue(v);
            else w.WriteNullValue();
        }
        w.WriteEndArray();
    }

    private static void WriteCsv(Comparison c, Stream s)
    {
        using var tw = new StreamWriter(s, new UTF8Encoding(false), leaveOpen: true);
        tw.WriteLine("task,optimizer,seed,completed,diverged,steps_taken,final_train_loss,test_loss,test_accuracy,wall_seconds,median_step_ms,state_bytes,hyperparameters");
        foreach (var r in c.Runs)
        {
            var x = r.Result;
            string hp = string.Join(";", r.Hyperparameters.Select(kv => Inv($"{kv.Key}={kv.Value}")));
            tw.WriteLine(Inv($"{c.Task},{r.Optimizer},{r.Seed},{(x.Completed ? "true" : "false")},{(x.Diverged ? "true" : "false")},{x.Steps},{x.FinalTrainLoss:R},{x.TestLoss:R},{x.TestAccuracy:R},{x.WallSeconds:R},{x.MedianStepMs:R},{x.StateBytes},\"{hp}\""));
        }
    }

    /// <summary>EMA with TensorBoard's bias correction, window about 2% of the run.</summary>
    internal static double[] Smooth(IReadOnlyList<double> xs)
    {
        double alpha = 1 - Math.Exp(-1.0 / Math.Max(1, xs.Count / 50.0));
        var r = new double[xs.Count];
        double m = 0, w = 0;
        for (int i = 0; i < xs.Count; i++)
        {
            m = (1 - alpha) * m + alpha * xs[i];
            w = (1 - alpha) * w + alpha;
            r[i] = m / w;
        }
        return r;
    }

    private static void Plot(Comparison c, string path, string title, string xLabel, string yLabel, bool byTime, bool test)
    {
        var plt = new ScottPlot.Plot();
        var curves = new List<(string Label, double[] Xs, double[] Mean, double[] Lo, double[] Hi, bool Band)>();
        foreach (var name in c.Optimizers)
        {
            var runs = c.Runs.Where(r => r.Optimizer == name && r.Result.Completed).Select(r => r.Result).ToList();
            if (runs.Count == 0) continue;
            double[] xs, mean, lo, hi;
            if (test)
            {
                int n = runs.Min(r => r.Evaluations.Count);
                xs = runs[0].Evaluations.Take(n).Select(e => (double)e.Step).ToArray();
                var ys = runs.Select(r => r.Evaluations.Take(n).Select(e => e.Loss).ToArray()).ToList();
                (mean, lo, hi) = Band(ys, n);
            }
            else
            {
                int n = runs.Min(r => r.Steps);
                var ys = runs.Select(r => Smooth(r.Losses)).ToList();
                (mean, lo, hi) = Band(ys, n);
                xs = byTime
                    ? Enumerable.Range(0, n).Select(i => runs.Average(r => r.Seconds[i])).ToArray()
                    : Enumerable.Range(1, n).Select(i => (double)i).ToArray();
            }
            curves.Add((runs.Count > 1 ? Inv($"{name} (mean of {runs.Count}, band min–max)") : name, xs, mean, lo, hi, runs.Count > 1));
        }
        // Past the first 5% of a curve: the start (the initial loss) would decide the scale otherwise.
        var shown = curves.SelectMany(cv => cv.Mean.Skip(test ? 0 : cv.Mean.Length / 20)).ToList();
        bool log = PlotStyle.UseLogScale(shown);
        double floor = shown.Where(v => double.IsFinite(v) && v > 0).DefaultIfEmpty(1e-12).Min() / 10;
        double[] Y(double[] v) => log ? PlotStyle.Log10(v, floor) : v;
        var colors = PlotStyle.Colors(curves.Count);
        for (int k = 0; k < curves.Count; k++)
        {
            var cv = curves[k];
            if (cv.Band)
            {
                var fill = plt.Add.FillY(cv.Xs, Y(cv.Lo), Y(cv.Hi));
                fill.FillColor = colors[k].WithAlpha(0.2);
                fill.LineWidth = 0;
            }
            var line = plt.Add.Scatter(cv.Xs, Y(cv.Mean));
            line.Color = colors[k];
            line.LineWidth = 2;
            line.MarkerSize = test ? 4 : 0;
            line.LegendText = cv.Label;
        }
        plt.Title(Inv($"{c.Task}: {title}"));
        plt.XLabel(xLabel);
        if (log)
        {
            plt.YLabel(yLabel + " (log scale)");
            PlotStyle.LogAxis(plt);
            var finite = shown.Where(v => double.IsFinite(v) && v > 0).ToList();
            plt.Axes.SetLimitsY(Math.Log10(finite.Min()) - 0.1, Math.Log10(finite.Max()) + 0.1);
        }
        else
        {
            plt.YLabel(yLabel);
            plt.Axes.SetLimitsY(0, Math.Max(1e-3, AutoTop(c, test)));
        }
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        plt.SavePng(path, 900, 520);
        // Flushed to disk before it is moved beside the results (see Write).
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        f.Flush(flushToDisk: true);
    }

    /// <summary>A y-axis top that shows the interesting part: 1.1x the largest smoothed loss after the first 5% of steps.</summary>
    private static double AutoTop(Comparison c, bool test)
    {
        var tops = c.Runs.Where(r => r.Result.Completed && r.Result.Steps > 0).Select(r =>
        {
            if (test) return r.Result.Evaluations.Select(e => e.Loss).Where(double.IsFinite).DefaultIfEmpty(1).Max();
            var s = Smooth(r.Result.Losses);
            return s.Skip(s.Length / 20).Where(double.IsFinite).DefaultIfEmpty(s[0]).Max();
        }).ToList();
        return tops.Count == 0 ? 1 : 1.1 * tops.Max();
    }

    private static (double[] Mean, double[] Lo, double[] Hi) Band(List<double[]> ys, int n)
    {
        var mean = new double[n];
        var lo = new double[n];
        var hi = new double[n];
        for (int i = 0; i < n; i++)
        {
            mean[i] = ys.Average(y => y[i]);
            lo[i] = ys.Min(y => y[i]);
            hi[i] = ys.Max(y => y[i]);
        }
        return (mean, lo, hi);
    }
}
