using System.Text.Json;
using SharpOptim.Checkpoints;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using SharpOptim.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// AdAdaGrad / AdAdaGrad-Norm: AdaGrad-Norm and the adaptive batch-size controller against tools/golden/adadagrad.py,
/// per-sample gradients, bad inputs, a checkpoint round trip, and the batch size growing on breast_cancer.
/// </summary>
[Collection("checkpoint-hook")]
public class AdAdaGradTests(ITestOutputHelper output)
{
    private static void Close(double expected, double actual, double rtol, string what)
    {
        if (double.IsPositiveInfinity(expected)) { Assert.True(double.IsPositiveInfinity(actual), $"{what}: {actual:R}, expected +inf"); return; }
        Assert.True(Math.Abs(actual - expected) <= rtol * Math.Abs(expected) + 1e-300, $"{what}: {actual:R}, expected {expected:R}");
    }

    private static double ParseDouble(JsonElement e) => e.ValueKind == JsonValueKind.String ? double.Parse(e.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : e.GetDouble();

    [Fact]
    public void BatchSizeRuleMatchesReference()
    {
        using var doc = Golden.Load("adadagrad.json");
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            int b = c.GetProperty("b").GetInt32(), d = c.GetProperty("d").GetInt32(), bMax = c.GetProperty("b_max").GetInt32();
            double eta = c.GetProperty("eta").GetDouble(), theta = c.GetProperty("theta").GetDouble(), nu = c.GetProperty("nu").GetDouble();
            var test = c.GetProperty("test").GetString() switch
            {
                "norm" => BatchSizeTest.Norm,
                "coordinate" => BatchSizeTest.CoordinateWise,
                "ip" => BatchSizeTest.InnerProduct,
                "orth" => BatchSizeTest.Orthogonality,
                _ => BatchSizeTest.AugmentedInnerProduct,
            };
            var blocks = c.GetProperty("blocks").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            using var g = tensor(c.GetProperty("grads").Floats()).reshape(b, d).to_type(ScalarType.Float64);
            var s = BatchGradientStatistics.FromPerSampleGradients(g, blocks);
            Assert.Equal(b, s.BatchSize);
            Close(c.GetProperty("norm_sq").GetDouble(), s.MeanGradientNormSquared, 1e-10, $"{name} |gbar|^2");
            Close(c.GetProperty("var_sum").GetDouble(), s.VarianceSum, 1e-10, $"{name} sum var");
            Close(c.GetProperty("max_ratio").GetDouble(), s.MaxCoordinateRatio, 1e-9, $"{name} max var/gbar^2");
            Close(c.GetProperty("var_ip").GetDouble(), s.InnerProductVariance, 1e-9, $"{name} sum var(ip)");
            Close(c.GetProperty("var_orth").GetDouble(), s.OrthogonalVariance, 1e-9, $"{name} sum var(orth)");
            Close(c.GetProperty("test_value").GetDouble(), AdaptiveBatchSize.TestValue(s, test, eta, theta, nu), 1e-9, $"{name} T");

            // The same statistics from the moments (mean and per-coordinate sum of squared deviations).
            using var mean = g.mean(new long[] { 0 });
            using var ssd = g.sub(mean).square().sum(new long[] { 0 });
            var s2 = BatchGradientStatistics.FromMoments(mean, ssd, b);
            Close(s.VarianceSum, s2.VarianceSum, 1e-12, $"{name} moments");

            var controller = new AdaptiveBatchSize(b, bMax, eta, test, theta, nu);
            int next = controller.Update(g, blocks);
            Assert.Equal(c.GetProperty("next").GetInt32(), next);
            Assert.Equal(next, controller.BatchSize);
        }
    }

    [Fact]
    public void TestEdgeCases()
    {
        // ḡ = 0 with variance: T = +∞, the batch jumps to the cap. No variance: T = 0, the batch stays.
        using var opposite = tensor(new double[] { 1, -2, -1, 2 }).reshape(2, 2);
        var s = BatchGradientStatistics.FromPerSampleGradients(opposite);
        Assert.Equal(0, s.MeanGradientNormSquared);
        Assert.Equal(100, AdaptiveBatchSize.NextBatchSize(2, s, 0.5, BatchSizeTest.Norm, 100));
        Assert.Equal(100, AdaptiveBatchSize.NextBatchSize(2, s, 0.5, BatchSizeTest.CoordinateWise, 100));
        using var same = tensor(new double[] { 1, 0, 1, 0, 1, 0 }).reshape(3, 2);
        var z = BatchGradientStatistics.FromPerSampleGradients(same);
        Assert.Equal(0, AdaptiveBatchSize.TestValue(z, 0.5, BatchSizeTest.Norm));
        Assert.Equal(0, AdaptiveBatchSize.TestValue(z, 0.5, BatchSizeTest.CoordinateWise));   // coordinate 2: 0/0 counts as passing
        Assert.Equal(3, AdaptiveBatchSize.NextBatchSize(3, z, 0.5, BatchSizeTest.Norm, 100));
        // Rounding up: variance sum 2, ‖ḡ‖² = 1 → T = 2 / (0.5² · 1) = 8 exactly, so b = 8; with η = 0.49, ⌈8.33⌉ = 9.
        using var two = tensor(new double[] { 2, 0 }).reshape(2, 1);    // ḡ = 1, Var = 2
        var t = BatchGradientStatistics.FromPerSampleGradients(two);
        Assert.Equal(8, AdaptiveBatchSize.NextBatchSize(2, t, 0.5, BatchSizeTest.Norm, 100));
        Assert.Equal(9, AdaptiveBatchSize.NextBatchSize(2, t, 0.49, BatchSizeTest.Norm, 100));
        // Never decreases: a batch that passes the test keeps the current (larger) size.
        var c = new AdaptiveBatchSize(2, 100, 0.5);
        c.Update(two);
        Assert.Equal(8, c.BatchSize);
        c.Update(same);
        Assert.Equal(8, c.BatchSize);

        // Inner-product and orthogonality tests by hand: samples (2, 0) and (0, 0): ḡ = (1, 0), ⟨g_i, ḡ⟩ = (2, 0) with
        // variance 2, ‖ḡ‖⁴ = 1, so T_ip = 2 / θ² = 8 for θ = 0.5; both samples lie along ḡ, so T_orth = 0 and the
        // augmented test is T_ip.
        using var along = tensor(new double[] { 2, 0, 0, 0 }).reshape(2, 2);
        var a = BatchGradientStatistics.FromPerSampleGradients(along);
        Assert.Equal(2, a.InnerProductVariance, 12);
        Assert.Equal(0, a.OrthogonalVariance, 12);
        Assert.Equal(8, AdaptiveBatchSize.TestValue(a, BatchSizeTest.InnerProduct, theta: 0.5), 9);
        Assert.Equal(0, AdaptiveBatchSize.TestValue(a, BatchSizeTest.Orthogonality, nu: 0.5));
        Assert.Equal(8, AdaptiveBatchSize.TestValue(a, BatchSizeTest.AugmentedInnerProduct, theta: 0.5, nu: 0.5), 9);
        // Across the direction: (1, 1) and (1, −1): ḡ = (1, 0), ⟨g_i, ḡ⟩ = 1 for both (no variance), o_i = (0, ±1) with
        // variance 2 in the second coordinate: T_ip = 0, T_orth = 2 / (ν² · 1) = 200 for the default ν = 0.1.
        using var across = tensor(new double[] { 1, 1, 1, -1 }).reshape(2, 2);
        var x = BatchGradientStatistics.FromPerSampleGradients(across);
        Assert.Equal(0, AdaptiveBatchSize.TestValue(x, BatchSizeTest.InnerProduct));
        Assert.Equal(200, AdaptiveBatchSize.TestValue(x, BatchSizeTest.Orthogonality), 9);
        Assert.Equal(200, new AdaptiveBatchSize(2, 1000, test: BatchSizeTest.AugmentedInnerProduct).Update(across));
        // Blocks: the same samples as two one-coordinate blocks. Block 2's ḡ is 0, so its samples count as wholly
        // orthogonal (variance 2) and its inner products are 0; block 1 has no spread: the same T_orth, T_ip = 0.
        var split = BatchGradientStatistics.FromPerSampleGradients(across, new long[] { 1, 1 });
        Assert.Equal(0, split.InnerProductVariance, 12);
        Assert.Equal(2, split.OrthogonalVariance, 12);
        // ḡ = 0 with variance: every official test asks for +∞, so the batch jumps to the cap.
        foreach (var test in new[] { BatchSizeTest.InnerProduct, BatchSizeTest.Orthogonality, BatchSizeTest.AugmentedInnerProduct })
            Assert.Equal(100, new AdaptiveBatchSize(2, 100, test: test).Update(opposite));
        // Statistics from moments alone cannot serve the inner-product tests.
        var fromMoments = BatchGradientStatistics.FromMoments(tensor(new double[] { 1, 0 }), tensor(new double[] { 2, 0 }), 2);
        Assert.Contains("per-sample", Assert.Throws<ArgumentException>(() => AdaptiveBatchSize.TestValue(fromMoments, BatchSizeTest.InnerProduct)).Message);
        Assert.Equal(8, AdaptiveBatchSize.TestValue(fromMoments, 0.5, BatchSizeTest.Norm), 12);
    }

    [Fact]
    public void DefaultsAreTheOfficialConstants()
    {
        var c = new AdaptiveBatchSize(2, 10);
        Assert.Equal((0.1, 0.1, 0.1, BatchSizeTest.Norm), (c.Eta, c.Theta, c.Nu, c.Test));
    }

    [Fact]
    public void RejectsBadInputs()
    {
        Assert.Contains("theta", Assert.Throws<ArgumentException>(() => new AdaptiveBatchSize(2, 10, theta: 0)).Message);
        Assert.Contains("nu", Assert.Throws<ArgumentException>(() => new AdaptiveBatchSize(2, 10, nu: double.NaN)).Message);
        using var g = randn(4, 5);
        Assert.Contains("blockSizes", Assert.Throws<ArgumentException>(() => BatchGradientStatistics.FromPerSampleGradients(g, new long[] { 2, 2 })).Message);
        Assert.Contains("initialBatchSize", Assert.Throws<ArgumentException>(() => new AdaptiveBatchSize(1, 10, 0.5)).Message);
        Assert.Contains("maxBatchSize", Assert.Throws<ArgumentException>(() => new AdaptiveBatchSize(8, 4, 0.5)).Message);
        foreach (double eta in new[] { 0, -1, double.NaN, double.PositiveInfinity })
            Assert.Contains("eta", Assert.Throws<ArgumentException>(() => new AdaptiveBatchSize(2, 10, eta)).Message);
        Assert.Throws<ArgumentException>(() => new AdaptiveBatchSize(2, 10, 0.5, (BatchSizeTest)7));
        using var one = ones(1, 5);
        Assert.Throws<ArgumentException>(() => BatchGradientStatistics.FromPerSampleGradients(one));
        using var flat = ones(5);
        Assert.Throws<ArgumentException>(() => BatchGradientStatistics.FromPerSampleGradients(flat));
        using var nan = tensor(new float[] { 1, float.NaN, 2, 3 }).reshape(2, 2);
        Assert.Throws<ArgumentException>(() => BatchGradientStatistics.FromPerSampleGradients(nan));
        using var m = zeros(3);
        using var neg = tensor(new float[] { 1, -1, 0 });
        Assert.Throws<ArgumentException>(() => BatchGradientStatistics.FromMoments(m, neg, 4));

        using var p = new Parameter(zeros(3));
        Assert.Contains("lr", Assert.Throws<ArgumentException>(() => new AdaGradNorm(new[] { p }, lr: -1)).Message);
        Assert.Contains("eps", Assert.Throws<ArgumentException>(() => new AdaGradNorm(new[] { p }, eps: -1)).Message);
        Assert.Contains("weight_decay", Assert.Throws<ArgumentException>(() => new AdaGradNorm(new[] { p }, weight_decay: double.NaN)).Message);
        Assert.Contains("initial_accumulator_value", Assert.Throws<ArgumentException>(() => new AdaGradNorm(new[] { p }, initial_accumulator_value: -1e-3)).Message);
        Assert.Contains("initial_accumulator_value", Assert.Throws<ArgumentException>(() => new AdaGradNorm(new[] { p }, initial_accumulator_value: double.PositiveInfinity)).Message);
    }

    [Fact]
    public void AdaGradNormMatchesReference()
    {
        using var doc = Golden.Load("adadagrad.json");
        var tr = doc.RootElement.GetProperty("trajectory");
        int k = tr.GetProperty("k").GetInt32(), steps = tr.GetProperty("steps").GetInt32();
        var hp = tr.GetProperty("hyper");
        var blocks = tr.GetProperty("blocks").EnumerateArray().Select(b =>
        {
            var shape = b.GetProperty("shape").Longs();
            Tensor D(string key) => tensor(b.GetProperty(key).Floats()).to_type(ScalarType.Float64);
            var noise = D("noise");
            long n = shape.Aggregate(1L, (x, y) => x * y);
            return (Name: b.GetProperty("name").GetString()!, P: new Parameter(D("p0").reshape(shape)), H: D("h").reshape(shape),
                Target: D("target").reshape(shape), Noise: Enumerable.Range(0, k).Select(j => noise.narrow(0, j * n, n).reshape(shape)).ToArray(),
                Expected: b.GetProperty("params").EnumerateObject().ToDictionary(x => int.Parse(x.Name), x => x.Value.EnumerateArray().Select(ParseDouble).ToArray()));
        }).ToList();
        var acc = tr.GetProperty("accumulator").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        using var opt = new AdaGradNorm(blocks.Select(b => (b.Name, b.P)), hp.GetProperty("lr").GetDouble(),
            hp.GetProperty("initial_accumulator_value").GetDouble(), hp.GetProperty("eps").GetDouble(), hp.GetProperty("weight_decay").GetDouble());
        Assert.Equal(hp.GetProperty("initial_accumulator_value").GetDouble(), opt.Accumulator);
        for (int t = 0; t < steps; t++)
        {
            using (no_grad())
                foreach (var b in blocks) b.P.grad = b.H.mul(b.P.sub(b.Target)).add(b.Noise[t % k]);
            opt.step();
            Close(acc[t], opt.Accumulator, 1e-12, $"accumulator after step {t + 1}");
            foreach (var b in blocks)
                if (b.Expected.TryGetValue(t + 1, out var want))
                {
                    var got = b.P.data<double>().ToArray();
                    for (int i = 0; i < want.Length; i++) Close(want[i], got[i], 1e-10, $"{b.Name}[{i}] after step {t + 1}");
                }
        }
        // One 0-dimensional float64 accumulator copy per parameter tensor.
        Assert.Equal(8 * blocks.Count, opt.StateBytes);
        Assert.All(opt.States, s => Assert.Equal(opt.Accumulator, s["sum"].item<double>()));
    }

    [Fact]
    public void AdaGradNormIsScaleFreeOnItsFirstStep()
    {
        // b₀² = 0, ε = 0: the first step is exactly lr · g / ‖g‖ over the whole model, whatever the gradient's scale.
        using var a = new Parameter(zeros(new long[] { 3 }, dtype: ScalarType.Float64));
        using var c = new Parameter(zeros(new long[] { 1 }, dtype: ScalarType.Float64));
        a.grad = tensor(new double[] { 300, 0, -400 });
        c.grad = tensor(new double[] { 1200 });
        using var opt = new AdaGradNorm(new[] { a, c }, lr: 2, initial_accumulator_value: 0, eps: 0);
        opt.step();
        Assert.Equal(new[] { -2 * 300 / 1300.0, 0, 2 * 400 / 1300.0 }, a.data<double>().ToArray());
        Assert.Equal(-2 * 1200 / 1300.0, c.data<double>()[0], 15);
    }

    [Fact]
    public void AdaGradNormResumesBitForBit()
    {
        string dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"sharpoptim-agn-{Guid.NewGuid():N}")).FullName;
        try
        {
            static Sequential Model() { manual_seed(5); return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)); }
            var gen = new Generator(77);
            using var x = randn(new long[] { 32, 5 }, generator: gen);
            using var y = randn(new long[] { 32, 2 }, generator: gen);
            void Step(Sequential m, AdaGradNorm o)
            {
                using var scope = NewDisposeScope();
                o.zero_grad();
                nn.functional.mse_loss(m.forward(x), y).backward();
                o.step();
            }
            using var m1 = Model();
            using var o1 = new AdaGradNorm(m1.named_parameters(), lr: 0.1, weight_decay: 1e-3);
            for (int i = 0; i < 50; i++) Step(m1, o1);

            using var m2 = Model();
            using (var o2 = new AdaGradNorm(m2.named_parameters(), lr: 0.1, weight_decay: 1e-3))
            {
                for (int i = 0; i < 25; i++) Step(m2, o2);
                Checkpoint.Save(Path.Combine(dir, "c.ckpt"), o2, m2);
            }
            using var m3 = Model();
            using var o3 = new AdaGradNorm(m3.named_parameters(), lr: 0.1, weight_decay: 1e-3);
            Checkpoint.Load(Path.Combine(dir, "c.ckpt"), o3, m3);
            Assert.Equal(o1.StateBytes, o3.StateBytes);
            for (int i = 0; i < 25; i++) Step(m3, o3);
            Assert.Equal(Bits.Of(m1.parameters().Select(p => (Tensor)p)), Bits.Of(m3.parameters().Select(p => (Tensor)p)));
            Assert.Equal(o1.Accumulator, o3.Accumulator);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void PerSampleGradientsAgree()
    {
        using var data = BreastCancer.Load();
        manual_seed(11);
        using var model = nn.Linear(30, 2);
        using var x = data.TrainX[..24];
        using var y = data.TrainY[..24];
        using var loop = PerSampleGradients.Compute(model, x, y, (o, t) => nn.functional.cross_entropy(o, t));
        using var closed = PerSampleGradients.LinearSoftmax(x, y, model.weight!, model.bias);
        Assert.Equal(new long[] { 24, 62 }, loop.shape);
        Approx.AllClose(loop.data<float>().ToArray(), closed.data<float>().ToArray(), 1e-5, 1e-7, "closed form vs per-sample backward");
        // Their mean is the batch gradient of the mean loss, and the parameters' .grad is untouched.
        Assert.Null(model.weight!.grad);
        nn.functional.cross_entropy(model.forward(x), y).backward();
        using var batch = cat(new[] { model.weight!.grad!.reshape(-1), model.bias!.grad!.reshape(-1) }, 0);
        Approx.AllClose(batch.data<float>().ToArray(), closed.mean(new long[] { 0 }).data<float>().ToArray(), 1e-5, 1e-7, "mean of per-sample gradients");
    }

    /// <summary>
    /// AdAdaGrad-Norm on breast_cancer logistic regression (30 features, 2 classes, 455 training samples): batches
    /// drawn without replacement from a seeded generator, the norm test with η = 0.5 after each step, starting at b = 2.
    /// Early on ‖ḡ‖ dominates the per-sample spread and b stays small; as the fit approaches its optimum ‖ḡ‖ shrinks
    /// relative to the spread and the test grows b, never decreasing, as the paper describes.
    /// </summary>
    [Fact]
    public void BatchSizeGrowsOnBreastCancerWhileLossFalls()
    {
        using var data = BreastCancer.Load();
        manual_seed(3);
        using var model = nn.Linear(30, 2);
        using var opt = new AdaGradNorm(model.named_parameters(), lr: 0.5);
        var sizes = new AdaptiveBatchSize(initialBatchSize: 2, maxBatchSize: 455, eta: 0.5);
        var rng = new Random(17);
        float FullLoss()
        {
            using var _ = no_grad();
            using var l = nn.functional.cross_entropy(model.forward(data.TrainX), data.TrainY);
            return l.item<float>();
        }
        float initial = FullLoss();
        var trajectory = new List<int>();
        const int steps = 60;
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            int b = sizes.BatchSize;
            trajectory.Add(b);
            var idx = tensor(Enumerable.Range(0, 455).OrderBy(_ => rng.Next()).Take(b).Select(i => (long)i).ToArray());
            var x = data.TrainX.index_select(0, idx);
            var y = data.TrainY.index_select(0, idx);
            var perSample = PerSampleGradients.LinearSoftmax(x, y, model.weight!, model.bias);
            opt.zero_grad();
            nn.functional.cross_entropy(model.forward(x), y).backward();
            opt.step();
            sizes.Update(perSample);
        }
        float final = FullLoss();
        output.WriteLine($"initial loss {initial:F4}, final loss {final:F4}, batch sizes: {string.Join(",", trajectory)}");
        for (int i = 1; i < trajectory.Count; i++) Assert.True(trajectory[i] >= trajectory[i - 1], $"batch size fell at step {i}");
        Assert.True(trajectory[^1] >= 32 * trajectory[0], $"batch size grew only from {trajectory[0]} to {trajectory[^1]}");
        Assert.True(final < 0.25 * initial, $"loss {initial:F4} -> {final:F4}");
    }

    /// <summary>
    /// AdAdaGrad (coordinate-wise test, per-coordinate AdaGrad steps) on the same task. The coordinate-wise test asks
    /// every coordinate's mean to dominate its own spread, so it is much stricter than the norm test: here, with
    /// η = 1, the batch jumps within a few steps to the cap (a coordinate with a near-zero mean gradient decides).
    /// </summary>
    [Fact]
    public void CoordinateWiseBatchSizeOnBreastCancer()
    {
        using var data = BreastCancer.Load();
        manual_seed(3);
        using var model = nn.Linear(30, 2);
        using var opt = new Optimizers.Adagrad(model.parameters(), lr: 0.1);
        var sizes = new AdaptiveBatchSize(initialBatchSize: 2, maxBatchSize: 455, eta: 1.0, BatchSizeTest.CoordinateWise);
        var rng = new Random(17);
        float FullLoss()
        {
            using var _ = no_grad();
            using var l = nn.functional.cross_entropy(model.forward(data.TrainX), data.TrainY);
            return l.item<float>();
        }
        float initial = FullLoss();
        var trajectory = new List<int>();
        for (int s = 0; s < 60; s++)
        {
            using var scope = NewDisposeScope();
            int b = sizes.BatchSize;
            trajectory.Add(b);
            var idx = tensor(Enumerable.Range(0, 455).OrderBy(_ => rng.Next()).Take(b).Select(i => (long)i).ToArray());
            var x = data.TrainX.index_select(0, idx);
            var y = data.TrainY.index_select(0, idx);
            var perSample = PerSampleGradients.LinearSoftmax(x, y, model.weight!, model.bias);
            opt.zero_grad();
            nn.functional.cross_entropy(model.forward(x), y).backward();
            opt.step();
            sizes.Update(perSample);
        }
        float final = FullLoss();
        output.WriteLine($"initial loss {initial:F4}, final loss {final:F4}, batch sizes: {string.Join(",", trajectory)}");
        for (int i = 1; i < trajectory.Count; i++) Assert.True(trajectory[i] >= trajectory[i - 1], $"batch size fell at step {i}");
        Assert.Equal(455, trajectory[^1]);
        Assert.True(final < 0.5 * initial, $"loss {initial:F4} -> {final:F4}");
    }

    /// <summary>
    /// The augmented inner-product test (the official <c>ip+orth</c>, θ = ν = 0.1, per parameter tensor) driving
    /// AdaGrad-Norm on breast_cancer: the batch grows monotonically and the loss falls.
    /// </summary>
    [Fact]
    public void AugmentedInnerProductBatchSizeOnBreastCancer()
    {
        using var data = BreastCancer.Load();
        manual_seed(3);
        using var model = nn.Linear(30, 2);
        using var opt = new AdaGradNorm(model.named_parameters(), lr: 0.5);
        var sizes = new AdaptiveBatchSize(initialBatchSize: 2, maxBatchSize: 455, test: BatchSizeTest.AugmentedInnerProduct);
        var blocks = PerSampleGradients.BlockSizes(model);
        Assert.Equal(new long[] { 60, 2 }, blocks);
        var rng = new Random(17);
        float FullLoss()
        {
            using var _ = no_grad();
            using var l = nn.functional.cross_entropy(model.forward(data.TrainX), data.TrainY);
            return l.item<float>();
        }
        float initial = FullLoss();
        var trajectory = new List<int>();
        for (int s = 0; s < 40; s++)
        {
            using var scope = NewDisposeScope();
            int b = sizes.BatchSize;
            trajectory.Add(b);
            var idx = tensor(Enumerable.Range(0, 455).OrderBy(_ => rng.Next()).Take(b).Select(i => (long)i).ToArray());
            var x = data.TrainX.index_select(0, idx);
            var y = data.TrainY.index_select(0, idx);
            var perSample = PerSampleGradients.LinearSoftmax(x, y, model.weight!, model.bias);
            opt.zero_grad();
            nn.functional.cross_entropy(model.forward(x), y).backward();
            opt.step();
            sizes.Update(perSample, blocks);
        }
        float final = FullLoss();
        output.WriteLine($"initial loss {initial:F4}, final loss {final:F4}, batch sizes: {string.Join(",", trajectory)}");
        for (int i = 1; i < trajectory.Count; i++) Assert.True(trajectory[i] >= trajectory[i - 1], $"batch size fell at step {i}");
        Assert.True(trajectory[^1] > trajectory[0], "the batch never grew");
        Assert.True(final < 0.5 * initial, $"loss {initial:F4} -> {final:F4}");
    }

    [Fact]
    public void AdaGradNormTrainsAnMlpOnDigits()
    {
        const double lr = 1.0;   // the official code's default (lr 0.3 reaches 92%, 0.1 only 77% in 300 steps)
        manual_seed(7);
        using var data = Digits.Load();
        using var model = new Mlp(64, 64, 10);
        using var opt = new AdaGradNorm(model.named_parameters(), lr: lr);
        var losses = ClassifierTraining.Train(model, opt, data, steps: 300, batchSize: 64, seed: 1);
        var (testLoss, acc) = ClassifierTraining.Evaluate(model, data);
        output.WriteLine($"AdaGradNorm lr {lr}: test accuracy {acc:P1}, test loss {testLoss:F3}, b = {Math.Sqrt(opt.Accumulator):F2}");
        Assert.True(acc >= 0.90, $"AdaGradNorm (lr {lr}): test accuracy {acc:P1}, test loss {testLoss:F3}");
    }
}
