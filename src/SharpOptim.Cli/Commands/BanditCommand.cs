using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Tasks.Bandits;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim bandit --task digits --policies A,B --seeds N --out DIR</c>: the supervised-to-bandit evaluation
/// (context = image, arms = classes, reward = correct). Per seed: a seeded permutation of the rows; its first 30% are
/// held out (contexts only) to fit Diag-LinUCB's k-means clusters, the remaining 70% are the stream every policy
/// plays. Writes results.json, results.csv (R_T per policy and seed), curves.csv (mean R_t), regret.png,
/// regret_vs_best.png, average_regret.png and report.md, through a staging folder.
/// </summary>
public static class BanditCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["task"] = true, ["policies"] = true, ["seeds"] = true, ["out"] = true, ["alpha"] = true, ["diag-alpha"] = true, ["temperature"] = true, ["hidden"] = true,
        ["gamma"] = true, ["epsilon"] = true, ["pca"] = true, ["rounds"] = true, ["cache"] = true, ["force"] = false,
    };

    private const double HeldOut = 0.3;

    public static int Run(Options o, string[] args, TextWriter stdout)
    {
        string task = o.String("task", "digits");
        if (task is not ("digits" or "mnist10k")) throw new UsageException(FormattableString.Invariant($"--task must be digits or mnist10k, got '{task}'."));
        var policies = o.String("policies", string.Join(',', SupervisedBandit.PolicyNames)).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var p in policies)
            if (!SupervisedBandit.PolicyNames.Contains(p))
                throw new UsageException(FormattableString.Invariant($"unknown policy '{p}'; known: {string.Join(", ", SupervisedBandit.PolicyNames)}."));
        if (policies.Length == 0) throw new UsageException("--policies names no policy.");
        int seeds = (int)o.Long("seeds", 3, 1, 100);
        var settings = new SupervisedBandit.Settings(
            Alpha: o.Double("alpha", 0.3, 0, 100),
            DiagAlpha: o.Double("diag-alpha", 1.0, 0, 100),
            Temperature: o.Double("temperature", 0.05, 1e-6, 100),
            Hidden: (int)o.Long("hidden", 100, 1, 10_000),
            Gamma: o.Double("gamma", double.NaN, 0, 1e12),
            Epsilon: o.Double("epsilon", 0.05, 0, 1));
        string outDir = o.String("out") ?? Path.Combine("bandit-results", task);
        if (File.Exists(Path.Combine(outDir, "results.json")) && !o.Has("force"))
            throw new UsageException(FormattableString.Invariant($"{outDir} already holds results; pass --force to replace them or choose another --out."));

        // mnist10k: PCA-50 by default, fitted per seed on the held-out rows' contexts (no labels), for every policy.
        int pca = (int)o.Long("pca", task == "mnist10k" ? 50 : 0, 0, 784);
        var data = task == "digits" ? BanditDataset.Digits() : BanditDataset.Mnist10k(o.String("cache"));
        if (pca > data.Dimension) throw new UsageException(FormattableString.Invariant($"--pca {pca} exceeds the context dimension {data.Dimension}."));
        int held = (int)(data.Count * HeldOut);
        int rounds = (int)o.Long("rounds", data.Count - held, 10, data.Count - held);
        stdout.WriteLine(FormattableString.Invariant($"bandit: {data.Name}, {data.Count} rows x {data.Dimension}, K = {data.Classes}; {held} rows held out for clustering, T = {rounds}; {policies.Length} policies x {seeds} seeds"));

        var runs = new List<BanditRunResult>();
        var classBest = new List<int[]>();
        for (int seed = 1; seed <= seeds; seed++)
        {
            var order = data.StreamOrder(seed);
            var rows = order.Skip(held).Take(rounds).Select(i => data.Features[i]).ToArray();
            var heldRows = order.Take(held).Select(i => data.Features[i]).ToArray();
            if (pca > 0)
            {
                var projection = PrincipalComponents.Fit(heldRows, pca);
                rows = rows.Select(projection.Project).ToArray();
                heldRows = heldRows.Select(projection.Project).ToArray();
                stdout.WriteLine(FormattableString.Invariant($"seed {seed}: PCA-{pca} fitted on the {held} held-out contexts keeps {projection.ExplainedVarianceFraction:P1} of their variance"));
            }
            var labels = order.Skip(held).Take(rounds).Select(i => data.Labels[i]).ToArray();
            classBest.Add(SupervisedBandit.ClassBest(rows, labels, data.Classes));
            KMeans? clusters = null;
            foreach (var name in policies)
            {
                var ctxRows = rows;
                int d = pca > 0 ? pca : data.Dimension;
                if (SupervisedBandit.UsesClusters(name))
                {
                    clusters ??= KMeans.Fit(heldRows, settings.Clusters, seed);
                    ctxRows = rows.Select(x => clusters.SoftAssignment(x, settings.Nearest, settings.Temperature)).ToArray();
                    d = settings.Clusters;
                }
                var policy = SupervisedBandit.Create(name, d, data.Classes, rounds, seed, settings);
                var sw = Stopwatch.StartNew();
                long lastReport = 0;
                var curve = SupervisedBandit.Run(policy, ctxRows, labels, SupervisedBandit.EncodingOf(name), t =>
                {
                    if (sw.ElapsedMilliseconds - lastReport < 5000) return;
                    lastReport = sw.ElapsedMilliseconds;
                    stdout.WriteLine(FormattableString.Invariant($"  {name} seed {seed}: round {t}/{rounds}"));
                });
                var run = new BanditRunResult(name, seed, curve, sw.Elapsed.TotalSeconds);
                runs.Add(run);
                stdout.WriteLine(FormattableString.Invariant($"{name,-12} seed {seed}: R_T = {run.FinalRegret,5} ({run.FinalRegret / (double)rounds:P1} mistakes), class-best {classBest[^1][^1]}, {run.Seconds:F1} s"));
            }
        }
        Write(outDir, task, data, held, rounds, policies, seeds, settings, runs, classBest, args, pca);
        stdout.WriteLine($"wrote {outDir}/report.md, results.json, results.csv, curves.csv, regret.png, regret_vs_best.png, average_regret.png");
        return 0;
    }

    private static double[] MeanCurve(IEnumerable<int[]> curves)
    {
        var list = curves.ToList();
        return Enumerable.Range(0, list[0].Length).Select(t => list.Average(c => (double)c[t])).ToArray();
    }

    private static string F(double v, string fmt = "F1") => v.ToString(fmt, CultureInfo.InvariantCulture);

    private static void Write(string outDir, string task, BanditDataset data, int held, int rounds, string[] policies, int seeds,
        SupervisedBandit.Settings settings, List<BanditRunResult> runs, List<int[]> classBest, string[] args, int pca)
    {
        Directory.CreateDirectory(outDir);
        string staging = Path.Combine(outDir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            var best = MeanCurve(classBest);
            var mean = policies.ToDictionary(p => p, p => MeanCurve(runs.Where(r => r.Policy == p).Select(r => r.CumulativeRegret)));
            double[] xs = Enumerable.Range(1, rounds).Select(t => (double)t).ToArray();
            var colors = Compare.PlotStyle.Colors(policies.Length + 1);

            void PlotCurves(string file, string title, string ylabel, Func<string, double[]> y, double[]? reference)
            {
                var plt = new ScottPlot.Plot();
                for (int i = 0; i < policies.Length; i++)
                {
                    var l = plt.Add.Scatter(xs, y(policies[i]));
                    l.MarkerSize = 0; l.LineWidth = 2; l.Color = colors[i]; l.LegendText = policies[i];
                }
                if (reference is not null)
                {
                    var l = plt.Add.Scatter(xs, reference);
                    l.MarkerSize = 0; l.LineWidth = 2; l.Color = ScottPlot.Colors.Black; l.LinePattern = ScottPlot.LinePattern.Dashed;
                    l.LegendText = "best fixed (class-best ridge)";
                }
                plt.Title(title);
                plt.XLabel("round t");
                plt.YLabel(ylabel);
                plt.ShowLegend(ScottPlot.Edge.Right);
                plt.SavePng(Path.Combine(staging, file), 1000, 520);
            }
            PlotCurves("regret.png", FormattableString.Invariant($"{task}: cumulative regret R_t (mistakes), mean of {seeds} seeds"), "R_t", p => mean[p], best);
            PlotCurves("regret_vs_best.png", FormattableString.Invariant($"{task}: regret against the best fixed policy, R_t - M_class(t)"), "R_t - M_class(t)",
                p => mean[p].Select((v, t) => v - best[t]).ToArray(), null);
            PlotCurves("average_regret.png", FormattableString.Invariant($"{task}: average regret R_t / t"), "R_t / t",
                p => mean[p].Select((v, t) => v / (t + 1)).ToArray(), best.Select((v, t) => v / (t + 1)).ToArray());

            var csv = new StringBuilder("policy,seed,final_regret,class_best,seconds\n");
            foreach (var r in runs)
                csv.Append(FormattableString.Invariant($"{r.Policy},{r.Seed},{r.FinalRegret},{classBest[r.Seed - 1][^1]},{r.Seconds:F3}\n"));
            File.WriteAllText(Path.Combine(staging, "results.csv"), csv.ToString());
            var curves = new StringBuilder("t,class_best," + string.Join(',', policies) + "\n");
            for (int t = 0; t < rounds; t++)
                curves.Append(FormattableString.Invariant($"{t + 1},{best[t]:F4},{string.Join(',', policies.Select(p => mean[p][t].ToString("F4", CultureInfo.InvariantCulture)))}\n"));
            File.WriteAllText(Path.Combine(staging, "curves.csv"), curves.ToString());

            var md = new StringBuilder();
            md.AppendLine(FormattableString.Invariant($"# Contextual bandits on {task}: supervised-to-bandit conversion"));
            md.AppendLine();
            md.AppendLine($"Command: `sharpoptim {string.Join(' ', args)}`");
            md.AppendLine();
            if (pca > 0)
            {
                md.AppendLine(FormattableString.Invariant($"Contexts: PCA-{pca} (not a random projection) for every policy and for the class-best comparator: per seed, the top {pca} principal components of the {held} held-out rows' contexts (no labels), x ↦ Vᵀ(x − μ), L2-normalized; so that LinUCB's per-arm inverse is {pca} x {pca} instead of {data.Dimension} x {data.Dimension}."));
                md.AppendLine();
            }
            md.AppendLine(FormattableString.Invariant($"Data: {data.Name}, {data.Count} rows x {data.Dimension} features, each row L2-normalized; K = {data.Classes} arms (classes); reward 1 for the label's arm, else 0; only the chosen arm's reward is revealed. Per seed: a seeded permutation; its first {held} rows (30%) are held out, contexts only, to fit Diag-LinUCB's k-means clusters; the remaining T = {rounds} rows are the stream every policy plays once. Regret R_T = mistakes (the label is always reachable). The best fixed policy (class-best) is per-arm ridge regression (λ = 1) fitted on the whole stream with all labels and acting greedily; R_T − M_class compares each policy with it."));
            md.AppendLine();
            md.AppendLine(FormattableString.Invariant($"Settings: LinUCB α = {settings.Alpha}, λ = 1; Diag-LinUCB α = {settings.DiagAlpha}, λ = 1; greedy = LinUCB with α = 0; ε-greedy = greedy with a uniformly random arm with probability ε = {settings.Epsilon} (constant); Diag-LinUCB context = softmax over the {settings.Nearest} nearest of {settings.Clusters} k-means centroids of −‖x − μ‖²/{settings.Temperature} (hyperparameters not the paper's: the temperature 0.05 and α = 1 were chosen among τ ∈ {{0.3, 0.05}} × α ∈ {{0.1, 0.3, 1}} on seed 1 of digits, where τ = 0.3 leaves the weights nearly uniform and Diag-LinUCB barely learns); NeuralUCB/NeuralTS as the official code (disjoint dK inputs, hidden {settings.Hidden}, λ = 0.001, ν = 1, SGD lr 0.01) with the reduced CPU schedule (train every round below 300 with ≤ 100 steps, then every 50 rounds with ≤ 200 steps; as in the official code only training rounds' samples enter the history); SquareCB/FastCB with the same network as an online regressor (1 + 7 replay SGD steps per round, lr 0.05), γ = {(double.IsNaN(settings.Gamma) ? FormattableString.Invariant($"√(KT) = {Math.Sqrt(data.Classes * (double)rounds):F0}") : F(settings.Gamma, "G"))} (reconstruction: without the paper's perturbation)."));
            md.AppendLine();
            md.AppendLine("| policy | R_T mean ± sd | R_T / T | R_T − M_class | mistake rate, first quarter → last quarter | seconds/run |");
            md.AppendLine("|---|---|---|---|---|---|");
            double mClass = classBest.Average(c => (double)c[^1]);
            foreach (var p in policies.OrderBy(p => mean[p][^1]))
            {
                var finals = runs.Where(r => r.Policy == p).Select(r => (double)r.FinalRegret).ToArray();
                double m = finals.Average(), sd = finals.Length > 1 ? Math.Sqrt(finals.Sum(v => (v - m) * (v - m)) / (finals.Length - 1)) : 0;
                int q = rounds / 4;
                double first = mean[p][q - 1] / q, last = (mean[p][^1] - mean[p][rounds - q - 1]) / q;
                md.AppendLine(FormattableString.Invariant($"| {p} | {m:F1} ± {sd:F1} | {m / rounds:F3} | {m - mClass:F1} | {first:F3} → {last:F3} | {runs.Where(r => r.Policy == p).Average(r => r.Seconds):F1} |"));
            }
            md.AppendLine(FormattableString.Invariant($"| best fixed (class-best ridge) | {mClass:F1} | {mClass / rounds:F3} | 0 | | |"));
            md.AppendLine();
            md.AppendLine("![cumulative regret](regret.png)");
            md.AppendLine();
            md.AppendLine("![regret against the best fixed policy](regret_vs_best.png)");
            md.AppendLine();
            md.AppendLine("![average regret](average_regret.png)");
            md.AppendLine();
            md.AppendLine("Times are wall-clock on a shared 2-core machine (other builds and tests ran at the same time): indicative only.");
            File.WriteAllText(Path.Combine(staging, "report.md"), md.ToString());

            var json = JsonSerializer.Serialize(new
            {
                task, rows = data.Count, dimension = data.Dimension, arms = data.Classes, held_out = held, rounds, seeds,
                settings = new { settings.Alpha, settings.DiagAlpha, settings.Hidden, settings.Clusters, settings.Nearest, settings.Temperature, gamma = double.IsNaN(settings.Gamma) ? (double?)null : settings.Gamma },
                class_best = classBest.Select(c => c[^1]).ToArray(),
                runs = runs.Select(r => new { policy = r.Policy, seed = r.Seed, final_regret = r.FinalRegret, seconds = r.Seconds }),
            }, new JsonSerializerOptions { WriteIndented = true });
            File.WriteAllText(Path.Combine(staging, "results.json"), json);

            File.Delete(Path.Combine(outDir, "results.json"));
            foreach (var f in Directory.GetFiles(staging).Where(f => Path.GetFileName(f) != "results.json"))
                File.Move(f, Path.Combine(outDir, Path.GetFileName(f)), overwrite: true);
            File.Move(Path.Combine(staging, "results.json"), Path.Combine(outDir, "results.json"), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }
}
