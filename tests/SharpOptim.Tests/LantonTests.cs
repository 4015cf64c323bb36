using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// LANTON against tools/golden/lanton.py (both noise estimates, 60 steps, rates and noise estimates), the rate
/// rule's invariants (the least noisy layer of a group runs at the group's rate; a layer alone in its group always
/// does), the noise estimate on gradients of known noise, bad input, checkpoint resume and digits.
/// </summary>
public class LantonTests
{
    [Theory]
    [InlineData("difference", LantonNoiseEstimate.GradientDifference, 1)]
    [InlineData("residual", LantonNoiseEstimate.MomentumResidual, 1)]
    [InlineData("difference_every4", LantonNoiseEstimate.GradientDifference, 4)]
    public void MatchesReference(string run, LantonNoiseEstimate estimate, long every)
    {
        using var doc = Golden.Load("lanton.json");
        var root = doc.RootElement;
        int k = root.GetProperty("k").GetInt32();
        var hp = root.GetProperty("hyper");
        double H(string n) => hp.GetProperty(n).GetDouble();
        var ps = QuadraticFixture.LoadAll(root.GetProperty("runs").GetProperty(run), k);
        using var opt = new Lanton(ps.Select(b => (b.Name, b.P)), H("lr"), H("sign_lr"), H("adam_lr"), H("momentum"), true,
            hp.GetProperty("ns_steps").GetInt64(), H("noise_beta"), H("weight_decay"), H("adam_beta1"), H("adam_beta2"), H("adam_eps"),
            H("adam_weight_decay"), estimate, noise_every: every);
        Assert.Equal(new[] { "spectral", "spectral", "spectral", "sign", "sign", "adamw" },
            ps.Select(b => Lanton.DefaultKind(b.Name, b.P).ToString().ToLowerInvariant()));
        for (int t = 0; t < root.GetProperty("steps").GetInt32(); t++)
        {
            QuadraticFixture.SetGradients(ps, t, k);
            opt.step();
            QuadraticFixture.CheckRecorded(ps, t + 1, 1e-4, 1e-5, $"LANTON ({run})");
        }
        var rates = opt.LayerRates().ToDictionary(r => r.Name);
        foreach (var b in ps.Where(b => b.Json.GetProperty("kind").GetString() != "adamw"))
        {
            Approx.AllClose(new[] { (float)b.Json.GetProperty("rate").GetDouble() }, new[] { (float)rates[b.Name].Rate }, 1e-4, 1e-7, $"rate of {b.Name}");
            Approx.AllClose(new[] { (float)b.Json.GetProperty("sigma").GetDouble() }, new[] { (float)rates[b.Name].Noise }, 1e-4, 1e-7, $"noise of {b.Name}");
        }
        // The rates really differ here (noise levels 0.5 to 4), so the check above exercises the rule.
        Assert.True(rates.Values.Min(r => r.Rate) < 0.3, "the fixture's rates should spread");
    }

    [Fact]
    public void TheLeastNoisyLayerOfEachGroupRunsAtTheGroupRate()
    {
        manual_seed(3);
        using var model = new CharTransformer(13, 8, 16, 4, 2);
        using var opt = new Lanton(model.named_parameters());
        for (int s = 0; s < 6; s++)
        {
            opt.zero_grad();
            var x = arange(8, dtype: ScalarType.Int64).add(s).remainder(13).view(1, 8);
            model.forward(x).square().mean().backward();
            opt.step();
            var rates = opt.LayerRates();
            foreach (var kind in new[] { LantonLayerKind.Spectral, LantonLayerKind.Sign })
            {
                var group = rates.Where(r => r.Kind == kind).ToList();
                Assert.NotEmpty(group);
                Assert.All(group, r => Assert.InRange(r.Rate, 1e-6, 1.0));
                if (s == 0) Assert.All(group, r => Assert.Equal(1.0, r.Rate));   // no noise sample on the first step
                else
                {
                    Assert.Equal(1.0, group.Max(r => r.Rate), 6);
                    // r_ℓ = σ̂_min / σ̂_ℓ, from the reported noise estimates.
                    double min = group.Min(r => r.Noise);
                    Assert.All(group, r => Assert.Equal(min / r.Noise, r.Rate, 5));
                }
            }
        }
    }

    [Fact]
    public void ALayerAloneInItsGroupIsTheNonAdaptiveUpdateBitForBit()
    {
        // One hidden matrix: min over its group is itself, so its rate is exactly 1 every step.
        static (Parameter P, Lanton O) Make(bool adaptive)
        {
            manual_seed(9);
            var p = new Parameter(randn(10, 6));
            var o = new Lanton(new[] { new ParamGroup<Lanton.Options>(new[] { p }, new Lanton.Options { Adaptive = adaptive }) }, lr: 0.05, weight_decay: 0.1);
            return (p, o);
        }
        var (a, oa) = Make(true);
        var (b, ob) = Make(false);
        manual_seed(1);
        for (int s = 0; s < 12; s++)
        {
            var g = randn(10, 6);
            a.grad = g.clone();
            b.grad = g.clone();
            oa.step();
            ob.step();
        }
        Assert.True(a.data<float>().ToArray().SequenceEqual(b.data<float>().ToArray()));
        Assert.Equal(1.0, oa.LayerRates().Single().Rate);
    }

    [Theory]
    [InlineData(LantonNoiseEstimate.GradientDifference)]
    [InlineData(LantonNoiseEstimate.MomentumResidual)]
    public void RatesFollowTheRatioOfKnownNoiseLevels(LantonNoiseEstimate estimate)
    {
        // Parameters held still (lr 0), gradient = fixed signal + σ_ℓ·ξ_t with fresh Gaussian ξ each step. For two
        // layers of one shape the dual norm of the noise sample scales exactly with σ_ℓ, so the rate of the noisier
        // layer is σ_quiet/σ_noisy up to sampling error. Over 300 steps of 48×48 (nuclear norm) or 2,304 entries (ℓ1)
        // the relative spread of √(mean of squared samples) is well under 1% (the norms concentrate, and β₂ = 0.99
        // averages ~100 samples), so 3% is a safe bound that a rule not proportional to σ (e.g. to σ²) fails.
        foreach (var kind in new[] { LantonLayerKind.Spectral, LantonLayerKind.Sign })
        {
            manual_seed(4);
            var quiet = new Parameter(randn(48, 48));
            var noisy = new Parameter(randn(48, 48));
            var signal = randn(48, 48);
            using var opt = new Lanton(new[] { new ParamGroup<Lanton.Options>(new[] { quiet, noisy }, new Lanton.Options { Kind = kind, LearningRate = 0 }) },
                noise: estimate);
            for (int s = 0; s < 300; s++)
            {
                quiet.grad = signal + randn(48, 48) * 0.5;
                noisy.grad = signal + randn(48, 48) * 2.0;
                opt.step();
            }
            var r = opt.LayerRates();
            Assert.Equal(1.0, r[0].Rate, 6);
            Assert.InRange(r[1].Rate, 0.25 * 0.97, 0.25 * 1.03);
        }
    }

    [Fact]
    public void BadInputIsRejectedBeforeAnyState()
    {
        var named = new[] { ("w", new Parameter(randn(4, 3))), ("b", new Parameter(randn(4))) };
        Assert.Contains("-0.1", Assert.Throws<ArgumentException>(() => new Lanton(named, lr: -0.1)).Message);
        Assert.Contains("noise_beta", Assert.Throws<ArgumentException>(() => new Lanton(named, noise_beta: 1.0)).Message);
        Assert.Contains("noise_every: 0", Assert.Throws<ArgumentException>(() => new Lanton(named, noise_every: 0)).Message);
        Assert.Contains("momentum", Assert.Throws<ArgumentException>(() => new Lanton(named, momentum: double.NaN)).Message);
        Assert.Contains("ns_steps", Assert.Throws<ArgumentException>(() => new Lanton(named, ns_steps: 0)).Message);
        Assert.Contains("sign_lr", Assert.Throws<ArgumentException>(() => new Lanton(named, sign_lr: double.PositiveInfinity)).Message);
        Assert.Contains("adam_lr", Assert.Throws<ArgumentException>(() => new Lanton(named, adam_lr: -1)).Message);
        Assert.Contains("'b'", Assert.Throws<ArgumentException>(() => new Lanton(named, kindOf: (_, _) => LantonLayerKind.Spectral)).Message);
        Assert.Contains("7", Assert.Throws<ArgumentException>(() => new Lanton(named, kindOf: (_, _) => (LantonLayerKind)7)).Message);
        Assert.Contains("noise", Assert.Throws<ArgumentException>(() => new Lanton(named, noise: (LantonNoiseEstimate)5)).Message);
        Assert.Contains("kind", Assert.Throws<ArgumentException>(() => new Lanton(new[] { new ParamGroup<Lanton.Options>(new[] { named[0].Item2 }, new Lanton.Options { KindCode = 9 }) })).Message);
        foreach (var (_, p) in named) Assert.Null(p.grad);
    }

    [Fact]
    public void ResumesBitForBitFromACheckpoint()
    {
        ResumeCheck.TransformerResumesBitForBit(m => new Lanton(m.named_parameters(), lr: 0.02, sign_lr: 3e-3, adam_lr: 3e-3, weight_decay: 0.1, noise_beta: 0.9),
            total: 14, split: 7);
    }

    [Fact]
    public void ACheckpointOfTheOtherNoiseEstimateIsRefusedAndChangesNothing()
    {
        string dir = Directory.CreateTempSubdirectory("sharpoptim-lanton-").FullName;
        try
        {
            manual_seed(6);
            var w = new Parameter(randn(6, 4));
            string path = Path.Combine(dir, "l.ckpt");
            using (var a = new Lanton(new[] { ("w", w) }))
            {
                w.grad = randn(6, 4);
                a.step();
                SharpOptim.Checkpoints.Checkpoint.Save(path, a);
            }
            using var b = new Lanton(new[] { ("w", w) }, noise: LantonNoiseEstimate.MomentumResidual);
            w.grad = randn(6, 4);
            b.step();
            b.step();
            var before = b.States.Single().Tensors.Select(kv => (kv.Key, kv.Value.clone())).ToList();
            var e = Assert.Throws<InvalidDataException>(() => SharpOptim.Checkpoints.Checkpoint.Load(path, b));
            Assert.Contains("previous_grad", e.Message);
            var after = b.States.Single();
            Assert.Equal(2, after.Step);
            Assert.Equal(before.Select(x => x.Key), after.Tensors.Select(kv => kv.Key));
            foreach (var ((_, t0), (_, t1)) in before.Zip(after.Tensors.Select(kv => (kv.Key, kv.Value))))
                Assert.True(t0.eq(t1).all().item<bool>());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void StateIsMomentumPreviousGradientAndTwoScalarsPerLayer()
    {
        manual_seed(2);
        using var model = new CharTransformer(13, 8, 16, 4, 1);
        var named = model.named_parameters().ToList();
        foreach (var (estimate, perElement) in new[] { (LantonNoiseEstimate.GradientDifference, 8L), (LantonNoiseEstimate.MomentumResidual, 4L) })
        {
            using var opt = new Lanton(named, noise: estimate);
            opt.zero_grad();
            model.forward(arange(8, dtype: ScalarType.Int64).view(1, 8)).square().mean().backward();
            opt.step();
            long expected = named.Sum(x => Lanton.DefaultKind(x.name, x.parameter) == LantonLayerKind.AdamW
                ? 8 * x.parameter.NumberOfElements
                : perElement * x.parameter.NumberOfElements + 8);
            Assert.Equal(expected, opt.StateBytes);
        }
    }

    [Fact]
    public void TrainsAnMlpOnDigits()
    {
        manual_seed(3);
        using var data = Digits.Load();
        using var model = new Mlp(64, 64, 64, 10);
        using var opt = new Lanton(model.named_parameters(), lr: 0.05, sign_lr: 3e-3, adam_lr: 3e-3);
        ClassifierTraining.Train(model, opt, data, steps: 300, batchSize: 64, seed: 1);
        var (_, acc) = ClassifierTraining.Evaluate(model, data);
        Assert.True(acc >= 0.90, $"LANTON test accuracy {acc:P1}");
        // fc0 and fc1 share the spectral group and their rates differ; the head is alone in the sign group.
        var rates = opt.LayerRates().Where(r => r.Kind == LantonLayerKind.Spectral).ToList();
        Assert.Equal(new[] { "fc0.weight", "fc1.weight" }, rates.Select(r => r.Name));
        Assert.Equal(new[] { ("head.weight", 1.0) }, opt.LayerRates().Where(r => r.Kind == LantonLayerKind.Sign).Select(r => (r.Name, r.Rate)));
        Assert.True(rates.Min(r => r.Rate) < 0.99, string.Join(", ", rates.Select(r => $"{r.Name} {r.Rate:F3}")));
    }
}
