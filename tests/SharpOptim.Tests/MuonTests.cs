using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>Newton–Schulz and Muon (with its auxiliary Adam) against tools/golden/muon.py and the iteration's algebra.</summary>
public class MuonTests
{
    [Fact]
    public void MatchesReference()
    {
        using var doc = Golden.Load("muon.json");
        var root = doc.RootElement;
        int k = root.GetProperty("k").GetInt32();
        var hp = root.GetProperty("hyper");
        var blocks = root.GetProperty("blocks").EnumerateArray().Select(b =>
        {
            var shape = b.GetProperty("shape").Longs();
            long n = shape.Aggregate(1L, (x, y) => x * y);
            var noise = b.GetProperty("noise").Floats();
            return (Name: b.GetProperty("name").GetString()!, Muon: b.GetProperty("muon").GetBoolean(),
                P: new Parameter(tensor(b.GetProperty("p0").Floats()).reshape(shape)),
                H: tensor(b.GetProperty("h").Floats()).reshape(shape), Target: tensor(b.GetProperty("target").Floats()).reshape(shape),
                Noise: Golden.Split(noise, shape, k),
                Expected: b.GetProperty("params").EnumerateObject().ToDictionary(x => int.Parse(x.Name), x => x.Value.Floats()),
                State: b.GetProperty("state").EnumerateObject().ToDictionary(x => x.Name, x => x.Value.Floats()));
        }).ToList();
        using var opt = new Muon(blocks.Select(b => (b.Name, b.P)), lr: hp.GetProperty("lr").GetDouble(),
            momentum: hp.GetProperty("momentum").GetDouble(), weight_decay: hp.GetProperty("weight_decay").GetDouble(),
            ns_steps: hp.GetProperty("ns_steps").GetInt64(), adam_lr: hp.GetProperty("adam_lr").GetDouble(),
            adam_beta1: hp.GetProperty("adam_beta1").GetDouble(), adam_beta2: hp.GetProperty("adam_beta2").GetDouble(),
            adam_eps: hp.GetProperty("adam_eps").GetDouble(), adam_weight_decay: hp.GetProperty("adam_weight_decay").GetDouble());
        // Routing follows the official rule: matrices without embed/head in their name go to Muon.
        foreach (var b in blocks)
        {
            var o = (Muon.Options)opt.Groups.Single(g => g.Parameters.Any(p => ReferenceEquals(p, b.P))).Options;
            Assert.Equal(b.Muon, o.UseMuon);
        }
        for (int t = 0; t < root.GetProperty("steps").GetInt32(); t++)
        {
            using (no_grad())
                foreach (var b in blocks) b.P.grad = b.H.mul(b.P.sub(b.Target)).add(b.Noise[t % k]);
            opt.step();
            foreach (var b in blocks)
                if (b.Expected.TryGetValue(t + 1, out var want))
                    Approx.AllClose(want, b.P.data<float>().ToArray(), 1e-4, 1e-5, $"Muon {b.Name} after step {t + 1}");
        }
        var states = opt.States.ToDictionary(s => s.Name);
        foreach (var b in blocks)
            foreach (var (name, want) in b.State)
                Approx.AllClose(want, states[b.Name][name].data<float>().ToArray(), 1e-4, 1e-5, $"Muon {b.Name} {name}");
        long muonElems = blocks.Where(b => b.Muon).Sum(b => b.P.NumberOfElements);
        long adamElems = blocks.Where(b => !b.Muon).Sum(b => b.P.NumberOfElements);
        Assert.Equal(4 * muonElems + 8 * adamElems, opt.StateBytes);
    }

    private static double Quintic5(double x)
    {
        var (a, b, c) = NewtonSchulz.Coefficients;
        for (int i = 0; i < 5; i++) x = a * x + b * x * x * x + c * Math.Pow(x, 5);
        return x;
    }

    [Theory]
    [InlineData(64, 32, 1.0)]
    [InlineData(32, 64, 1.0)]
    [InlineData(300, 50, 1.0)]
    [InlineData(64, 32, 1e-3)]   // ill-conditioned: singular values from 1 down to 1e-3
    public void SingularValuesFollowTheQuinticAndLandInItsBand(int rows, int cols, double smallest)
    {
        manual_seed(rows * 7 + cols);
        int r = Math.Min(rows, cols);
        var (u, _) = linalg.qr(randn(rows, rows, dtype: ScalarType.Float64));
        var (v, _) = linalg.qr(randn(cols, cols, dtype: ScalarType.Float64));
        var s = smallest == 1.0 ? rand(r, dtype: ScalarType.Float64).add(0.5) : logspace(0, Math.Log10(smallest), r, dtype: ScalarType.Float64);
        var g = u[TensorIndex.Colon, TensorIndex.Slice(0, r)].matmul(diag(s)).matmul(v[TensorIndex.Colon, TensorIndex.Slice(0, r)].mT);
        var o = NewtonSchulz.Orthogonalize(g);
        Assert.Equal(g.shape, o.shape);
        var got = linalg.svdvals(o).data<double>().ToArray().OrderBy(x => x).ToArray();
        double fro = Math.Sqrt(s.square().sum().item<double>());
        var inputs = s.data<double>().ToArray().Select(x => x / (fro + 1e-7)).ToArray();
        var want = inputs.Select(Quintic5).OrderBy(x => x).ToArray();
        for (int i = 0; i < r; i++) Assert.Equal(want[i], got[i], 1e-6);
        // The band the coefficients are tuned for: every normalised singular value ≥ 3e-3 lands in [0.68, 1.21].
        for (int i = 0; i < r; i++)
            if (inputs[i] >= 3e-3) Assert.InRange(Quintic5(inputs[i]), 0.68, 1.21);
        Assert.All(got, x => Assert.True(x <= 1.21, $"singular value {x} above the band"));
        if (smallest == 1.0) Assert.All(got, x => Assert.InRange(x, 0.68, 1.21));
    }

    [Fact]
    public void TrainsAnMlpOnDigitsWithAuxAdamForTheHead()
    {
        manual_seed(5);
        using var data = Digits.Load();
        using var model = new Mlp(64, 64, 10);
        // The last layer is named "head": the default routing gives it to Adam, as the official usage does.
        using var opt = new Muon(model.named_parameters(), lr: 0.02, adam_lr: 3e-3);
        ClassifierTraining.Train(model, opt, data, steps: 300, batchSize: 64, seed: 1);
        var (_, acc) = ClassifierTraining.Evaluate(model, data);
        Assert.True(acc >= 0.90, $"Muon test accuracy {acc:P1}");
        Assert.Equal(2, opt.Groups.Count);
    }

    [Fact]
    public void RejectsBadInput()
    {
        using var bias = new Parameter(zeros(3));
        Assert.Contains("bias", Assert.Throws<ArgumentException>(() => new Muon(new[] { ("bias", bias) }, useMuon: (_, _) => true)).Message);
        using var w = new Parameter(zeros(3, 3));
        Assert.Contains("ns_steps", Assert.Throws<ArgumentException>(() => new Muon(new[] { ("w", w) }, ns_steps: 0)).Message);
        Assert.Contains("momentum", Assert.Throws<ArgumentException>(() => new Muon(new[] { ("w", w) }, momentum: 1)).Message);
        Assert.Throws<ArgumentException>(() => NewtonSchulz.Orthogonalize(zeros(3)));
    }
}
