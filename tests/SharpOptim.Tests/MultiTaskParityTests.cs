using System.Text.Json;
using SharpOptim.MultiTask;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>MGDA, MGDA-UB, PCGrad, MultiBalance and MARIGOLD (the last two reconstructions) against
/// tools/golden/multitask.py in float64: weights and the gradients left in the parameters.</summary>
public class MultiTaskParityTests
{
    private static double[] D(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    /// <summary>The fixture's model: trunk tanh(W1 x + b1) (5 → 6); heads: 3-class cross-entropy, parity BCE, MSE to 3x.</summary>
    private sealed class FixtureModel : IDisposable
    {
        public readonly Tensor W1, B1, Wc, Bc, Wp, Bp, Wr, Br;
        public FixtureModel(JsonElement m)
        {
            Tensor P(string k, params long[] shape) => tensor(D(m.GetProperty(k)), dtype: ScalarType.Float64).reshape(shape).requires_grad_(true);
            W1 = P("w1", 6, 5); B1 = P("b1", 6); Wc = P("wc", 3, 6); Bc = P("bc", 3); Wp = P("wp", 1, 6); Bp = P("bp", 1); Wr = P("wr", 5, 6); Br = P("br", 5);
        }
        public IReadOnlyList<Tensor> Shared => new[] { W1, B1 };
        public IReadOnlyList<Tensor> Heads => new[] { Wc, Bc, Wp, Bp, Wr, Br };
        public Tensor Trunk(Tensor x) => tanh(x.matmul(W1.t()) + B1);
        public IReadOnlyList<Tensor> Losses(Tensor z, Tensor x, Tensor y)
        {
            var ce = nn.functional.cross_entropy(z.matmul(Wc.t()) + Bc, y);
            var parity = y.remainder(2L).to(ScalarType.Float64);
            var bce = nn.functional.binary_cross_entropy_with_logits((z.matmul(Wp.t()) + Bp).reshape(-1), parity);
            var mse = nn.functional.mse_loss(z.matmul(Wr.t()) + Br, x.mul(tensor(3.0, dtype: ScalarType.Float64)));
            return new[] { ce, bce, mse };
        }
        public void ZeroGrad()
        {
            foreach (var p in Shared.Concat(Heads)) p.grad?.zero_();
        }
        public void Dispose()
        {
            foreach (var p in Shared.Concat(Heads)) p.Dispose();
        }
    }

    private static (Tensor X, Tensor Y) Batch(JsonElement c, int k) =>
        (tensor(D(c.GetProperty($"x{k}")), dtype: ScalarType.Float64).reshape(8, 5),
         tensor(c.GetProperty($"y{k}").EnumerateArray().Select(v => v.GetInt64()).ToArray()));

    private static double[] Grads(IEnumerable<Tensor> ps) => ps.SelectMany(p => p.grad!.data<double>().ToArray()).ToArray();

    private static void Close(double[] expected, double[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * Math.Max(1, Math.Abs(expected[i])), $"{what}[{i}] = {actual[i]:R}, reference {expected[i]:R}");
    }

    [Fact]
    public void MgdaOnSharedParametersMatchesTheReference()
    {
        using var doc = Golden.Load("multitask.json");
        var c = doc.RootElement.GetProperty("model");
        foreach (var (balancer, key) in new (Mgda, string)[] { (new Mgda(), "mgda"), (new Mgda(GradientNormalization.LossPlus), "mgda_lossplus") })
        {
            using var m = new FixtureModel(c.GetProperty("model"));
            var (x, y) = Batch(c, 1);
            var losses = m.Losses(m.Trunk(x), x, y);
            var report = balancer.Backward(losses, m.Shared);
            Close(D(c.GetProperty("losses")), report.Losses, 1e-12, "losses");
            Close(D(c.GetProperty(key + "_weights")), report.Weights!, 1e-9, key + " weights");
            Close(D(c.GetProperty(key + "_shared_grad")), Grads(m.Shared), 1e-9, key + " shared grad");
            // Heads keep their own unweighted task gradients.
            Close(D(c.GetProperty("head_grads")), Grads(m.Heads), 1e-12, "head grads");
            Assert.Equal((3, 0, 0), (report.FullBackwardPasses, report.HeadBackwardPasses, report.TrunkBackwardPasses));
        }
    }

    [Fact]
    public void MgdaUbOnTheRepresentationMatchesTheReference()
    {
        using var doc = Golden.Load("multitask.json");
        var c = doc.RootElement.GetProperty("model");
        using var m = new FixtureModel(c.GetProperty("model"));
        var (x, y) = Batch(c, 1);
        var report = new MgdaUb().Backward(m.Trunk(x), z => m.Losses(z, x, y));
        Close(D(c.GetProperty("mgdaub_weights")), report.Weights!, 1e-9, "MGDA-UB weights");
        Close(D(c.GetProperty("mgdaub_trunk_grad")), Grads(m.Shared), 1e-9, "MGDA-UB trunk grad");
        Close(D(c.GetProperty("head_grads")), Grads(m.Heads), 1e-12, "head grads");
        Assert.Equal((0, 3, 1), (report.FullBackwardPasses, report.HeadBackwardPasses, report.TrunkBackwardPasses));
    }

    [Fact]
    public void PCGradMatchesTheReferenceOnVectorsAndOnTheModel()
    {
        using var doc = Golden.Load("multitask.json");
        foreach (var v in doc.RootElement.GetProperty("pcgrad").EnumerateArray())
        {
            int t = v.GetProperty("tasks").GetInt32(), p = v.GetProperty("size").GetInt32();
            var flat = D(v.GetProperty("gradients"));
            var g = Enumerable.Range(0, t).Select(i => flat.AsSpan(i * p, p).ToArray()).ToArray();
            Close(D(v.GetProperty("official")), new PCGrad().Project(g), 1e-12, $"PCGrad official T={t}");
            var custom = new PCGrad { OrderOverride = (i, n) => Enumerable.Range(0, n).Reverse().Where(j => j != i).ToArray() };
            Close(D(v.GetProperty("reversed_skip_self")), custom.Project(g), 1e-12, $"PCGrad reversed T={t}");
        }
        var c = doc.RootElement.GetProperty("model");
        using var m = new FixtureModel(c.GetProperty("model"));
        var (x, y) = Batch(c, 1);
        var report = new PCGrad().Backward(m.Losses(m.Trunk(x), x, y), m.Shared);
        Assert.Null(report.Weights);
        Close(D(c.GetProperty("pcgrad_official_shared_grad")), Grads(m.Shared), 1e-10, "PCGrad shared grad");
        Close(D(c.GetProperty("head_grads")), Grads(m.Heads), 1e-12, "head grads");
    }

    [Fact]
    public void MultiBalanceReconstructionMatchesItsReferenceOverTwoBatches()
    {
        using var doc = Golden.Load("multitask.json");
        var c = doc.RootElement.GetProperty("model");
        using var m = new FixtureModel(c.GetProperty("model"));
        var mb = new MultiBalance();
        var (x1, y1) = Batch(c, 1);
        var r1 = mb.Backward(m.Trunk(x1), z => m.Losses(z, x1, y1));
        Close(D(c.GetProperty("multibalance_step1_weights")), r1.Weights!, 1e-9, "step 1 weights (= MGDA-UB)");
        m.ZeroGrad();
        var (x2, y2) = Batch(c, 2);
        var r2 = mb.Backward(m.Trunk(x2), z => m.Losses(z, x2, y2));
        Close(D(c.GetProperty("multibalance_step2_weights")), r2.Weights!, 1e-9, "step 2 weights");
        Close(D(c.GetProperty("multibalance_step2_trunk_grad")), Grads(m.Shared), 1e-9, "step 2 trunk grad");
    }

    [Fact]
    public void MarigoldReconstructionMatchesItsReferenceAndItsEstimateIsTheDirectionalDerivative()
    {
        using var doc = Golden.Load("multitask.json");
        var c = doc.RootElement.GetProperty("model");
        using var m = new FixtureModel(c.GetProperty("model"));
        var (x, y) = Batch(c, 1);
        var mg = new Marigold(stepSize: c.GetProperty("marigold_gamma").GetDouble(), perturbation: c.GetProperty("marigold_mu0").GetDouble());
        var report = mg.Backward(m.Trunk(x), z => m.Losses(z, x, y));
        Close(new[] { 1 / 3.0, 1 / 3.0, 1 / 3.0 }, report.Weights!, 1e-15, "step-1 weights (uniform)");
        Close(D(c.GetProperty("marigold_trunk_grad")), Grads(m.Shared), 1e-10, "trunk grad");
        Close(D(c.GetProperty("head_grads")), Grads(m.Heads), 1e-12, "head grads (unweighted)");
        Close(D(c.GetProperty("marigold_estimate")), mg.LastEstimate!, 1e-7, "zeroth-order estimate");
        Close(D(c.GetProperty("marigold_next_weights")), mg.Weights!, 1e-9, "next weights");
        // The estimate is a forward difference of the exact G^T d (autograd in the script): error O(mu0), here 1e-4.
        var exact = D(c.GetProperty("marigold_exact_gtd"));
        for (int t = 0; t < 3; t++)
            Assert.True(Math.Abs(mg.LastEstimate![t] - exact[t]) <= 1e-3 * Math.Abs(exact[t]), $"task {t}: estimate {mg.LastEstimate[t]:R}, exact {exact[t]:R}");
        Assert.Equal((0, 2, 1, 1), (report.FullBackwardPasses, report.HeadBackwardPasses, report.TrunkBackwardPasses, report.ExtraHeadForwardPasses));
    }
}
