using System.Globalization;
using System.Text;
using SharpOptim.Analysis;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim analysis phase-diagram --out DIR [--points N] [--z0 Z]</c>: the five phases of gradient descent on
/// the cubic map z ← (1 + a)z − a z³ over a = ηy ∈ (0, 2.2]: a bifurcation diagram coloured by phase, the Lyapunov
/// exponent, phases.csv and report.md with the boundaries found next to the analysed ones. Files go through a staging
/// folder.
/// </summary>
public static class PhaseDiagramCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool> { ["out"] = true, ["points"] = true, ["z0"] = true };

    public static int Run(Options o, string[] args, TextWriter stdout)
    {
        string outDir = o.String("out") ?? throw new UsageException("analysis phase-diagram needs --out DIR.");
        int points = (int)o.Long("points", 2200, 50, 100_000);
        double z0 = o.Double("z0", 0.3, -10, 10);
        if (z0 == 0) throw new UsageException("--z0 must be non-zero (0 is a fixed point).");
        const double aMax = 2.2;
        var grid = Enumerable.Range(1, points).Select(i => aMax * i / points).ToArray();
        var outcomes = grid.Select(a => GradientDescentCubicMap.Classify(a, z0, iterations: 8000, tail: 64)).ToArray();
        var phases = Enum.GetValues<TrainingPhase>();
        var colors = Compare.PlotStyle.Colors(phases.Length);

        Directory.CreateDirectory(outDir);
        string staging = Path.Combine(outDir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            var plt = new ScottPlot.Plot();
            foreach (var phase in phases)
            {
                var xs = new List<double>();
                var ys = new List<double>();
                for (int i = 0; i < grid.Length; i++)
                    if (outcomes[i].Phase == phase)
                        foreach (double z in outcomes[i].Tail) { xs.Add(grid[i]); ys.Add(z); }
                if (phase == TrainingPhase.Divergent)
                    for (int i = 0; i < grid.Length; i++) if (outcomes[i].Phase == phase) { xs.Add(grid[i]); ys.Add(2.0); }
                if (xs.Count == 0) continue;
                var s = plt.Add.ScatterPoints(xs.ToArray(), ys.ToArray());
                s.MarkerSize = 1.5f;
                s.Color = colors[(int)phase];
                s.LegendText = phase.ToString().ToLowerInvariant();
            }
            foreach (double b in new[] { GradientDescentCubicMap.MonotonicLimit, GradientDescentCubicMap.FlipBoundary, GradientDescentCubicMap.EscapeBoundary })
            {
                var v = plt.Add.VerticalLine(b);
                v.LinePattern = ScottPlot.LinePattern.Dashed;
                v.Color = ScottPlot.Colors.Gray;
            }
            plt.Title(FormattableString.Invariant($"GD on the cubic map z <- (1+a)z - a z^3 (a = step size x target), z0 = {z0}: last 64 iterates"));
            plt.XLabel("a = eta * y");
            plt.YLabel("z (divergent drawn at 2)");
            plt.ShowLegend(ScottPlot.Edge.Right);
            plt.SavePng(Path.Combine(staging, "phase_diagram.png"), 1100, 560);

            var lp = new ScottPlot.Plot();
            var finite = Enumerable.Range(0, grid.Length).Where(i => double.IsFinite(outcomes[i].Lyapunov)).ToArray();
            var line = lp.Add.Scatter(finite.Select(i => grid[i]).ToArray(), finite.Select(i => Math.Max(outcomes[i].Lyapunov, -3)).ToArray());
            line.MarkerSize = 0;
            line.LineWidth = 1;
            lp.Add.HorizontalLine(0).Color = ScottPlot.Colors.Gray;
            lp.Title("Lyapunov exponent (mean ln|f'(z_t)| over the second half; clipped at -3)");
            lp.XLabel("a = eta * y");
            lp.YLabel("Lyapunov exponent");
            lp.SavePng(Path.Combine(staging, "lyapunov.png"), 1100, 400);

            var csv = new StringBuilder("a,phase,period,lyapunov\n");
            for (int i = 0; i < grid.Length; i++)
                csv.Append(FormattableString.Invariant($"{grid[i]:R},{outcomes[i].Phase},{outcomes[i].Period},{outcomes[i].Lyapunov:R}\n"));
            File.WriteAllText(Path.Combine(staging, "phases.csv"), csv.ToString());

            string Range(TrainingPhase p)
            {
                var idx = Enumerable.Range(0, grid.Length).Where(i => outcomes[i].Phase == p).ToArray();
                return idx.Length == 0 ? "none" : FormattableString.Invariant($"{grid[idx[0]]:0.####} – {grid[idx[^1]]:0.####} ({idx.Length} of {grid.Length} grid points)");
            }
            var md = new StringBuilder();
            md.AppendLine("# Gradient descent from stability to chaos: phase diagram of the cubic map");
            md.AppendLine();
            md.AppendLine($"Command: `sharpoptim {string.Join(' ', args)}`");
            md.AppendLine();
            md.AppendLine("Model (reconstruction; the paper body of Chen, Balasubramanian, Ghosal & Agrawalla, arXiv:2310.01687, was not available): one-dimensional phase retrieval ℓ(w) = ¼(w² − y)²; gradient descent w ← w − η(w² − y)w; in z = w/√y and a = ηy it is the cubic map z ← (1 + a)z − a z³. Boundaries from our analysis of this map: monotonic for a ≤ 1/2, overshooting convergence (catapult) for 1/2 < a < 1, period doubling at a = 1 (f'(1) = −1), chaos after the cascade, divergence for a > 2 (4(1 + a)³ ≤ 27(2 + a) is the condition for the invariant interval; equality at a = 2).");
            md.AppendLine();
            md.AppendLine(FormattableString.Invariant($"Grid: {points} values of a in (0, {aMax}], z0 = {z0}, 8,000 iterations each."));
            md.AppendLine();
            md.AppendLine("| phase | a range found (first – last) | analysed boundary |");
            md.AppendLine("|---|---|---|");
            md.AppendLine($"| monotonic | {Range(TrainingPhase.Monotonic)} | a ≤ 0.5 (from z0 ∈ (0,1)) |");
            md.AppendLine($"| catapult | {Range(TrainingPhase.Catapult)} | 0.5 < a < 1 (overshoot from z0 = 0.3 starts once a·z(z+1) > 1 for some iterate) |");
            md.AppendLine($"| periodic | {Range(TrainingPhase.Periodic)} | from a = 1; also windows inside the chaotic range |");
            md.AppendLine($"| chaotic | {Range(TrainingPhase.Chaotic)} | after the period-doubling cascade, up to a = 2 |");
            md.AppendLine($"| divergent | {Range(TrainingPhase.Divergent)} | a > 2 |");
            md.AppendLine();
            md.AppendLine("![phase diagram](phase_diagram.png)");
            md.AppendLine();
            md.AppendLine("![Lyapunov exponent](lyapunov.png)");
            File.WriteAllText(Path.Combine(staging, "report.md"), md.ToString());
            foreach (var f in Directory.GetFiles(staging))
                File.Move(f, Path.Combine(outDir, Path.GetFileName(f)), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        stdout.WriteLine($"wrote {outDir}/phase_diagram.png, lyapunov.png, phases.csv, report.md");
        return 0;
    }
}
