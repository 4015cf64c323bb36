using SharpOptim.Schedules;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim plot schedules --out DIR [--steps N]</c>: one PNG per built-in schedule over N steps (default 1,000),
/// plus an overview with all of them, drawn from the library's own schedule code.
/// </summary>
public static class PlotSchedulesCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool> { ["out"] = true, ["steps"] = true };

    /// <summary>The schedules drawn, by file name, for T steps.</summary>
    public static IReadOnlyList<(string File, string Title, ISchedule Schedule)> Gallery(long t)
    {
        // A gradient-norm trace that falls then levels off, as in the refinement paper's examples.
        var rng = new Random(1);
        var norms = Enumerable.Range(0, (int)t).Select(i => 1.0 / (1 + i / (t / 10.0)) + 0.3 + 0.05 * rng.NextDouble()).ToArray();
        return new (string, string, ISchedule)[]
        {
            ("constant", "constant", Schedule.Constant()),
            ("linear", "linear decay to 0", Schedule.Linear(t)),
            ("cosine", "cosine, floor 0.1", Schedule.Cosine(t, floor: 0.1)),
            ("warmup-cosine", $"warm-up {t / 20} steps + cosine", Schedule.Warmup(t / 20, Schedule.Cosine(t - t / 20))),
            ("wsd-linear", "warmup-stable-decay (linear, last 20%)", Schedule.WarmupStableDecay(t, t / 20, t / 5)),
            ("wsd-cosine", "warmup-stable-decay (cosine, last 20%)", Schedule.WarmupStableDecay(t, t / 20, t / 5, Schedule.DecayShape.Cosine)),
            ("wsd-1-sqrt", "warmup-stable-decay (1 - sqrt, last 20%)", Schedule.WarmupStableDecay(t, t / 20, t / 5, Schedule.DecayShape.OneMinusSqrt)),
            ("inverse-sqrt", $"inverse square root, warm-up {t / 20}", Schedule.InverseSqrt(t / 20)),
            ("step-decay", $"step decay x0.5 every {t / 4}", Schedule.StepDecay(t / 4, 0.5)),
            ("exponential", "exponential, gamma 0.997", Schedule.Exponential(0.997)),
            ("piecewise", "piecewise: constant, then linear to 0", Schedule.Piecewise((0, Schedule.Constant()), (t / 2, Schedule.Linear(t / 2)))),
            ("refined-constant-norms", "refined from constant gradient norms", new RefinedSchedule(Enumerable.Repeat(1.0, (int)t).ToArray())),
            ("refined-falling-norms", "refined from falling gradient norms", new RefinedSchedule(norms)),
        };
    }

    public static int Run(Options o, TextWriter stdout)
    {
        string outDir = o.String("out") ?? throw new UsageException("plot schedules needs --out DIR.");
        long steps = o.Long("steps", 1000, 10, 10_000_000);
        Directory.CreateDirectory(outDir);
        var gallery = Gallery(steps);
        double[] xs = Enumerable.Range(0, (int)steps).Select(i => (double)i).ToArray();
        var overview = new ScottPlot.Plot();
        var colors = SharpOptim.Cli.Compare.PlotStyle.Colors(gallery.Count);
        int index = 0;
        foreach (var (file, title, schedule) in gallery)
        {
            double[] ys = schedule.Sample(steps);
            var plt = new ScottPlot.Plot();
            var line = plt.Add.Scatter(xs, ys);
            line.MarkerSize = 0;
            line.LineWidth = 2;
            plt.Title(title);
            plt.XLabel("step");
            plt.YLabel("learning-rate multiplier");
            plt.Axes.SetLimitsY(-0.05, 1.05);
            string path = Path.Combine(outDir, $"{file}.png");
            plt.SavePng(path, 640, 360);
            stdout.WriteLine($"wrote {path}");
            var l = overview.Add.Scatter(xs, ys);
            l.Color = colors[index++];   // every schedule its own colour (the default palette repeats after 10)
            l.LineWidth = 2;
            l.MarkerSize = 0;
            l.LegendText = file;
        }
        overview.Title($"SharpOptim schedules over {steps} steps");
        overview.XLabel("step");
        overview.YLabel("learning-rate multiplier");
        overview.ShowLegend(ScottPlot.Edge.Right);
        string all = Path.Combine(outDir, "all.png");
        overview.SavePng(all, 1100, 560);
        stdout.WriteLine($"wrote {all}");
        return 0;
    }
}
