using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// Drop-Muon against tools/golden/drop_muon.py with the fixture's start indices replayed, bit-for-bit equality with
/// Muon when every layer is active, the start-index distribution (chi-square), the frozen layers' gradients, and digits.
/// </summary>
public class DropMuonTests
{
    [Fact]
    public void MatchesReferenceWithReplayedStarts()
    {
        using var doc = Golden.Load("drop_muon.json");
        var root = doc.RootElement;
        int k = root.GetProperty("k").GetInt32();
        var hp = root.GetProperty("hyper");
        var starts = root.GetProperty("starts").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var ps = QuadraticFixture.LoadAll(root.GetProperty("params"), k);
        var layers = ps.GroupBy(b => b.Json.GetProperty("layer").GetInt32()).OrderBy(g => g.Key)
            .Select(g => (IReadOnlyList<(string, Parameter)>)g.Select(b => (b.Name, b.P)).ToList()).ToList();
        using var opt = new DropMuon(layers, hp.GetProperty("lr").GetDouble(), hp.GetProperty("momentum").GetDouble(),
            hp.GetProperty("weight_decay").GetDouble(), hp.GetProperty("nesterov").GetBoolean(), hp.GetProperty("ns_steps").GetInt64(), hp.GetProperty("adam_lr").GetDouble(),
            hp.GetProperty("adam_beta1").GetDouble(), hp.GetProperty("adam_beta2").GetDouble(), hp.GetProperty("adam_eps").GetDouble(),
            hp.GetProperty("adam_weight_decay").GetDouble(), startAt: s => s < starts.Length ? starts[s] : 0);
        for (int t = 0; t < root.GetProperty("steps").GetInt32(); t++)
        {
            Assert.Equal(starts[t], opt.Start);
            foreach (var b in ps) Assert.Equal(b.Json.GetProperty("layer").GetInt32() >= starts[t], b.P.requires_grad);
            QuadraticFixture.SetGradients(ps, t, k);   // frozen layers too: step must ignore them
            opt.step();
            QuadraticFixture.CheckRecorded(ps, t + 1, 1e-4, 1e-5, "Drop-Muon");
        }
        var updates = root.GetProperty("params").EnumerateArray().ToDictionary(b => b.GetProperty("name").GetString()!, b => b.GetProperty("updates").GetInt64());
        foreach (var s in opt.States) Assert.Equal(updates[s.Name], s.Step);
    }

    [Fact]
    public void WithEveryLayerActiveItIsMuonBitForBit()
    {
        static (Mlp M, List<(string, Parameter)> Named) Make()
        {
            manual_seed(21);
            var m = new Mlp(16, 12, 12, 4);
            return (m, m.named_parameters().Select(p => (p.name, p.parameter)).ToList());
        }
        var (m1, n1) = Make();
        var (m2, n2) = Make();
        using var muon = new Muon(n1, lr: 0.02, adam_lr: 3e-3, nesterov: false);   // Drop-Muon's default: the paper's plain momentum
        using var drop = new DropMuon(DropMuon.ByModule(n2), lr: 0.02, adam_lr: 3e-3, startProbabilities: new[] { 1.0, 0, 0 });
        Assert.Equal(3, drop.LayerCount);
        var x = randn(32, 16);
        var y = randint(0, 4, 32);
        for (int s = 0; s < 20; s++)
        {
            foreach (var (m, o) in new[] { (m1, (optim.Optimizer)muon), (m2, drop) })
            {
                o.zero_grad();
                nn.functional.cross_entropy(m.forward(x), y).backward();
                o.step();
            }
        }
        foreach (var ((n, a), (_, b)) in m1.named_parameters().Zip(m2.named_parameters()))
            Assert.True(a.data<float>().ToArray().SequenceEqual(b.data<float>().ToArray()), $"{n} differs");
    }

    [Fact]
    public void StartIndicesFollowTheGivenDistribution()
    {
        // Chi-square goodness of fit over 40,000 seeded draws; with 3 degrees of freedom P(χ² > 30.7) = 1e-6, so a
        // correct sampler fails this with probability 1e-6 (and this seed is fixed), a biased one almost surely.
        var ps = Enumerable.Range(0, 4).Select(i => (IReadOnlyList<(string, Parameter)>)new[] { ($"l{i}.weight", new Parameter(randn(3, 3))) }).ToList();
        foreach (var probs in new[] { new[] { 0.25, 0.25, 0.25, 0.25 }, new[] { 0.1, 0.2, 0.3, 0.4 } })
        {
            using var opt = new DropMuon(ps, startProbabilities: probs, seed: 17);
            const int n = 40_000;
            var counts = new int[4];
            for (long s = 0; s < n; s++) counts[opt.StartFor(s)]++;
            double chi2 = counts.Select((c, i) => (c - n * probs[i]) * (c - n * probs[i]) / (n * probs[i])).Sum();
            Assert.True(chi2 < 30.7, $"chi-square {chi2:F1} for counts [{string.Join(", ", counts)}]");
        }
        Assert.Contains("startProbabilities", Assert.Throws<ArgumentException>(() => new DropMuon(ps, startProbabilities: new[] { 0.5, 0.5 })).Message);
        Assert.Contains("startProbabilities", Assert.Throws<ArgumentException>(() => new DropMuon(ps, startProbabilities: new[] { 0.5, 0.5, 0.5, -0.5 })).Message);
    }

    [Fact]
    public void FrozenLayersGetNoGradientAndKeepTheirState()
    {
        manual_seed(8);
        using var model = new Mlp(16, 12, 12, 4);
        using var opt = new DropMuon(DropMuon.ByModule(model.named_parameters().Select(p => (p.name, p.parameter))), startAt: s => s == 0 ? 0 : 2);
        var x = randn(8, 16);
        var y = randint(0, 4, 8);
        opt.zero_grad();
        nn.functional.cross_entropy(model.forward(x), y).backward();
        opt.step();   // step 0: all layers
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        opt.zero_grad();
        nn.functional.cross_entropy(model.forward(x), y).backward();   // step 1: only the head requires grad
        Assert.Null(model.named_parameters().First(p => p.name == "fc0.weight").parameter.grad);
        Assert.NotNull(model.named_parameters().First(p => p.name == "head.weight").parameter.grad);
        opt.step();
        foreach (var (n, p) in model.named_parameters())
            Assert.Equal(n.StartsWith("head", StringComparison.Ordinal), !p.data<float>().ToArray().SequenceEqual(before[n].data<float>().ToArray()));
    }

    [Fact]
    public void ResumesBitForBitFromACheckpoint()
    {
        string dir = Directory.CreateTempSubdirectory("sharpoptim-drop-muon-").FullName;
        try
        {
            static (Mlp M, DropMuon O) Make()
            {
                manual_seed(31);
                var m = new Mlp(16, 12, 12, 4);
                return (m, new DropMuon(DropMuon.ByModule(m.named_parameters().Select(p => (p.name, p.parameter))), adam_lr: 3e-3, seed: 4));
            }
            var x = randn(32, 16);
            var y = randint(0, 4, 32);
            void Steps(Mlp m, DropMuon o, int n)
            {
                for (int i = 0; i < n; i++)
                {
                    o.zero_grad();
                    nn.functional.cross_entropy(m.forward(x), y).backward();
                    o.step();
                }
            }
            var (m1, o1) = Make();
            Steps(m1, o1, 16);
            var (m2, o2) = Make();
            Steps(m2, o2, 7);
            string path = Path.Combine(dir, "dm.ckpt");
            SharpOptim.Checkpoints.Checkpoint.Save(path, o2, m2);
            var (m3, o3) = Make();
            SharpOptim.Checkpoints.Checkpoint.Load(path, o3, m3);
            o3.Resume();
            Assert.Equal(o2.Start, o3.Start);
            Steps(m3, o3, 9);
            foreach (var ((n, a), (_, b)) in m1.named_parameters().Zip(m3.named_parameters()))
                Assert.True(a.data<float>().ToArray().SequenceEqual(b.data<float>().ToArray()), $"{n} differs after resume");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TrainsAnMlpOnDigits()
    {
        manual_seed(3);
        using var data = Digits.Load();
        using var model = new Mlp(64, 64, 10);
        using var opt = new DropMuon(DropMuon.ByModule(model.named_parameters().Select(p => (p.name, p.parameter))), lr: 0.02, adam_lr: 3e-3, seed: 1);
        ClassifierTraining.Train(model, opt, data, steps: 300, batchSize: 64, seed: 1);
        var (_, acc) = ClassifierTraining.Evaluate(model, data);
        Assert.True(acc >= 0.90, $"Drop-Muon test accuracy {acc:P1}");
    }
}
