using System.Text.Json;
using SharpOptim.Online;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>The full-information online learners (OGD, Hedge, FTRL, FTRL-Proximal, optimistic OGD): float64 parity with
/// tools/golden/online_oco.py, exact invariants, and regret bounds that follow from the methods' theorems.</summary>
public class OnlineLearnerTests
{
    private static readonly JsonElement Fixture = Golden.Load("online_oco.json").RootElement;

    internal static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();
    internal static double[][] Rows(JsonElement e) => e.EnumerateArray().Select(Doubles).ToArray();

    internal static void Close(double[] expected, ReadOnlySpan<double> actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(actual[i] - expected[i]) <= tol * Math.Max(1, Math.Abs(expected[i]))))
                Assert.Fail($"{what}[{i}] = {actual[i]:R}, expected {expected[i]:R} (tolerance {tol}).");
    }

    [Fact]
    public void OnlineGradientDescentMatchesReference()
    {
        var f = Fixture.GetProperty("ogd");
        int d = f.GetProperty("dimension").GetInt32();
        double r = f.GetProperty("radius").GetDouble(), g = f.GetProperty("lipschitz").GetDouble();
        var grads = Rows(f.GetProperty("gradients"));
        var points = Rows(f.GetProperty("points"));
        var ogd = new OnlineGradientDescent(d, r, OnlineGradientDescent.ConvexStepSize(2 * r, g));
        Close(points[0], ogd.Point, 1e-12, "x_1");
        bool projected = false;
        for (int t = 0; t < grads.Length; t++)
        {
            ogd.Update(grads[t]);
            Close(points[t + 1], ogd.Point, 1e-12, $"x_{t + 2}");
            projected |= Math.Abs(EuclideanBall.Norm(ogd.Point) - r) < 1e-12;
            Assert.True(EuclideanBall.Norm(ogd.Point) <= r * (1 + 1e-15));
        }
        Assert.True(projected, "the stream should reach the ball's boundary so that the projection is exercised");
    }

    [Theory]
    [InlineData("hedge")]
    [InlineData("hedge_huge")]
    public void HedgeMatchesReferenceInLogSpace(string name)
    {
        var f = Fixture.GetProperty(name);
        var losses = Rows(f.GetProperty("losses"));
        var points = Rows(f.GetProperty("points"));
        var hedge = new Hedge(f.GetProperty("experts").GetInt32(), f.GetProperty("learning_rate").GetDouble());
        Close(points[0], hedge.Point, 1e-12, "x_1");
        for (int t = 0; t < losses.Length; t++)
        {
            hedge.Update(losses[t]);
            Close(points[t + 1], hedge.Point, 1e-12, $"x_{t + 2}");
            double sum = 0;
            foreach (double p in hedge.Point) { Assert.True(double.IsFinite(p) && p >= 0); sum += p; }
            Assert.Equal(1.0, sum, 12);
        }
    }

    [Fact]
    public void FtrlProximalMatchesReferenceAndKeepsExactZeros()
    {
        var f = Fixture.GetProperty("ftrl_proximal");
        int d = f.GetProperty("dimension").GetInt32();
        var ftrl = new FtrlProximal(d, f.GetProperty("alpha").GetDouble(), f.GetProperty("beta").GetDouble(),
            f.GetProperty("l1").GetDouble(), f.GetProperty("l2").GetDouble(), f.GetProperty("initial_accumulator").GetDouble());
        var grads = Rows(f.GetProperty("gradients"));
        var ws = Rows(f.GetProperty("weights"));
        var zs = Rows(f.GetProperty("z"));
        int zeros = 0, nonzeros = 0;
        for (int t = 0; t < grads.Length; t++)
        {
            ftrl.Update(grads[t]);
            Close(ws[t], ftrl.Point, 1e-12, $"w after step {t + 1}");
            Close(zs[t], ftrl.Z, 1e-12, $"z after step {t + 1}");
            for (int i = 0; i < d; i++)
            {
                if (Math.Abs(ftrl.Z[i]) <= ftrl.L1) { Assert.Equal(0.0, ftrl.Point[i]); zeros++; }
                else { Assert.NotEqual(0.0, ftrl.Point[i]); nonzeros++; }
            }
        }
        Assert.True(zeros > 20 && nonzeros > 20, $"the stream exercises both branches ({zeros} zeros, {nonzeros} non-zeros)");
    }

    [Fact]
    public void OptimisticFtrlMatchesReference()
    {
        var f = Fixture.GetProperty("ftrl");
        var ftrl = new FollowTheRegularizedLeader(f.GetProperty("dimension").GetInt32(), f.GetProperty("radius").GetDouble(),
            f.GetProperty("learning_rate").GetDouble(), OptimisticHint.LastGradient);
        var grads = Rows(f.GetProperty("gradients"));
        var points = Rows(f.GetProperty("points"));
        Close(points[0], ftrl.Point, 1e-12, "x_1");
        for (int t = 0; t < grads.Length; t++)
        {
            ftrl.Update(grads[t]);
            Close(points[t + 1], ftrl.Point, 1e-12, $"x_{t + 2}");
        }
    }

    /// <summary>Gradient of mean_i log(1 + exp(−y_i⟨x, z_i⟩)) + (λ/2)‖x‖², in the reference's order of operations.</summary>
    internal static double[] LogisticGradient(ReadOnlySpan<double> x, IEnumerable<(double[] Z, double Y)> batch, double lambda)
    {
        var g = new double[x.Length];
        int b = 0;
        foreach (var (z, y) in batch)
        {
            double m = 0;
            for (int i = 0; i < x.Length; i++) m += x[i] * z[i];
            double c = -y / (1.0 + Math.Exp(y * m));
            for (int i = 0; i < x.Length; i++) g[i] += c * z[i];
            b++;
        }
        for (int i = 0; i < x.Length; i++) g[i] = g[i] / b + lambda * x[i];
        return g;
    }

    [Fact]
    public void OptimisticOgdMatchesReferenceOnRecordedLogisticStream()
    {
        var f = Fixture.GetProperty("optimistic");
        var zs = Rows(f.GetProperty("features"));
        var ys = Doubles(f.GetProperty("labels"));
        var batches = f.GetProperty("batches").EnumerateArray().Select(b => b.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        var points = Rows(f.GetProperty("points"));
        double lambda = f.GetProperty("l2").GetDouble();
        var opt = new OptimisticOnlineGradientDescent(f.GetProperty("dimension").GetInt32(), f.GetProperty("radius").GetDouble(),
            OptimisticHint.LastGradient, f.GetProperty("delta").GetDouble(), f.GetProperty("smoothness").GetDouble(), f.GetProperty("cap_constant").GetDouble());
        for (int t = 0; t < batches.Length; t++)
        {
            Close(points[t], opt.Point, 1e-12, $"x_{t + 1}");
            opt.Update(LogisticGradient(opt.Point, batches[t].Select(j => (zs[j], ys[j])), lambda));
        }
        Assert.Equal(f.GetProperty("hint_error_sum").GetDouble(), opt.HintErrorSum, 1e-10);
    }

    private static double[][] Stream(string kind, int t, int d, int seed)
    {
        var rng = new Random(seed);
        double N() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var baseG = Enumerable.Range(0, d).Select(_ => N()).ToArray();
        var walk = (double[])baseG.Clone();
        var rows = new double[t][];
        for (int s = 0; s < t; s++)
        {
            rows[s] = kind switch
            {
                "random" => Enumerable.Range(0, d).Select(_ => N()).ToArray(),
                "constant" => (double[])baseG.Clone(),
                "alternating" => baseG.Select(v => s % 2 == 0 ? v : -v).ToArray(),
                "drift" => walk = walk.Select(v => v + 0.01 * N()).ToArray(),
                _ => throw new ArgumentException(kind),
            };
        }
        return rows;
    }

    /// <summary>Regret of the played points on linear losses ⟨g_t, x⟩ over the unit ball: Σ⟨g_t, x_t⟩ + ‖Σ g_t‖.</summary>
    private static double LinearRegret(IOnlineLearner learner, double[][] grads)
    {
        int d = grads[0].Length;
        var sum = new double[d];
        double loss = 0;
        foreach (var g in grads)
        {
            for (int i = 0; i < d; i++) { loss += g[i] * learner.Point[i]; sum[i] += g[i]; }
            learner.Update(g);
        }
        return loss + EuclideanBall.Norm(sum);
    }

    [Theory]
    [InlineData("random", 200)]
    [InlineData("random", 2000)]
    [InlineData("drift", 200)]
    [InlineData("drift", 2000)]
    [InlineData("constant", 2000)]
    [InlineData("alternating", 2000)]
    public void OptimisticRegretRespectsTheDataDependentBound(string kind, int t)
    {
        // Optimistic OMD with η_t = D/√(δ + Σ_{s<t}‖g_s − M_s‖²) and δ ≥ (2 max‖g‖)² has regret ≤ D√(δ + Σ_t‖g_t − M_t‖²)
        // on linear losses (the standard adaptive optimistic-OMD bound; the brief's float64 simulation of this rule never
        // exceeded half of it). A wrong hint or step size breaks it.
        var grads = Stream(kind, t, 5, seed: kind.Length * 1000 + t);
        double gmax = grads.Max(g => EuclideanBall.Norm(g));
        var opt = new OptimisticOnlineGradientDescent(5, 1.0, OptimisticHint.LastGradient, delta: 4 * gmax * gmax);
        double regret = LinearRegret(opt, grads);
        double bound = 2 * Math.Sqrt(opt.Delta + opt.HintErrorSum);
        Assert.True(regret <= bound, $"{kind}, T={t}: regret {regret} exceeds the bound {bound}");
    }

    [Fact]
    public void HintErrorIsFarBelowGradientEnergyOnASlowlyDriftingStream()
    {
        var grads = Stream("drift", 2000, 5, seed: 7);
        var opt = new OptimisticOnlineGradientDescent(5, 1.0, OptimisticHint.LastGradient);
        foreach (var g in grads) opt.Update(g);
        double energy = grads.Sum(g => g.Sum(v => v * v));
        Assert.True(energy / opt.HintErrorSum > 100, $"Σ‖g‖² / Σ‖g − M‖² = {energy / opt.HintErrorSum}");
    }

    [Fact]
    public void ZeroHintIsProjectedOgdBitForBit()
    {
        var grads = Stream("drift", 300, 5, seed: 11);
        const double delta = 2.0;
        var opt = new OptimisticOnlineGradientDescent(5, 1.0, OptimisticHint.Zero, delta);
        // The same η_t computed from the gradients alone, in the same order of operations.
        var etas = new double[grads.Length + 1];
        double s = 0;
        for (int t = 0; t < grads.Length; t++)
        {
            etas[t + 1] = 2 * 1.0 / Math.Sqrt(delta + s);
            double e = 0;
            foreach (double v in grads[t]) e += v * v;
            s += e;
        }
        var ogd = new OnlineGradientDescent(5, 1.0, t => etas[t]);
        int boundary = 0;
        foreach (var g in grads)
        {
            Assert.True(opt.Point.SequenceEqual(ogd.Point), $"round {opt.Round}: {opt.Point[0]:R} vs {ogd.Point[0]:R}, eta {opt.StepSize:R}");
            opt.Update(g);
            ogd.Update(g);
            if (Math.Abs(EuclideanBall.Norm(ogd.Point) - 1) < 1e-12) boundary++;
        }
        Assert.True(opt.Point.SequenceEqual(ogd.Point));
        Assert.True(boundary > 10, "the projection must be exercised");
    }

    [Fact]
    public void ExactHintsKeepRegretBelowTheInitialTerm()
    {
        // With M_t = g_t the hint error is 0, η stays D/√δ, and optimistic OMD's regret is at most D²/(2η_1).
        foreach (int t in new[] { 100, 1000 })
        {
            var grads = Stream("random", t, 5, seed: t);
            var opt = new OptimisticOnlineGradientDescent(5, 1.0, OptimisticHint.External, delta: 1.0);
            double eta1 = opt.StepSize;
            int d = 5;
            var sum = new double[d];
            double loss = 0;
            foreach (var g in grads)
            {
                opt.SetHint(g);
                for (int i = 0; i < d; i++) { loss += g[i] * opt.Point[i]; sum[i] += g[i]; }
                opt.Update(g);
            }
            double regret = loss + EuclideanBall.Norm(sum);
            Assert.Equal(0.0, opt.HintErrorSum);
            Assert.True(regret <= 4 / (2 * eta1), $"T={t}: regret {regret} > D²/(2η_1) = {4 / (2 * eta1)}");
        }
    }

    [Theory]
    [InlineData(250)]
    [InlineData(500)]
    [InlineData(1000)]
    [InlineData(2000)]
    public void OgdRegretIsWithinItsSqrtTBound(int t)
    {
        // Zinkevich's theorem with η_t = D/(G√t): regret ≤ (3/2) D G √T; the adversarial alternating stream comes close.
        foreach (var kind in new[] { "random", "alternating" })
        {
            var grads = Stream(kind, t, 5, seed: 3 * t);
            double g = grads.Max(v => EuclideanBall.Norm(v));
            var ogd = new OnlineGradientDescent(5, 1.0, OnlineGradientDescent.ConvexStepSize(2, g));
            double regret = LinearRegret(ogd, grads);
            Assert.True(regret <= 1.5 * 2 * g * Math.Sqrt(t), $"{kind}, T={t}: regret {regret} > 1.5 D G √T = {3 * g * Math.Sqrt(t)}");
        }
    }

    [Fact]
    public void HedgeRegretIsWithinItsBound()
    {
        // Losses in [0,1]: regret ≤ ln n/η + ηT/8 (Hoeffding); with the tuned η this is O(√(T ln n)).
        const int n = 8, t = 2000;
        var rng = new Random(5);
        var eta = Hedge.TunedLearningRate(n, t, 1.0);
        var hedge = new Hedge(n, eta);
        var cum = new double[n];
        double loss = 0;
        for (int s = 0; s < t; s++)
        {
            var l = Enumerable.Range(0, n).Select(i => Math.Clamp(0.5 + 0.1 * i / n - 0.3 * rng.NextDouble() + 0.3 * rng.NextDouble(), 0, 1)).ToArray();
            for (int i = 0; i < n; i++) { loss += l[i] * hedge.Point[i]; cum[i] += l[i]; }
            hedge.Update(l);
        }
        double regret = loss - cum.Min();
        Assert.True(regret <= Math.Log(n) / eta + eta * t / 8, $"regret {regret}");
    }

    [Fact]
    public void BadInputIsRejectedBeforeAnyStateChanges()
    {
        var ogd = new OnlineGradientDescent(3, 1.0, OnlineGradientDescent.ConvexStepSize(2, 1));
        var e = Assert.Throws<ArgumentException>(() => ogd.Update(new double[4]));
        Assert.Contains("4 entries, expected 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => ogd.Update(new[] { 0.0, double.NaN, 0 }));
        Assert.Contains("NaN", e.Message);
        Assert.Equal(0, ogd.Round);
        Assert.Throws<ArgumentException>(() => new OnlineGradientDescent(3, -1, _ => 1));
        Assert.Throws<ArgumentException>(() => new OnlineGradientDescent(0, 1, _ => 1));
        Assert.Throws<ArgumentException>(() => new Hedge(0, 0.1));
        Assert.Throws<ArgumentException>(() => new FtrlProximal(3, 0.1, l1: -1));
        Assert.Throws<ArgumentException>(() => new FtrlProximal(3, 0.1, initialAccumulator: 0));
        Assert.Throws<ArgumentException>(() => new OptimisticOnlineGradientDescent(3, 1, delta: 0));
        var opt = new OptimisticOnlineGradientDescent(3, 1);
        Assert.Throws<InvalidOperationException>(() => opt.SetHint(new double[3]));
        Assert.Throws<ArgumentException>(() => opt.Update(new[] { 1.0, double.PositiveInfinity, 0 }));
        Assert.Equal(0, opt.Round);
        Assert.Equal(0.0, opt.HintErrorSum);
    }
}
