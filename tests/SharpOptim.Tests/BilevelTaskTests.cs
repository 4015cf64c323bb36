using SharpOptim.Bilevel;
using SharpOptim.Tasks.Bilevel;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>The bilevel tasks (hyper-cleaning, L2 tuning), their closed-form hypergradients, AUC, warm-started AID-CG
/// across steps, and the bilevel command.</summary>
public class BilevelTaskTests
{
    [Fact]
    public void L2HypergradientMatchesTheClosedForm()
    {
        // ∂Φ/∂λ_G = −Σ_{j∈G} exp(λ_G) w_j v_j, v = H⁻¹∇_w f, H = X̃ᵀdiag(p(1−p))X̃/n + diag(exp(λ_G(j)), 0), at w = w*(λ).
        using var task = L2TuningTask.BreastCancer(1, L2Grouping.RealAndNoise);
        var lambda = tensor(new[] { -3.0, 0.5 });
        var w = task.SolveLower(lambda);
        var problem = new BilevelProblem(task.Upper, task.Lower, lambda.clone().requires_grad_(true), w.clone().requires_grad_(true));
        var h = new AidConjugateGradient(0, 0.1, cgIterations: 200, tolerance: 1e-13)
            .Estimate(new HypergradientOracle(problem), problem.X, problem.Y, problem.UpperBatches, problem.LowerBatches);

        var x = task.TrainX;
        var p = sigmoid(x.matmul(w));
        var strengths = cat(new[] { full(30, Math.Exp(-3.0), dtype: float64), full(30, Math.Exp(0.5), dtype: float64), zeros(1, dtype: float64) });
        var hess = (x.T * (p * (1 - p)).unsqueeze(0)).matmul(x) / task.TrainCount + diag(strengths);
        var pv = sigmoid(task.ValX.matmul(w));
        var gradF = task.ValX.T.matmul(pv - task.ValY) / task.ValCount;
        var v = linalg.solve(hess, gradF);
        var terms = strengths * w * v;
        var expected = tensor(new[] { -terms[..30].sum().item<double>(), -terms[30..60].sum().item<double>() });
        double rel = (h - expected).norm().item<double>() / expected.norm().item<double>();
        Assert.True(rel <= 1e-6, $"relative error {rel:E2}: {string.Join(", ", h.data<double>().ToArray())} vs {string.Join(", ", expected.data<double>().ToArray())}");
        // The lower solve is exact: ∇_w g(λ, w*) = 0.
        var (_, gw) = new HypergradientOracle(problem).LowerGradient(problem.X, problem.Y, null);
        Assert.True(gw.norm().item<double>() < 1e-10);
    }

    [Fact]
    public void HyperCleaningCorruptsHalfTheLabelsToOtherClasses()
    {
        using var task = HyperCleaningTask.Digits(4);
        Assert.Equal(900, task.TrainCount);
        Assert.Equal(300, task.ValCount);
        Assert.Equal(597, task.TestX.shape[0]);
        Assert.Equal(65, task.TrainX.shape[1]);
        int corrupted = task.Clean.Count(c => !c);
        // Binomial(900, 0.5): mean 450, sd 15; ±75 is five standard deviations.
        Assert.InRange(corrupted, 375, 525);
        // The bias column is 1, pixels are in [0, 1].
        Assert.Equal(1.0, task.TrainX[.., 64].min().item<double>());
        Assert.True(task.TrainX.max().item<double>() <= 1.0 && task.TrainX.min().item<double>() >= 0.0);
        // Perfect weights (the clean mask) give AUC 1; the task's AUC is a rank statistic of λ.
        Assert.Equal(1.0, task.WeightAuc(tensor(task.Clean.Select(c => c ? 1.0 : -1.0).ToArray())));
    }

    [Fact]
    public void AucIsTheMannWhitneyStatistic()
    {
        Assert.Equal(1.0, Auc.Compute(new[] { 0.1, 0.2, 0.8, 0.9 }, new[] { false, false, true, true }));
        Assert.Equal(0.0, Auc.Compute(new[] { 0.9, 0.8, 0.2, 0.1 }, new[] { false, false, true, true }));
        Assert.Equal(0.5, Auc.Compute(new[] { 1.0, 1.0, 1.0, 1.0 }, new[] { false, true, false, true }));
        // Positives {0.4, 0.8}, negatives {0.3, 0.5, 0.8}: pairs won 1 + (2 + ½) = 3.5 of 6.
        Assert.Equal(3.5 / 6, Auc.Compute(new[] { 0.4, 0.8, 0.3, 0.5, 0.8 }, new[] { true, true, false, false, false }), 12);
        Assert.True(double.IsNaN(Auc.Compute(new[] { 1.0 }, new[] { true })));
    }

    [Fact]
    public void WarmStartedConjugateGradientSurvivesStepsAndDisposeScopes()
    {
        // The warm-start vector lives across steps (a regression: it was once freed with the step's dispose scope).
        var q = new BilevelExactTests.Quadratic();
        double[] Run(bool warm)
        {
            using var scope = NewDisposeScope();
            var problem = q.Create();
            var solver = new HypergradientDescent(problem, new AidConjugateGradient(30, 0.3, cgIterations: 5, tolerance: 0, warmStart: warm), StepSchedule.Constant(0.2));
            for (int i = 0; i < 4; i++) solver.Step();
            Assert.NotNull(solver.LastHypergradient);
            return problem.X.data<double>().ToArray();
        }
        var cold = Run(false);
        var warm = Run(true);
        // dy = 5 CG iterations solve the system exactly from any start: both trajectories agree.
        BilevelParityTests.AssertClose(cold, warm, "warm-started AID-CG");
    }

    [Fact]
    public void BilevelCommandRefusesUnknownNamesAndWritesItsReport()
    {
        var (code, _, err) = CliTests.Run("bilevel", "--task", "nope");
        Assert.Equal(2, code);
        Assert.Contains("unknown task 'nope'", err);
        (code, _, err) = CliTests.Run("bilevel", "--methods", "soba,nope", "--seeds", "1");
        Assert.Equal(2, code);
        Assert.Contains("unknown method 'nope'", err);
        string dir = Path.Combine(Path.GetTempPath(), "sharpoptim-bilevel-" + Guid.NewGuid().ToString("N"));
        try
        {
            (code, var output, err) = CliTests.Run("bilevel", "--task", "l2-groups", "--methods", "soba,f2sa", "--seeds", "1", "--iterations-scale", "0.01", "--out", dir, "--no-progress");
            Assert.True(code == 0, err);
            Assert.Contains("| soba |", output);
            foreach (var f in new[] { "results.json", "results.csv", "curves.csv", "report.md", "test_loss_at_opt_vs_time.png", "upper_loss_vs_oracle_calls.png" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
            Assert.Empty(Directory.GetDirectories(dir));   // no staging folder left
            (code, _, err) = CliTests.Run("bilevel", "--task", "l2-groups", "--out", dir);
            Assert.Equal(2, code);
            Assert.Contains("--force", err);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
