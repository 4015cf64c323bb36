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
    [InlineData("sgd", false)]
    [InlineData("sgd_groups", true)]
    [InlineData("adamw", true)]
    public void MatchesReference(string runName, bool useClosure)
    {
        using var doc = Golden.Load("adaptive_momentum.json");
        var root = doc.RootElement;
        int k = root.GetProperty("k").GetInt32(), steps = root.GetProperty("steps").GetInt32();
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
        double lam = run.GetProperty("lam").GetDouble();
        var lrs = run.GetProperty("lr").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var groups = blocks.Select((b, i) => new ParamGroup { Parameters = new[] { b.P } }).ToList();
        OptimizerBase opt;
        if (run.GetProperty("kind").GetString() == "sgd")
        {
            foreach (var (g, lr) in groups.Zip(lrs)) g.Options = new AdaptiveMomentumSGD.Options { LearningRate = lr };
            opt = new AdaptiveMomentumSGD(groups, lambda: lam);
        }
        else
        {
            foreach (var (g, lr) in groups.Zip(lrs)) g.Options = new AdaptiveMomentumAdamW.Options { LearningRate = lr };
            opt = new AdaptiveMomentumAdamW(groups, beta2: run.GetProperty("beta2").GetDouble(), eps: run.GetProperty("eps").GetDouble(),
                weight_decay: run.GetProperty("weight_decay").GetDouble(), lambda: lam);
        }
        using var _ = opt;
        var betas = run.GetProperty("betas").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var planes = run.GetProperty("planes").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var records = run.GetProperty("params");
        for (int t = 0; t < steps; t++)
        {
            double f = 0;
            using (no_grad())
                foreach (var b in blocks)
                {
                    var diff = b.P.sub(b.Target);
                    f += b.H.mul(diff.square()).mul(0.5).sum().item<double>() + b.Noise[t % k].mul(b.P).sum().item<double>();
                    b.P.grad = b.H.mul(diff).add(b.Noise[t % k]);
                }
            if (useClosure) opt.step(() => tensor(f, dtype: ScalarType.Float64));
            else if (opt is AdaptiveMomentumSGD s) { s.CurrentLoss = f; s.step(); }
            double beta = opt is AdaptiveMomentumSGD sg ? sg.LastBeta : ((AdaptiveMomentumAdamW)opt).LastBeta;
            double plane = opt is AdaptiveMomentumSGD sp ? sp.MemoryPlane : ((AdaptiveMomentumAdamW)opt).MemoryPlane;
            Close(betas[t], beta, 1e-5, 1e-8, $"{runName} beta at step {t + 1}");
            Close(planes[t], plane, 1e-5, 1e-8, $"{runName} memory plane at step {t + 1}");
            foreach (var b in blocks)
                if (records.GetProperty(b.Name).TryGetProperty((t + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), out var want))
                {
                    var got = b.P.data<double>().ToArray();
                    var exp = want.EnumerateArray().Select(x => x.GetDouble()).ToArray();
                    for (int i = 0; i < exp.Length; i++) Close(exp[i], got[i], 1e-5, 1e-8, $"{runName} {b.Name}[{i}] after step {t + 1}");
                }
        }
        Assert.Contains(betas, x => x == 0);                 // the fixture exercises both clips and the interior
        Assert.Contains(betas, x => x == 1);
        Assert.Contains(betas, x => x > 0 && x < 1);
        string momentumKey = opt is AdaptiveMomentumSGD ? "momentum_buffer" : "exp_avg";
        foreach (var (b, st) in blocks.Zip(opt.States))
        {
            var want = run.GetProperty("momentum").GetProperty(b.Name).EnumerateArray().Select(x => x.GetDouble()).ToArray();
            var got = st[momentumKey].data<double>().ToArray();
            for (int i = 0; i < want.Length; i++) Close(want[i], got[i], 1e-5, 1e-8, $"{runName} momentum {b.Name}[{i}]");
        }
    }

    [Fact]
    public void BetaMaximizesTheDualAndIsClipped()
    {
        var rng = new Random(5);
        for (int trial = 0; trial < 2000; trial++)
        {
            double c = (rng.NextDouble() - 0.5) * 4, a = (rng.NextDouble() - 0.5) * 4, q = rng.NextDouble() * 3, lam = rng.NextDouble() * 2;
            if (trial % 10 == 0) q = 0;
            double theta = AdaptiveMemory.Theta(c, a, q, lam);
            Assert.InRange(theta, 0, 1);
            double best = AdaptiveMemory.Dual(theta, c, a, q, lam);
            for (int i = 0; i <= 200; i++)
                Assert.True(AdaptiveMemory.Dual(i / 200.0, c, a, q, lam) <= best + 1e-12, $"trial {trial}: θ = {i / 200.0} beats θ* = {theta}");
            // Interior solutions satisfy the first-order condition D'(θ) = 0.
            if (theta > 0 && theta < 1) Assert.True(Math.Abs(-(c + a) - theta * q / (1 + lam)) < 1e-12);
        }
    }

    [Fact]
    public void StepMinimizesTheTwoPlaneProximalModel()
    {
        // P(u) = max(⟨g,u⟩, c + ⟨d,u⟩) + ‖u‖²/(2η) + λ‖u + ηd‖²/(2η), minimized by u* = −η d⁺ with
        // d⁺ = ((β+λ) d + (1−β) g)/(1+λ) and β = 1 − θ*(c, η⟨g−d,d⟩, η‖g−d‖², λ). P is strongly convex, so u* must beat
        // every perturbation.
        var rng = new Random(9);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = 6;
            double[] g = R(rng, n), d = R(rng, n);
            double eta = 0.05 + rng.NextDouble(), lam = rng.NextDouble() * 2, c = (rng.NextDouble() - 0.5) * 2;
            double a = eta * Dot(Sub(g, d), d), q = eta * Dot(Sub(g, d), Sub(g, d));
            double beta = 1 - AdaptiveMemory.Theta(c, a, q, lam);
            var u = Enumerable.Range(0, n).Select(i => -eta * ((beta + lam) * d[i] + (1 - beta) * g[i]) / (1 + lam)).ToArray();
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
        static double[] R(Random rng, int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        static double Dot(double[] x, double[] y) => x.Zip(y).Sum(t => t.First * t.Second);
        static double[] Sub(double[] x, double[] y) => x.Zip(y).Select(t => t.First - t.Second).ToArray();
    }

    [Fact]
    public void NeedsTheLossAndChangesNothingWithoutIt()
    {
        using var p = new Parameter(tensor(new float[] { 1, 2, 3 }));
        p.grad = tensor(new float[] { 0.1f, 0.2f, 0.3f });
        using var sgd = new AdaptiveMomentumSGD(new[] { p });
        Assert.Contains("loss", Assert.Throws<InvalidOperationException>(() => sgd.step()).Message);
        Assert.Equal(new float[] { 1, 2, 3 }, p.data<float>().ToArray());
        Assert.Equal(0, sgd.StateBytes);
        sgd.CurrentLoss = double.NaN;
        Assert.Throws<ArgumentException>(() => sgd.step());
        Assert.Equal(0, sgd.StateBytes);
        using var adam = new AdaptiveMomentumAdamW(new[] { p });
        Assert.Throws<InvalidOperationException>(() => adam.step());
        Assert.Equal(new float[] { 1, 2, 3 }, p.data<float>().ToArray());
        // The first step is plain gradient descent (d₀ = g₀), and the loss is consumed by it.
        sgd.CurrentLoss = 1.0;
        sgd.step();
        Assert.Equal(new[] { 1 - 0.01f, 2 - 0.02f, 3 - 0.03f }, p.data<float>().ToArray());
        Assert.Null(sgd.CurrentLoss);
        Assert.Throws<InvalidOperationException>(() => sgd.step());
    }

    [Fact]
    public void RejectsBadHyperparameters()
    {
        using var p = new Parameter(zeros(3));
        Assert.Contains("lambda", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumSGD(new[] { p }, lambda: -1)).Message);
        Assert.Contains("lambda", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumSGD(new[] { ("p", p) }, lambda: double.NaN)).Message);
        Assert.Contains("lambda", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, lambda: double.PositiveInfinity)).Message);
        Assert.Contains("lr", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumSGD(new[] { p }, lr: -0.1)).Message);
        Assert.Contains("lr", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, lr: double.NaN)).Message);
        Assert.Contains("beta2", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, beta2: 1)).Message);
        Assert.Contains("eps", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, eps: -1e-8)).Message);
        Assert.Contains("weight_decay", Assert.Throws<ArgumentException>(() => new AdaptiveMomentumAdamW(new[] { p }, weight_decay: -1)).Message);
        var opt = new AdaptiveMomentumAdamW(new[] { p });
        using var q = new Parameter(zeros(2));
        Assert.Contains("beta2", Assert.Throws<ArgumentException>(() => opt.add_param_group(new ParamGroup { Parameters = new[] { q }, Options = new AdaptiveMomentumAdamW.Options { Beta2 = -0.5 } })).Message);
        opt.Dispose();
    }

    private static Sequential Net(int seed)
    {
        manual_seed(seed);
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2));
    }

    private static OptimizerBase Make(string which, Sequential m) => which == "sgd"
        ? new AdaptiveMomentumSGD(m.named_parameters(), lr: 0.1, lambda: 0.1)
        : new AdaptiveMomentumAdamW(m.named_parameters(), lr: 0.01, weight_decay: 0.01, lambda: 0.1);

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
            void Step(Sequential m, OptimizerBase o) => o.step(() =>
            {
                o.zero_grad();
                var l = nn.functional.mse_loss(m.forward(x), y);
                l.backward();
                return l;
            });
            using var m1 = Net(4);
            using var o1 = Make(which, m1);
            for (int i = 0; i < 50; i++) Step(m1, o1);
            long n = m1.parameters().Sum(p => p.NumberOfElements), count = m1.parameters().Count();
            Assert.Equal((which == "sgd" ? 4 : 8) * n + 4 * count, o1.StateBytes);

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
        // ClassifierTraining.Train's batching (300 steps of 64, reshuffled per epoch with seed 1), with the loss passed by closure.
        var rng = new Random(1);
        long n = data.TrainX.shape[0];
        var order = Enumerable.Range(0, (int)n).ToArray();
        int pos = (int)n;
        var betas = new List<double>();
        model.train();
        for (int s = 0; s < 300; s++)
        {
            if (pos + 64 > n) { rng.Shuffle(order); pos = 0; }
            using var scope = NewDisposeScope();
            var idx = tensor(order.AsSpan(pos, 64).ToArray().Select(i => (long)i).ToArray());
            pos += 64;
            var xb = data.TrainX.index_select(0, idx);
            var yb = data.TrainY.index_select(0, idx);
            opt.step(() =>
            {
                opt.zero_grad();
                var loss = nn.functional.cross_entropy(model.forward(xb), yb);
                loss.backward();
                return loss;
            });
            betas.Add(opt is AdaptiveMomentumSGD sg ? sg.LastBeta : ((AdaptiveMomentumAdamW)opt).LastBeta);
        }
        var (testLoss, acc) = ClassifierTraining.Evaluate(model, data);
        output.WriteLine($"{which} lr {lr}: test accuracy {acc:P1}, test loss {testLoss:F3}, mean β {betas.Average():F3}, β=0 {betas.Count(b => b == 0)}, β=1 {betas.Count(b => b == 1)}");
        Assert.True(acc >= 0.90, $"{which} (lr {lr}): test accuracy {acc:P1}, test loss {testLoss:F3}");
    }
}
