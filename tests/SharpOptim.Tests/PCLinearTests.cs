using SharpOptim.Layers;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// The PC layer against tools/golden/pc_layer.py (a reference of the official PCTransform, checked exactly against it
/// when the fixture was made): power iteration, outputs and gradients for tall and wide weights at every level; the
/// spectrum it produces; Merge to a plain Linear; and training on digits with identical accuracy after Merge.
/// </summary>
public class PCLinearTests
{
    [Fact]
    public void MatchesReference()
    {
        using var doc = Golden.Load("pc_layer.json");
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            int o = c.GetProperty("out").GetInt32(), i = c.GetProperty("in").GetInt32(), level = c.GetProperty("level").GetInt32();
            string what = $"PC level {level} {o}x{i}";
            using var lin = nn.Linear(i, o);
            using (no_grad())
            {
                lin.weight!.copy_(tensor(c.GetProperty("w").Floats()).view(o, i));
                lin.bias!.copy_(tensor(c.GetProperty("b").Floats()));
            }
            using var pc = new PCLinear(lin, level: level);
            using (no_grad()) pc.Gamma!.fill_(c.GetProperty("gamma").GetDouble());
            pc.SetSpectralVectors(tensor(c.GetProperty("u0").Floats()), tensor(c.GetProperty("v0").Floats()));
            pc.UpdateSpectralState();
            Approx.AllClose(c.GetProperty("u").Floats(), pc.SpectralVectors.U.data<float>().ToArray(), 1e-5, 1e-6, what + " u");
            Approx.AllClose(c.GetProperty("v").Floats(), pc.SpectralVectors.V.data<float>().ToArray(), 1e-5, 1e-6, what + " v");
            var x = tensor(c.GetProperty("x").Floats()).view(5, i);
            var y = pc.forward(x);
            Approx.AllClose(c.GetProperty("y").Floats(), y.data<float>().ToArray(), 1e-5, 1e-5, what + " y");
            (y * tensor(c.GetProperty("c").Floats()).view(5, o)).sum().backward();
            Approx.AllClose(c.GetProperty("grad_w").Floats(), pc.Weight.grad!.data<float>().ToArray(), 1e-4, 1e-5, what + " dW");
            Approx.AllClose(c.GetProperty("grad_b").Floats(), pc.Bias!.grad!.data<float>().ToArray(), 1e-5, 1e-6, what + " db");
            Approx.AllClose(c.GetProperty("grad_gamma").Floats(), pc.Gamma!.grad!.data<float>().ToArray(), 1e-4, 1e-5, what + " dγ");
        }
    }

    [Fact]
    public void PushesTheNormalisedSpectrumTowardOne()
    {
        // Level 4 maps a singular value s of W/σ (in (0, 1]) to s·q(s²), with q(1) = 1.000 and q(0) = 3.625: for W with
        // singular values spread over 1..1e-2 (condition number 100) the smallest becomes ≈ 0.01·q(1e-4) ≈ 0.0362, so
        // W_eff's condition number is ≈ 27.6.
        manual_seed(4);
        var (q, _) = linalg.qr(randn(16, 16));
        var (r, _) = linalg.qr(randn(16, 16));
        var s = logspace(0, -2, 16);
        var w = q.mm(diag(s)).mm(r.t());
        using var lin = nn.Linear(16, 16, hasBias: false);
        using (no_grad()) lin.weight!.copy_(w);
        using var pc = new PCLinear(lin, level: 4, powerIterations: 50);
        var before = linalg.svdvals(w);
        var after = linalg.svdvals(pc.EffectiveWeight().detach());
        double condBefore = (before.max() / before.min()).item<float>(), condAfter = (after.max() / after.min()).item<float>();
        Assert.InRange(condBefore, 99, 101);
        Assert.InRange(condAfter, 27.0, 28.5);
        // σ is restored: the largest singular value of W_eff is q(1)·σ = (3.625−9.261+14.097−10.351+2.890)·σ = 1.0·σ.
        Assert.Equal(before.max().item<float>(), after.max().item<float>(), 2e-2);
    }

    [Fact]
    public void MergeGivesAPlainLinearWithTheSameOutputs()
    {
        manual_seed(6);
        using var pc = new PCLinear(10, 7);
        using (no_grad()) pc.Gamma!.fill_(0.8);
        using var merged = pc.Merge();
        var x = randn(32, 10);
        var a = pc.forward(x);
        var b = merged.forward(x);
        Assert.True(a.allclose(b, rtol: 1e-5, atol: 1e-5));
        Assert.Equal(new[] { "weight", "bias" }, merged.named_parameters().Select(p => p.name));
        Assert.Contains("level", Assert.Throws<ArgumentException>(() => new PCLinear(3, 3, level: 5)).Message);
        Assert.Contains("powerIterations", Assert.Throws<ArgumentException>(() => new PCLinear(3, 3, powerIterations: 0)).Message);
    }

    private sealed class PcMlp : nn.Module<Tensor, Tensor>
    {
        private readonly PCLinear fc0, fc1;
        private readonly Linear head;

        public PcMlp() : base("PcMlp")
        {
            fc0 = new PCLinear(64, 64);
            fc1 = new PCLinear(64, 64);
            head = nn.Linear(64, 10);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => head.forward(nn.functional.relu(fc1.forward(nn.functional.relu(fc0.forward(x)))));

        public IEnumerable<PCLinear> PcLayers => new[] { fc0, fc1 };

        public nn.Module<Tensor, Tensor> Merged()
        {
            var a = fc0.Merge();
            var b = fc1.Merge();
            return nn.Sequential(("fc0", a), ("relu0", nn.ReLU()), ("fc1", b), ("relu1", nn.ReLU()), ("head", head));
        }
    }

    [Fact]
    public void TrainsOnDigitsAndMergesWithIdenticalAccuracy()
    {
        manual_seed(3);
        using var data = Digits.Load();
        using var model = new PcMlp();
        using var opt = new SharpOptim.Optimizers.AdamW(model.parameters(), lr: 3e-3, weight_decay: 0);
        var order = new BatchOrder((int)data.TrainX.shape[0], 64, seed: 1);
        for (int step = 0; step < 300; step++)
        {
            using var scope = NewDisposeScope();
            var idx = tensor(order.Next());
            opt.zero_grad();
            nn.functional.cross_entropy(model.forward(data.TrainX.index_select(0, idx)), data.TrainY.index_select(0, idx)).backward();
            opt.step();
            foreach (var l in model.PcLayers) l.UpdateSpectralState();
        }
        var (_, acc) = ClassifierTraining.Evaluate(model, data);
        Assert.True(acc >= 0.90, $"PC-layer MLP test accuracy {acc:P1}");
        var merged = model.Merged();
        var (_, mergedAcc) = ClassifierTraining.Evaluate(merged, data);
        Assert.Equal(acc, mergedAcc);
        using (no_grad())
            Assert.True(model.forward(data.TestX).allclose(merged.forward(data.TestX), rtol: 1e-5, atol: 1e-5));
    }
}
