using System.Text.Json;
using SharpOptim.GradientFree;
using SharpOptim.Optimizers;
using SharpOptim.Tasks.Models;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using Adam = SharpOptim.Optimizers.Adam;
using AdamW = SharpOptim.Optimizers.AdamW;
using SGD = SharpOptim.Optimizers.SGD;
using static TorchSharp.torch;

namespace SharpOptim.Tests.GradientFree;

/// <summary>Parity of every gradient-free method with the PyTorch references in tools/golden/gradient_free.py
/// (float64, the reference's noise fed through <see cref="FixtureNoise"/>).</summary>
public class GradientFreeParityTests
{
    private static readonly JsonDocument Doc = Golden.Load("gradient_free.json");
    private static JsonElement Root(string name) => Doc.RootElement.GetProperty(name);

    private static Tensor D(float[] v, params long[] shape) => tensor(v.Select(x => (double)x).ToArray()).reshape(shape);
    private static Tensor D(JsonElement e, params long[] shape) => tensor(e.EnumerateArray().Select(x => x.GetDouble()).ToArray()).reshape(shape);

    private static void Close(JsonElement expected, Tensor actual, double tol, string what)
    {
        var e = expected.EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var a = actual.detach().to(ScalarType.Float64).reshape(-1).data<double>().ToArray();
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= tol * (1 + Math.Abs(e[i])), $"{what}[{i}]: expected {e[i]:R}, got {a[i]:R}");
    }

    private static void Load(nn.Module model, JsonElement init)
    {
        using var _ = no_grad();
        var ps = model.parameters().ToArray();
        var inits = init.EnumerateArray().ToArray();
        Assert.Equal(inits.Length, ps.Length);
        for (int i = 0; i < ps.Length; i++) ps[i].copy_(D(inits[i], ps[i].shape));
    }

    [Fact]
    public void OpenAIEsMatchesTheReference()
    {
        var r = Root("openai_es");
        var x = D(r.GetProperty("x"), 32, 5);
        var y = tensor(r.GetProperty("y").Longs());
        var inits = r.GetProperty("init").EnumerateArray().ToArray();
        var w = new Parameter(D(inits[0], 3, 5));
        var b = new Parameter(D(inits[1], 3));
        var named = new[] { ("w", w), ("b", b) };
        var es = new OpenAIES(named, new Adam(named, lr: r.GetProperty("lr").GetDouble()), r.GetProperty("population").GetInt32(),
            r.GetProperty("sigma").GetDouble(), l2: r.GetProperty("l2").GetDouble(), noise: new FixtureNoise(r.GetProperty("noise")));
        int gen = 0;
        foreach (var h in r.GetProperty("history").EnumerateArray())
        {
            var f = es.Evaluate(_ => -nn.functional.cross_entropy(x.matmul(w.t()).add(b), y).ToDouble());
            var ef = h.GetProperty("fitness").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            for (int i = 0; i < f.Length; i++) Assert.Equal(ef[i], f[i], 1e-12);
            es.Tell(f);
            var ps = h.GetProperty("params").EnumerateArray().ToArray();
            Close(ps[0], w, 1e-10, $"W after generation {gen}");
            Close(ps[1], b, 1e-10, $"b after generation {gen}");
            gen++;
        }
        Assert.Equal(5, es.Generation);
    }

    [Theory]
    [InlineData("eggroll_sgd")]
    [InlineData("eggroll_adamw_grouped")]
    public void EggrollMatchesTheReference(string run)
    {
        var r = Root(run);
        var model = new Mlp(4, 6, 3);
        model.to(ScalarType.Float64);
        Load(model, r.GetProperty("init"));
        int n = r.GetProperty("population").GetInt32(), batch = r.GetProperty("batch").GetInt32();
        double lr = r.GetProperty("lr").GetDouble();
        optim.Optimizer inner = r.GetProperty("solver").GetString() == "sgd"
            ? new SGD(model.parameters(), lr)
            : new AdamW(model.parameters(), lr, eps: 1e-8, weight_decay: r.GetProperty("weight_decay").GetDouble());
        var es = new Eggroll(model, inner, n, r.GetProperty("sigma").GetDouble(), rank: r.GetProperty("rank").GetInt32(),
            groupSize: r.GetProperty("group").GetInt32(), noise: new FixtureNoise(r.GetProperty("noise")));
        var inputs = r.GetProperty("inputs").EnumerateArray().ToArray();
        int gen = 0;
        foreach (var h in r.GetProperty("history").EnumerateArray())
        {
            var xin = D(inputs[gen].GetProperty("x"), n * batch, 4);
            var target = D(inputs[gen].GetProperty("target"), n * batch, 3);
            Tensor? outputs = null;
            var f = es.Evaluate(() =>
            {
                outputs = model.forward(xin).DetachFromDisposeScope();   // Evaluate frees what the closure creates
                return outputs.sub(target).pow(2).reshape(n, batch, 3).mean(new long[] { 1, 2 }).neg();
            });
            Close(h.GetProperty("outputs"), outputs!, 1e-12, $"{run} batched outputs, generation {gen}");
            Close(h.GetProperty("fitness"), f, 1e-12, $"{run} fitness, generation {gen}");
            es.Tell(f);
            var ps = h.GetProperty("params").EnumerateArray().ToArray();
            var mp = model.parameters().ToArray();
            for (int i = 0; i < mp.Length; i++) Close(ps[i], mp[i], 1e-10, $"{run} parameter {i} after generation {gen}");
            gen++;
        }
    }

    /// <summary>conv 2→3 (3×3, padding 1) on 5×5 inputs, ReLU, Linear 75→2: the reference's eggroll_conv model.</summary>
    private sealed class ConvReferenceNet : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv;
        private readonly Linear head;

        public ConvReferenceNet() : base("ConvReferenceNet")
        {
            conv = nn.Conv2d(2, 3, 3, padding: 1);
            head = nn.Linear(75, 2);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var h = nn.functional.relu(conv.call(x.view(-1, 2, 5, 5))).flatten(1);
            return head.call(h).MoveToOuterDisposeScope();
        }
    }

    [Fact]
    public void EggrollOnAConvolutionMatchesTheMaterialisedReference()
    {
        // The reference runs every member with its perturbed kernel materialised (F.conv2d with W + σsABᵀ/√r);
        // the library's grouped-convolution form must give the same outputs, fitness and SGD updates.
        var r = Root("eggroll_conv");
        var model = new ConvReferenceNet();
        model.to(ScalarType.Float64);
        Load(model, r.GetProperty("init"));
        int n = r.GetProperty("population").GetInt32(), batch = r.GetProperty("batch").GetInt32();
        var es = new Eggroll(model, new SGD(model.parameters(), r.GetProperty("lr").GetDouble()), n, r.GetProperty("sigma").GetDouble(),
            rank: r.GetProperty("rank").GetInt32(), noise: new FixtureNoise(r.GetProperty("noise")));
        var inputs = r.GetProperty("inputs").EnumerateArray().ToArray();
        int gen = 0;
        foreach (var h in r.GetProperty("history").EnumerateArray())
        {
            var xin = D(inputs[gen], n * batch, 50);
            Tensor? outputs = null;
            var f = es.Evaluate(() =>
            {
                outputs = model.forward(xin).DetachFromDisposeScope();
                return outputs.pow(2).sum(1).reshape(n, batch).mean(new long[] { 1 }).neg();
            });
            Close(h.GetProperty("outputs"), outputs!, 1e-12, $"conv batched outputs, generation {gen}");
            Close(h.GetProperty("fitness"), f, 1e-12, $"conv fitness, generation {gen}");
            es.Tell(f);
            var ps = h.GetProperty("params").EnumerateArray().ToArray();
            var mp = model.parameters().ToArray();
            for (int i = 0; i < mp.Length; i++) Close(ps[i], mp[i], 1e-10, $"conv parameter {i} after generation {gen}");
            gen++;
        }
        Assert.Equal(2, gen);
    }

    [Theory]
    [InlineData("mezo")]
    [InlineData("mezo_two_directions")]
    [InlineData("mezo_adam")]
    public void MeZOMatchesTheReference(string run)
    {
        var r = Root(run);
        var model = new Mlp(4, 5, 3);
        model.to(ScalarType.Float64);
        Load(model, r.GetProperty("init"));
        var x = D(r.GetProperty("x"), 16, 4);
        var y = tensor(r.GetProperty("y").Longs());
        var opt = new MeZO(model.named_parameters(), lr: r.GetProperty("lr").GetDouble(), epsilon: r.GetProperty("epsilon").GetDouble(),
            weightDecay: r.GetProperty("weight_decay").GetDouble(), directions: r.GetProperty("directions").GetInt32(),
            model: model, noise: new FixtureNoise(r.GetProperty("noise")),
            inner: r.GetProperty("adam_lr").ValueKind == JsonValueKind.Number ? new Adam(model.parameters(), lr: r.GetProperty("adam_lr").GetDouble()) : null);
        Assert.True(opt.Decays(0) && !opt.Decays(1) && opt.Decays(2) && !opt.Decays(3));   // the official name rule
        int step = 0;
        foreach (var h in r.GetProperty("history").EnumerateArray())
        {
            var loss = opt.step(() => nn.functional.cross_entropy(model.forward(x), y));
            Assert.Equal(h.GetProperty("loss").GetDouble(), loss.ToDouble(), 1e-12);
            var g = h.GetProperty("projected").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            for (int d = 0; d < g.Length; d++) Assert.True(Math.Abs(g[d] - opt.LastProjectedGradients[d]) <= 1e-7 * (1 + Math.Abs(g[d])), $"{run} projected gradient {d} at step {step}");
            var ps = h.GetProperty("params").EnumerateArray().ToArray();
            var mp = model.parameters().ToArray();
            for (int i = 0; i < mp.Length; i++) Close(ps[i], mp[i], 1e-10, $"{run} parameter {i} after step {step}");
            step++;
        }
    }

    private static Tensor Rastrigin(Tensor x)
    {
        using var s = new ScalarHold();
        var cos = x.mul(s[2 * Math.PI]).cos().mul(s[10]);
        return x.mul(x).sub(cos).sum(1).add(s[10.0 * x.shape[1]]);
    }

    [Theory]
    [InlineData("cbo_isotropic")]
    [InlineData("cbo_anisotropic")]
    [InlineData("cbo_anisotropic_matlab")]
    public void CboMatchesTheReference(string run)
    {
        var r = Root(run);
        int n = r.GetProperty("n").GetInt32(), d = r.GetProperty("d").GetInt32();
        var cbo = new ConsensusBasedOptimization(d, particles: n, particleBatch: 0, dt: r.GetProperty("dt").GetDouble(),
            lambda: r.GetProperty("lambda").GetDouble(), sigma: r.GetProperty("sigma").GetDouble(), alpha: r.GetProperty("alpha").GetDouble(),
            noise: r.GetProperty("kind").GetString() == "isotropic" ? CboNoise.Isotropic : CboNoise.Anisotropic, stagnationTolerance: 0,
            matlabOrder: r.GetProperty("matlab").GetBoolean(), noiseSource: new FixtureNoise(r.GetProperty("noise")),
            initialParticles: D(r.GetProperty("init"), n, d), dtype: ScalarType.Float64);
        int step = 0;
        foreach (var h in r.GetProperty("history").EnumerateArray())
        {
            var losses = cbo.Step(Rastrigin);
            Close(h.GetProperty("losses"), losses, 1e-12, $"{run} losses at step {step}");
            Close(h.GetProperty("consensus"), cbo.Consensus, 1e-10, $"{run} consensus at step {step}");
            Close(h.GetProperty("particles"), cbo.Particles, 1e-10, $"{run} particles after step {step}");
            step++;
        }
    }

    [Fact]
    public void ConsensusIsStableAtAlpha1e5()
    {
        var r = Root("cbo_stable_consensus");
        var x = D(r.GetProperty("x"), 6, 4);
        var f = D(r.GetProperty("f"), 6);
        var v = ConsensusBasedOptimization.ConsensusPoint(x, f, r.GetProperty("alpha").GetDouble());
        Assert.True(v.isfinite().all().ToBoolean());
        Close(r.GetProperty("v"), v, 1e-12, "consensus at alpha 1e5");
        // A naive exp(-alpha f) underflows to 0/0 here; a non-finite loss gets weight 0 instead of poisoning v.
        var withNan = f.clone();
        withNan[4] = tensor(double.NaN);
        Close(r.GetProperty("v"), ConsensusBasedOptimization.ConsensusPoint(x, withNan, 1e5), 1e-12, "consensus with a NaN loss");
    }
}
