using System.Text.Json;
using SharpOptim.MultiTask;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>The min-norm solver against tools/golden/multitask.py: the same Frank–Wolfe in numpy (parity), and an
/// independent exact solution by active-set enumeration (optimality, bounded by the reported duality gap).</summary>
public class MultiTaskSolverTests
{
    private static double[] D(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    private static double[,] Matrix(JsonElement c)
    {
        int t = c.GetProperty("tasks").GetInt32();
        var flat = D(c.GetProperty("gram"));
        var m = new double[t, t];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < t; j++) m[i, j] = flat[i * t + j];
        return m;
    }

    private static double Cost(double[,] m, double[] w)
    {
        double s = 0;
        for (int i = 0; i < w.Length; i++)
            for (int j = 0; j < w.Length; j++) s += w[i] * m[i, j] * w[j];
        return s;
    }

    private static double Scale(double[,] m) => Math.Max(1, m.Cast<double>().Max(Math.Abs));

    [Fact]
    public void FrankWolfeMatchesTheReferenceScriptIterationForIteration()
    {
        using var doc = Golden.Load("multitask.json");
        foreach (var c in doc.RootElement.GetProperty("min_norm").EnumerateArray())
        {
            var m = Matrix(c);
            foreach (var (start, key) in new[] { (MinNormStart.Uniform, "fw_uniform"), (MinNormStart.BestPair, "fw_bestpair") })
            {
                var r = MinNormSolver.Solve(m, start: start);
                var expected = D(c.GetProperty(key));
                for (int i = 0; i < expected.Length; i++)
                    Assert.True(Math.Abs(r.Weights[i] - expected[i]) <= 1e-9, $"{key} T={expected.Length}: w[{i}] = {r.Weights[i]:R}, reference {expected[i]:R}");
                Assert.Equal(c.GetProperty(key + "_iterations").GetInt32(), r.Iterations);
            }
        }
    }

    [Fact]
    public void ResultIsFeasibleAndWithinItsDualityGapOfTheExactQpSolution()
    {
        using var doc = Golden.Load("multitask.json");
        foreach (var c in doc.RootElement.GetProperty("min_norm").EnumerateArray())
        {
            var m = Matrix(c);
            double scale = Scale(m);
            var exact = D(c.GetProperty("exact"));
            double exactCost = c.GetProperty("exact_cost").GetDouble();
            // The fixture's exact point satisfies the KKT conditions of min w'Mw on the simplex: feasible, and
            // (Mw)_j >= w'Mw for every j (equality on the support) — checked here, independently of the script.
            Assert.True(exact.All(x => x >= 0) && Math.Abs(exact.Sum() - 1) < 1e-12);
            Assert.True(Math.Abs(Cost(m, exact) - exactCost) <= 1e-12 * scale);
            for (int j = 0; j < exact.Length; j++)
            {
                double mw = Enumerable.Range(0, exact.Length).Sum(k => m[j, k] * exact[k]);
                Assert.True(mw >= exactCost - 1e-9 * scale, $"exact solution violates KKT at {j}");
                if (exact[j] > 1e-9) Assert.True(Math.Abs(mw - exactCost) <= 1e-8 * scale, $"KKT equality fails on the support at {j}");
            }
            foreach (var start in new[] { MinNormStart.Uniform, MinNormStart.BestPair })
            {
                var r = MinNormSolver.Solve(m, start: start);
                Assert.True(r.Weights.All(x => x >= 0) && Math.Abs(r.Weights.Sum() - 1) < 1e-12, "weights leave the simplex");
                Assert.True(Math.Abs(r.SquaredNorm - Cost(m, r.Weights)) <= 1e-12 * scale);
                // Never below the optimum; above it by at most twice the Frank–Wolfe gap (convexity of ½w'Mw).
                Assert.True(r.SquaredNorm >= exactCost - 1e-10 * scale, $"cost {r.SquaredNorm:R} below the exact optimum {exactCost:R}");
                Assert.True(r.SquaredNorm - exactCost <= 2 * r.DualityGap + 1e-10 * scale, $"cost {r.SquaredNorm:R} vs optimum {exactCost:R} exceeds 2·gap {r.DualityGap:R}");
            }
            // With the stopping rule off and many iterations the gap, hence the error, shrinks: Frank–Wolfe converges.
            var longRun = MinNormSolver.Solve(m, maxIterations: 200_000, tolerance: 0);
            Assert.True(longRun.SquaredNorm - exactCost <= 1e-4 * Math.Max(exactCost, 1e-3 * scale), $"T={exact.Length}: 200k iterations reach {longRun.SquaredNorm:R}, optimum {exactCost:R}");
        }
    }

    [Fact]
    public void TwoTasksUseTheClosedForm()
    {
        // g1 = (1, 0), g2 = (0, 2): w1 = ((g2 - g1)·g2)/‖g1 - g2‖² = 4/5.
        var r = MinNormSolver.Solve(new double[,] { { 1, 0 }, { 0, 4 } });
        Assert.Equal(0.8, r.Weights[0], 15);
        Assert.Equal(0.8, r.SquaredNorm, 15);   // ‖(0.8, 0.4)‖²
        Assert.Equal(0, r.Iterations);
        Assert.Equal(0, r.DualityGap, 12);
        // One vector inside the other's half-line: the shorter one alone.
        var s = MinNormSolver.Solve(new double[,] { { 1, 2 }, { 2, 4 } });
        Assert.Equal(new[] { 1.0, 0.0 }, s.Weights);
    }

    [Fact]
    public void SimplexProjectionIsTheNearestPointOnTheSimplex()
    {
        Assert.Equal(new[] { 0.5, 0.5, 0.0 }, MinNormSolver.ProjectOntoSimplex(new[] { 1.0, 1.0, -1.0 }));
        Assert.Equal(new[] { 0.2, 0.3, 0.5 }, MinNormSolver.ProjectOntoSimplex(new[] { 0.2, 0.3, 0.5 }).Select(x => Math.Round(x, 15)).ToArray());
        Assert.Equal(new[] { 1.0, 0.0 }, MinNormSolver.ProjectOntoSimplex(new[] { 5.0, 0.0 }));
        // Shifting by a constant does not move the projection.
        var a = MinNormSolver.ProjectOntoSimplex(new[] { 0.3, -0.2, 0.9, 0.1 });
        var b = MinNormSolver.ProjectOntoSimplex(new[] { 10.3, 9.8, 10.9, 10.1 });
        for (int i = 0; i < 4; i++) Assert.Equal(a[i], b[i], 12);
    }

    [Fact]
    public void BadMatricesAreRefusedWithTheirProblemNamed()
    {
        Assert.Contains("square", Assert.Throws<ArgumentException>(() => MinNormSolver.Solve(new double[2, 3])).Message);
        Assert.Contains("square", Assert.Throws<ArgumentException>(() => MinNormSolver.Solve(new double[0, 0])).Message);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => MinNormSolver.Solve(new double[,] { { 1, double.NaN }, { double.NaN, 1 } })).Message);
        Assert.Contains("not symmetric", Assert.Throws<ArgumentException>(() => MinNormSolver.Solve(new double[,] { { 1, 0.5 }, { 0.2, 1 } })).Message);
        Assert.Contains("maxIterations", Assert.Throws<ArgumentException>(() => MinNormSolver.Solve(new double[,] { { 1 } }, maxIterations: 0)).Message);
        Assert.Throws<ArgumentException>(() => MinNormSolver.ProjectOntoSimplex(Array.Empty<double>()));
    }
}
