using SharpOptim.Checkpoints;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// Adaptive-memory momentum (AM-SGD, AM-AdamW) against tools/golden/adaptive_momentum.py, the derived β_t's defining
/// properties (it maximizes the 1-D dual, lies in [0, 1], and the step it gives minimizes the two-plane proximal
/// problem), bad inputs, the loss requirement, state size, checkpoint resume, and digits.
/// </summary>
[Collection("checkpoint-hook")]
public class AdaptiveMomentumTests(ITestOutputHelper output)
{
    private static void Close(double expected, double actual, double rtol, double atol, string what) =>
        Assert.True(Math.Abs(actual - expected) <= atol + rtol * Math.Abs(expected), $"{what}: {actual:R}, expected {expected:R}");

    [Theory]
    [InlineData("sgd")]
    [InlineData("sgd_groups")]
    [InlineData("adamw")]
    public void MatchesReference(string runName)
    {
        using var doc = Golden.Load("adaptive_momentum.json");
        var root = doc.RootElement;
        int k = root.GetProperty("k").GetInt32(), steps = root.GetProperty("steps").GetInt32(), lrChange = root.GetProperty("lr_change").GetInt32();
        var run = root.GetProperty("runs").EnumerateArray().Single(r => r.GetProperty("name").GetString() == runName);
        var blocks = root.GetProperty("blocks").EnumerateArray().Select(b =>
        {
            var shape = b.GetProperty("shape").Longs();
            long n = shape.Aggregate(1L, (x, y) => x * y);
            Tensor D(string key) => tensor(b.GetProperty(key).Floats()).to_type(ScalarType.Float64);
            var noise = D("noise");
            return (Name: b.GetProperty("name").GetString()!, P: new Parameter(D("p0").reshape(shape)), H: D("h").reshape(shape),
                Target: D("target").reshape(shape), Noise: Enumerable.Range(0, k).Select(j => noise.narrow(0, j * n, n).reshape(shape)).ToArray());
        }).ToList();
        double lam = run.GetProperty("lam").GetDouble(), betaMax = run.GetProperty("beta_max").GetDouble(), wd = run.GetProperty("weight_decay").GetDouble();
        var lrs = run.GetProperty("lr").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var groups = blocks.Select(b => new ParamGroup { Parameters = new[] { b.P } }).ToList();
        bool isSgd = run.GetProperty("kind").GetString() == "sgd";
        OptimizerBase opt;
        if (isSgd)
        {
            foreach (var (g, lr) in groups.Zip(lrs)) g.Options = new AdaptiveMomentumSGD.Options { LearningRate = lr };
            opt = new AdaptiveMomentumSGD(groups, lambda: lam, beta_max: betaMax, weight_decay: wd);
        }
        else
        {
            foreach (var (g, lr) in groups.Zip(lrs)) g.Options = new AdaptiveMomentumAdamW.Options { LearningRate = lr };
            opt = new AdaptiveMomentumAdamW(groups, beta1_max: betaMax, beta2: run.GetProperty("beta2").GetDouble(),
                eps: run.GetProperty("eps").GetDouble(), weight_decay: wd, lambda: lam);
        }
        using var _ = opt;
        var betas = run.GetProperty("betas").EnumerateArray().Select(s => s.EnumerateArray().Select(x => x.GetDouble()).ToArray()).ToArray();
        var records = run.GetProperty("params");
        for (int t = 0; t < steps; t++)
        {
            if (!isSgd && t == lrChange)
                foreach (var (g, lr) in opt.Groups.Zip(lrs)) g.Options.LearningRate = lr * 0.5;
            using (no_grad())
                foreach (var b in blocks) b.P.grad = b.H.mul(b.P.sub(b.Target)).add(b.Noise[t % k]);
            opt.step();
            var got = isSgd ? new[] { ((AdaptiveMomentumSGD)opt).LastBeta } : ((AdaptiveMomentumAdamW)opt).LastBetas.ToArray();
            Assert.Equal(betas[t].Length, got.Length);
            for (int i = 0; i < got.Length; i++) Close(betas[t][i], got[i], 1e-5, 1e-9, $"{runName} beta[{i}] at step {t + 1}");
            foreach (var b in blocks)
                if (records.GetProperty(b.Name).TryGetProperty((t + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), out var want))
                {
                    var p = b.P.data<double>().ToArray();
                    var exp = want.EnumerateArray().Select(x => x.GetDouble()).ToArray();
                    for (int i = 0; i < exp.Length; i++) Close(exp[i], p[i], 1e-5, 1e-9, $"{runName} {b.Name}[{i}] after step {t + 1}");
                }
        }
        var all = betas.SelectMany(x => x).Skip(blocks.Count).ToArray();
        Assert.Contains(all, x => x == betaMax);                    // the fixture exercises the upper clip and the interior
        Assert.Contains(all, x => x > 0 && x < betaMax);
        string momentumKey = isSgd ? "momentum_buffer" : "exp_avg";
        foreach (var (b, st) in blocks.Zip(opt.States))
        {
            var want = run.GetProperty("momentum").GetProperty(b.Name).EnumerateArray().Select(x => x.GetDouble()).ToArray();
            var m = st[momentumKey].data<double>().ToArray();
            for (int i = 0; i < want.Length; i++) Close(want[i], m[i], 1e-5, 1e-9, $"{runName} momentum {b.Name}[{i}]");
        }
    }

    private static double[] R(Random rng, int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
    private static double Dot(double[] x, double[] y) => x.Zip(y).Sum(t => t.First * t.Second);
    private static double[] Sub(double[] x, double[] y) => x.Zip(y).Select(t => t.First - t.Second).ToArray();

    [Fact]
    public void BetaMaximizesTheDualOverItsRange()
    {
        // β_t is the maximizer over [0, β_max] of the two-plane model's dual D(1 − β) with the memory plane's height
        // c = ⟨g, d⟩ (per unit lr): checked against a grid, for random g, d, λ, β_max, including d = g.
        var rng = new Random(5);
        for (int trial = 0; trial < 1000; trial++)
        {
            int n = 1 + rng.Next(6);
            double[] g = R(rng, n), d = trial % 17 == 0 ? g.ToArray() : R(rng, n);
            if (trial % 5 == 0) d = g.Select(x => x * (0.2 + 2 * rng.NextDouble())).ToArray();   // parallel: often clipped
            double lam = rng.NextDouble() * 2, betaMax = trial % 3 == 0 ? 1.0 : rng.NextDouble() * 0.99;
            var diff = Sub(d, g);
            double beta = AdaptiveMemory.Beta(Dot(g, d), Dot(diff, diff), Dot(diff, g.Zip(d).Select(t => t.First + lam * t.Second).ToArray()), lam, betaMax);
            Assert.InRange(beta, 0, betaMax);
            double c = Dot(g, d), a = Dot(Sub(g, d), d), q = Dot(diff, diff);
            if (q == 0)
            {
                // d = g: the new direction is g whatever β is; the convention is β = 0.
                Assert.Equal(0, beta);
                continue;
            }
            double best = AdaptiveMemory.Dual(1 - beta, c, a, q, lam);
            for (int i = 0; i <= 200; i++)
            {
                double b = betaMax * i / 200.0;
                Assert.True(AdaptiveMemory.Dual(1 - b, c, a, q, lam) <= best + 1e-12, $"trial {trial}: β = {b} beats β_t = {beta}");
            }
        }
    }

    [Fact]
    public void StepMinimizesTheTwoPlaneProximalModel()
    {
        // P(u) = max(⟨g,u⟩, η⟨g,d⟩ + ⟨d,u⟩) + ‖u‖²/(2η) + λ‖u + ηd‖²/(2η) (the memory plane's height η⟨g,d⟩ above the
        // current plane) is minimized by u* = −η d⁺, d⁺ = ((β+λ) d + (1−β) g)/(1+λ), with β the formula clipped to [0, 1].
        // P is strongly convex, so u* must beat every perturbation.
        var rng = new Random(9);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = 6;
            double[] g = R(rng, n), d = R(rng, n);
            double eta = 0.05 + rng.NextDouble(), lam = rng.NextDouble() * 2;
            var diff = Sub(d, g);
            double beta = AdaptiveMemory.Beta(Dot(g, d), Dot(diff, diff), Dot(diff, g.Zip(d).Select(t => t.First + lam * t.Second).ToArray()), lam, 1.0);
            var u = Enumerable.Range(0, n).Select(i => -eta * ((beta + lam) * d[i] + (1 - beta) * g[i]) / (1 + lam)).ToArray();
            double c = eta * Dot(g, d);
            double P(double[] v) => Math.Max(Dot(g, v), c + Dot(d, v)) + Dot(v, v) / (2 * eta)
                + lam * Enumerable.Range(0, n).Sum(i => Math.Pow(v[i] + eta * d[i], 2)) / (2 * eta);
            double best = P(u);
            for (int k = 0; k < 50; k++)
            {
                var r = R(rng, n);
                double scale = Math.Pow(10, -rng.Next(1, 5));
                Assert.True(P(u.Select((x, i) => x + scale * r[i]).ToArray()) >= best - 1e-12, $"trial {trial}: a perturbation lowers the model");
            }
        }
    }

    [Fact]
    public void FirstStepsAreTheDocumentedOnes()
    {
        // AM-SGD: d₀ = g₀, so the first step is plain SGD and reports β = 0.
        using var p = new Parameter(tensor(new float[] { 1, 2, 3 }));
        p.grad = tensor(new float[] { 0.1f, 0.2f, 0.3f });
        using var sgd = new AdaptiveMomentumSGD(new[] { p });
        Assert.True(double.IsNaN(sgd.LastBeta));
        sgd.step();
        Assert.Equal(new[] { 1 - 0.01f, 2 - 0.02f, 3 - 0.03f }, p.data<float>().ToArray());
        Assert.Equal(0, sgd.LastBeta);
        Assert.Equal(4 * 3, sgd.StateBytes);
        // Same gradient again: d = g, so β = 0 by convention and the step is g again.
        sgd.step();
        Assert.Equal(new[] { 1 - 0.02f, 2 - 0.04f, 3 - 0.06f }, p.data<float>().ToArray());
        Assert.Equal(0, sgd.LastBeta);

        // AM-AdamW with λ = 0: the first step is AdamW's bias-corrected first step, and β₁ = β1max.
        using var a = new Parameter(tensor(new float[] { 0.5f, -1, 2, 0 }));
        using var b = new Parameter(tensor(new float[] { 0.5f, -1, 2, 0 }));
        a.grad = tensor(new float[] { 0.3f, -0.02f, 1.5f, 0 });
        b.grad = a.grad.clone();
        using var am = new AdaptiveMomentumAdamW(new[] { a }, lr: 0.01, weight_decay: 0.1, lambda: 0);
        using var adamw = new Optimizers.AdamW(new[] { b }, lr: 0.01, weight_decay: 0.1) { Path = ExecutionPath.Portable };
        am.step();
        adamw.step();
        Approx.AllClose(b.data<float>().ToArray(), a.data<float>().ToArray(), 1e-6, 1e-7, "AM-AdamW first step vs AdamW");
        Assert.Equal(0.89, am.LastBeta);
    }

    [Fact]
    public void RejectsBadHyperparameters()
    {
        using var p = new Parameter(zeros(3));
        Assert.Contains("lambda", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumSGD(new[] { p }, lambda: -1)).Message);
        Assert.Contains("lambda", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumSGD(new[] { ("p", p) }, lambda: double.NaN)).Message);
        Assert.Contains("beta_max", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumSGD(new[] { p }, beta_max: 1)).Message);
        Assert.Contains("beta_max", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumSGD(new[] { p }, beta_max: -0.1)).Message);
        Assert.Contains("lr", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumSGD(new[] { p }, lr: -0.1)).Message);
        Assert.Contains("weight_decay", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumSGD(new[] { p }, weight_decay: double.NaN)).Message);
        Assert.Contains("lambda", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, lambda: double.PositiveInfinity)).Message);
        Assert.Contains("lr", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, lr: double.NaN)).Message);
        Assert.Contains("beta1_max", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, beta1_max: 1)).Message);
        Assert.Contains("beta2", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, beta2: 1)).Message);
        Assert.Contains("eps", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, eps: 0)).Message);
        Assert.Contains("eps", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, eps: -1e-8)).Message);
        Assert.Contains("weight_decay", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, weight_decay: -1)).Message);
        var opt = new AdaptiveMomentumAdamW(new[] { p });
        using var q = new Parameter(zeros(2));
        Assert.Contains("lambda", Assert.Throws<ArgumentException>(() => opt.add_param_group(new ParamGroup { Parameters = new[] { q }, Options = new AdaptiveMomentumAdamW.Options { Lambda = -0.5 } })).Message);
        Assert.Equal(0, opt.StateBytes);
        opt.Dispose();
    }

    private static Sequential Net(int seed)
    {
        manual_seed(seed);
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2));
    }

    private static OptimizerBase Make(string which, Sequential m) => which == "sgd"
        ? new AdaptiveMomentumSGD(m.named_parameters(), lr: 0.1, weight_decay: 1e-3)
        : new AdaptiveMomentumAdamW(m.named_parameters(), lr: 0.01, weight_decay: 0.01);

    [Theory]
    [InlineData("sgd")]
    [InlineData("adamw")]
    public void StateBytesAndResumeBitForBit(string which)
    {
        string dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"sharpoptim-am-{Guid.NewGuid():N}")).FullName;
        try
        {
            var gen = new Generator(31);
            using var x = randn(new long[] { 40, 5 }, generator: gen);
            using var y = randn(new long[] { 40, 2 }, generator: gen);
            void Step(Sequential m, OptimizerBase o)
            {
                using var scope = NewDisposeScope();
                o.zero_grad();
                nn.functional.mse_loss(m.forward(x), y).backward();
                o.step();
            }
            using var m1 = Net(4);
            using var o1 = Make(which, m1);
            for (int i = 0; i < 50; i++) Step(m1, o1);
            long n = m1.parameters().Sum(p => p.NumberOfElements), count = m1.parameters().Count();
            Assert.Equal(which == "sgd" ? 4 * n : 8 * n + 8 * count, o1.StateBytes);

            using var m2 = Net(4);
            using (var o2 = Make(which, m2))
            {
                for (int i = 0; i < 25; i++) Step(m2, o2);
                Checkpoint.Save(Path.Combine(dir, "c.ckpt"), o2, m2);
            }
            using var m3 = Net(4);
            using var o3 = Make(which, m3);
            Checkpoint.Load(Path.Combine(dir, "c.ckpt"), o3, m3);
            for (int i = 0; i < 25; i++) Step(m3, o3);
            Assert.Equal(Bits.Of(m1.parameters().Select(p => (Tensor)p)), Bits.Of(m3.parameters().Select(p => (Tensor)p)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("sgd", 0.1)]
    [InlineData("adamw", 3e-3)]
    public void TrainsAnMlpOnDigits(string which, double lr)
    {
        manual_seed(7);
        using var data = Digits.Load();
        using var model = new Mlp(64, 64, 10);
        OptimizerBase opt = which == "sgd"
            ? new AdaptiveMomentumSGD(model.named_parameters(), lr: lr)
            : new AdaptiveMomentumAdamW(model.named_parameters(), lr: lr);
        using var _ = opt;
        var losses = ClassifierTraining.Train(model, opt, data, steps: 300, batchSize: 64, seed: 1);
        var (testLoss, acc) = ClassifierTraining.Evaluate(model, data);
        double beta = opt is AdaptiveMomentumSGD s ? s.LastBeta : ((AdaptiveMomentumAdamW)opt).LastBeta;
        output.WriteLine($"{which} lr {lr}: test accuracy {acc:P1}, test loss {testLoss:F3}, last train loss {losses[^1]:F3}, last β {beta:F3}");
        Assert.True(acc >= 0.90, $"{which} (lr {lr}): test accuracy {acc:P1}, test loss {testLoss:F3}");
    }
}
