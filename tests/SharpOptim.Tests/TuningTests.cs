using System.Globalization;
using System.Text.Json;
using SharpOptim.Cli;
using SharpOptim.Cli.Commands;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Tuning;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>Tuning: validation splits, the search space, successive halving against a plain reference, the sweep on a
/// convex task, resuming an interrupted sweep, and bad input.</summary>
[Collection("kernel-threads")]
public sealed class TuningTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpoptim-tune-test-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void TheValidationSplitIsCarvedFromTrainingRowsDisjointAndFixed()
    {
        using var plain = Digits.Load();
        using var split = Digits.Load().WithValidation(0.2);
        int n = (int)plain.TrainX.shape[0];
        Assert.Equal(1437, n);
        Assert.Equal(288, (int)split.ValidationX!.shape[0]);   // ceil(0.2 · 1437)
        Assert.Equal(n - 288, (int)split.TrainX.shape[0]);
        Assert.True(split.TestX.eq(plain.TestX).all().item<bool>());
        // Every training row lands in exactly one of the two splits: the multiset of rows is unchanged.
        static HashSet<string> Rows(Tensor x) => Enumerable.Range(0, (int)x.shape[0])
            .Select(i => string.Join(',', x[i].data<float>().ToArray().Select(v => v.ToString(CultureInfo.InvariantCulture)))).ToHashSet();
        var train = Rows(split.TrainX);
        var val = Rows(split.ValidationX);
        var all = Rows(plain.TrainX);
        Assert.True(all.SetEquals(train.Union(val)));
        // The same split every time (a fixed seed, not the run's).
        using var again = Digits.Load().WithValidation(0.2);
        Assert.True(again.ValidationY!.eq(split.ValidationY!).all().item<bool>());
        using var other = Digits.Load();
        Assert.Throws<ArgumentOutOfRangeException>(() => other.WithValidation(1.0));
    }

    [Fact]
    public void OnlyATaskWithAValidationSplitEvaluatesOnIt()
    {
        using var plain = TaskCatalog.Create("logreg");
        manual_seed(0);
        using (var run = plain.Start(0))
            Assert.Throws<InvalidOperationException>(() => run.EvaluateValidation());
        using var tuned = TaskCatalog.Create("logreg", validation: true);
        Assert.True(tuned.HasValidation);
        Assert.Contains("364 train / 91 validation / 114 test", tuned.Description);
        manual_seed(0);
        using var r2 = tuned.Start(0);
        var v = r2.EvaluateValidation();
        Assert.InRange(v.Accuracy, 0, 1);
        Assert.True(double.IsFinite(v.Loss));
        using var lm = new CharLmTask(layers: 1, dim: 16, heads: 2, blockSize: 8, batchSize: 2, validationFraction: 0.2);
        manual_seed(0);
        using var r3 = lm.Start(0);
        Assert.True(double.IsFinite(r3.EvaluateValidation().Loss));
    }

    [Fact]
    public void OneDimensionIsAnEvenLogGridAndMoreAreAShiftedHaltonSequence()
    {
        var grid = new SearchSpace(new[] { new SearchDimension("lr", 1e-4, 1e-2, true) }).Sample(5, 0);
        var expectedGrid = new[] { 1e-4, 1e-4 * Math.Sqrt(10), 1e-3, 1e-3 * Math.Sqrt(10), 1e-2 };
        for (int i = 0; i < 5; i++) Assert.Equal(expectedGrid[i], grid[i]["lr"], expectedGrid[i] * 1e-12);
        var space = new SearchSpace(new[] { new SearchDimension("lr", 1e-4, 1e-2, true), new SearchDimension("weight_decay", 0, 0.5, false) });
        var a = space.Sample(16, 7);
        Assert.Equal(a.Select(c => c["lr"]), space.Sample(16, 7).Select(c => c["lr"]));   // deterministic by seed
        Assert.NotEqual(a.Select(c => c["lr"]), space.Sample(16, 3).Select(c => c["lr"]));
        Assert.All(a, c => Assert.InRange(c["lr"], 1e-4, 1e-2));
        Assert.All(a, c => Assert.InRange(c["weight_decay"], 0, 0.5));
        // Low discrepancy: each quarter of the weight-decay range holds 16/4 = 4 points (a Halton sequence in base 3
        // shifted mod 1 puts 4 ± 1 in each quarter; a broken sequence clusters).
        for (int q = 0; q < 4; q++) Assert.InRange(a.Count(c => (int)(c["weight_decay"] / 0.125) == q), 3, 5);
        Assert.Equal(0.5, SearchSpace.Halton(1, 2));
        Assert.Equal(1.0 / 9, SearchSpace.Halton(3, 3), 15);   // 3 = "10" in base 3, mirrored: 0.01 in base 3 = 1/9
        Assert.Equal(0.375, SearchSpace.Halton(6, 2), 15);     // 6 = "110" in base 2, mirrored: 0.011 = 3/8
        Assert.Throws<ArgumentException>(() => new SearchSpace(Array.Empty<SearchDimension>()));
        Assert.Throws<ArgumentException>(() => SearchDimension.Checked("lr", 0, 1, true));
    }

    [Theory]
    [InlineData(400, 60, 3)]
    [InlineData(5000, 300, 3)]
    [InlineData(2000, 100, 2)]
    [InlineData(700, 300, 3)]
    public void ThePlanSpendsAtMostTheBudgetAndAsManyFirstRungConfigurationsAsItPaysFor(long budget, int steps, int eta)
    {
        var rungs = SuccessiveHalving.Plan(budget, steps, eta);
        Assert.True(SuccessiveHalving.Cost(rungs) <= budget);
        Assert.Equal(steps, rungs[^1].Steps);
        int k = rungs.Count - 1;
        Assert.True(SuccessiveHalving.Cost(rungs[0].Configurations + 1, steps, eta, k) > budget);   // n is maximal
        for (int i = 1; i < rungs.Count; i++)
        {
            Assert.InRange(rungs[i].Steps, rungs[i - 1].Steps * eta, rungs[i - 1].Steps * eta + eta - 1);   // floor(R/η^j) rounding
            Assert.Equal(Math.Max(1, (int)(rungs[0].Configurations / Math.Pow(eta, i))), rungs[i].Configurations);
        }
        if (budget == 400) Assert.Equal(new[] { new Rung(11, 20), new Rung(3, 60) }, rungs);
    }

    [Fact]
    public void SurvivorsMatchAPlainReferenceOnFixedScores()
    {
        // Reference: successive halving written out directly over a fixed score table (config → rung → score).
        var rng = new Random(5);
        var rungs = new[] { new Rung(27, 10), new Rung(9, 30), new Rung(3, 90), new Rung(1, 270) };
        var table = new double[27, 4];
        for (int c = 0; c < 27; c++)
            for (int r = 0; r < 4; r++)
                table[c, r] = c % 7 == 3 ? double.NaN : Math.Round(rng.NextDouble() * 4, 1);   // ties and NaN on purpose
        var expected = new List<int[]>();
        var alive = Enumerable.Range(0, 27).ToList();
        for (int r = 0; r < 4; r++)
        {
            expected.Add(alive.ToArray());
            int keep = r + 1 < 4 ? rungs[r + 1].Configurations : 1;
            var ranked = new List<int>(alive);
            // insertion sort: finite before NaN, lower score first, earlier position first
            for (int i = 1; i < ranked.Count; i++)
                for (int j = i; j > 0 && Before(ranked[j], ranked[j - 1], alive, r); j--)
                    (ranked[j], ranked[j - 1]) = (ranked[j - 1], ranked[j]);
            alive = ranked.Take(keep).ToList();
        }
        bool Before(int a, int b, List<int> order, int r)
        {
            double sa = table[a, r], sb = table[b, r];
            bool fa = !double.IsNaN(sa), fb = !double.IsNaN(sb);
            if (fa != fb) return fa;
            if (fa && sa != sb) return sa < sb;
            return order.IndexOf(a) < order.IndexOf(b);
        }

        var configs = Enumerable.Range(0, 27).Select(i => (IReadOnlyDictionary<string, double>)new Dictionary<string, double> { ["lr"] = i }).ToList();
        var store = new TrialStore(Path.Combine(_dir, "sh"));
        var sweep = Tuner.Sweep("fake", configs, rungs, 2, store, (key, _) =>
        {
            int r = Array.FindIndex(rungs, x => x.Steps == key.Steps);
            double s = key.Final ? 1 : table[key.Config, r];
            return new TrialResult
            {
                Hyperparameters = new(), ValidationLoss = s, ValidationAccuracy = 0, StepsTaken = key.Steps, WallSeconds = 0,
                Diverged = double.IsNaN(s), Evaluations = new(),
            };
        });
        Assert.True(sweep.Complete);
        Assert.Equal(expected.Count, sweep.Rungs.Count);
        for (int r = 0; r < expected.Count; r++)
            Assert.Equal(expected[r].Order(), sweep.Rungs[r].Trials.Select(t => t.Config).Order());
        Assert.Equal(alive[0], sweep.Selected);
        Assert.Equal(2, sweep.Finals.Count);
        Assert.Equal(27 * 10 + 9 * 30 + 3 * 90 + 270, sweep.SearchSteps);
    }

    private (int Code, string Out) Tune(string outDir, CancellationToken cancel = default, Action<Tuner.TrialEvent>? finished = null, params string[] extra)
    {
        var defaults = new Dictionary<string, string> { ["--task"] = "logreg", ["--optimizers"] = "sgd", ["--steps"] = "90", ["--budget"] = "540", ["--seeds"] = "2", ["--threads"] = "1" };
        for (int i = 0; i + 1 < extra.Length; i += 2) defaults[extra[i]] = extra[i + 1];
        var args = defaults.SelectMany(kv => new[] { kv.Key, kv.Value }).Concat(new[] { "--out", outDir }).ToArray();
        var o = new StringWriter();
        int code = TuneCommand.Run(Options.Parse(args, TuneCommand.Flags), new[] { "tune" }.Concat(args).ToList(), o, cancel, finished);
        return (code, o.ToString());
    }

    [Fact]
    public void OnAConvexTaskTheSweepSelectsTheGridOptimum()
    {
        // The grid (9 points) trained independently for the full 90 steps on seed 0, validation loss at the end.
        var grid = new SearchSpace(new[] { SearchDimension.Default("lr", 0.05)! }).Sample(9, 0);
        using var task = TaskCatalog.Create("logreg", validation: true);
        var losses = grid.Select(c =>
        {
            manual_seed(1000);
            using var run = task.Start(0);
            using var opt = OptimizerCatalog.Get("sgd").Create(run.NamedParameters, new Dictionary<string, double> { ["lr"] = c["lr"] });
            return TaskTrainer.Train(run, opt, 90, evaluate: x => x.EvaluateValidation()).TestLoss;
        }).ToArray();
        int best = Array.IndexOf(losses, losses.Min());

        // Without halvings the sweep is that grid search: it must select the grid's optimum exactly.
        string plain = Path.Combine(_dir, "grid");
        var (code, output) = Tune(plain, default, null, "--halvings", "0", "--budget", "810");
        Assert.True(code == 0, output);
        Assert.Equal(grid[best]["lr"], Selected(plain), 12);

        // With halvings (540 steps: 18 × 10 → 6 × 30 → 2 × 90) short rungs can misjudge a learning rate (successive
        // halving's short-horizon bias), so the choice may differ; it must still be near-optimal on the full grid's
        // scale: within 10% of the best full-length validation loss of the 9-point grid (measured: within 2%).
        string halved = Path.Combine(_dir, "halved");
        Assert.Equal(0, Tune(halved).Code);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(halved, "results.json")));
        double chosen = doc.RootElement.GetProperty("optimizers")[0].GetProperty("finals")[0].GetProperty("validation_loss").GetDouble();
        Assert.True(chosen <= 1.10 * losses[best], FormattableString.Invariant($"selected {Selected(halved)}: {chosen} vs grid optimum {losses[best]} at lr {grid[best]["lr"]}"));
        Assert.True(File.Exists(Path.Combine(halved, "sensitivity.png")));
        Assert.Contains("| sgd |", File.ReadAllText(Path.Combine(halved, "report.md")));

        static double Selected(string dir)
        {
            using var d = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            return d.RootElement.GetProperty("optimizers")[0].GetProperty("selected").GetProperty("lr").GetDouble();
        }
    }

    [Fact]
    public void AnInterruptedSweepContinuesToTheResultOfAnUninterruptedOne()
    {
        string whole = Path.Combine(_dir, "whole"), parts = Path.Combine(_dir, "parts");
        Assert.Equal(0, Tune(whole).Code);
        using (var cts = new CancellationTokenSource())
        {
            int n = 0;
            var (code, output) = Tune(parts, cts.Token, _ => { if (++n == 5) cts.Cancel(); });
            Assert.True(code == CompareCommand.InterruptedExitCode, output);
            Assert.Contains("INCOMPLETE", File.ReadAllText(Path.Combine(parts, "report.md")));
        }
        var (again, log) = Tune(parts);
        Assert.True(again == 0, log);
        Assert.Contains("5 finished trial(s) on disk", log);
        Assert.Equal(5, log.Split('\n').Count(l => l.Contains("(from an earlier run)")));
        static string[] WithoutTimes(string path) => File.ReadAllLines(path).Select(l => string.Join(',', l.Split(',').Take(10))).ToArray();
        Assert.Equal(WithoutTimes(Path.Combine(whole, "results.csv")), WithoutTimes(Path.Combine(parts, "results.csv")));
    }

    [Fact]
    public void BadInputExitsWithUsageNamingTheValue()
    {
        string outDir = Path.Combine(_dir, "bad");
        var cases = new (string[] Args, string Expected)[]
        {
            (new[] { "tune", "--task", "logreg", "--tune", "frobnicate", "--out", outDir }, "'frobnicate'"),
            (new[] { "tune", "--task", "logreg", "--steps", "100", "--budget", "150", "--out", outDir }, "budget 150"),
            (new[] { "tune", "--task", "logreg", "--tune", "lr,lr", "--out", outDir }, "twice"),
            (new[] { "tune", "--task", "logreg", "--tune", ",", "--out", outDir }, "search space is empty"),
            (new[] { "tune", "--task", "logreg", "--tune", "momentum", "--optimizers", "sgd", "--out", outDir }, "--range momentum="),
            (new[] { "tune", "--task", "logreg", "--range", "lr=0:1", "--out", outDir }, "LOW > 0"),
            (new[] { "tune", "--task", "logreg", "--range", "weight_decay=1e-4:1", "--out", outDir }, "not tuned"),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, _, err) = CliTests.Run(args);
            Assert.True(code == 2, string.Join(' ', args) + " → " + code + ": " + err);
            Assert.Contains(expected, err);
        }
        Assert.False(Directory.Exists(Path.Combine(outDir, "trials")));
    }
}
