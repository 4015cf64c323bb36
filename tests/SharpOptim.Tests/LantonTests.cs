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
    [InlineData("difference")]
    [InlineData("residual")]
    [InlineData("difference_every4")]
    [InlineData("residual_nesterov")]
    [InlineData("difference_nesterov_bc")]
    [InlineData("difference_skips")]
    [InlineData("difference_skips_bc")]
    [InlineData("independent")]
    [InlineData("independent_every3_skips")]
    public void MatchesReference(string run)
    {
        using var doc = Golden.Load("lanton.json");
        var root = doc.RootElement;
        int k = root.GetProperty("k").GetInt32();
        var hp = root.GetProperty("hyper");
        double H(string n) => hp.GetProperty(n).GetDouble();
        var r = root.GetProperty("runs").GetProperty(run);
        var estimate = r.GetProperty("estimate").GetString() switch
        {
            "difference" => LantonNoiseEstimate.GradientDifference,
            "residual" => LantonNoiseEstimate.MomentumResidual,
            _ => LantonNoiseEstimate.IndependentBatches,
        };
        var ps = QuadraticFixture.LoadAll(r.GetProperty("params"), k);
        var shapes = ps.Select(b => b.Json.GetProperty("shape").Longs()).ToList();
        var noise2 = ps.Select((b, i) => Golden.Split(b.Json.GetProperty("noise2").Floats(), shapes[i], k)).ToList();
        using var opt = new Lanton(ps.Select(b => (b.Name, b.P)), H("lr"), H("sign_lr"), H("adam_lr"), H("momentum"), r.GetProperty("nesterov").GetBoolean(),
            hp.GetProperty("ns_steps").GetInt64(), H("noise_beta"), H("weight_decay"), H("adam_beta1"), H("adam_beta2"), H("adam_eps"),
            H("adam_weight_decay"), estimate, noise_every: r.GetProperty("every").GetInt64(), noise_bias_correction: r.GetProperty("bias_correction").GetBoolean());
        Assert.Equal(new[] { "spectral", "spectral", "spectral", "spectral", "sign", "sign", "adamw" },
            ps.Select(b => Lanton.DefaultKind(b.Name, b.P).ToString().ToLowerInvariant()));
        var skips = ps.ToDictionary(b => b.Name, b => b.Json.GetProperty("skip").EnumerateArray().Select(x => x.GetInt32()).ToHashSet());
        for (int t = 0; t < root.GetProperty("steps").GetInt32(); t++)
        {
            if (estimate == LantonNoiseEstimate.IndependentBatches)
            {
                // The second, independent batch: same point, other noise; captured, then the first batch's gradient.
                using (no_grad())
                    for (int i = 0; i < ps.Count; i++) ps[i].P.grad = ps[i].H.mul(ps[i].P.sub(ps[i].Target)).add(noise2[i][t % k]);
                foreach (var b in ps.Where(b => skips[b.Name].Contains(t))) b.P.grad = null;
                opt.CaptureNoiseGradients();
            }
            QuadraticFixture.SetGradients(ps, t, k);
            foreach (var b in ps.Where(b => skips[b.Name].Contains(t))) b.P.grad = null;
            opt.step();
            QuadraticFixture.CheckRecorded(ps, t + 1, 1e-4, 1e-5, $"LANTON ({run})");
        }
        var rates = opt.LayerRates().ToDictionary(r => r.Name);
        foreach (var b in ps)
        {
            Assert.Equal(b.Json.GetProperty("updates").GetInt64(), opt.States.Single(x => x.Name == b.Name).Step);
            if (b.Json.GetProperty("kind").GetString() == "adamw") continue;
            Approx.AllClose(new[] { (float)b.Json.GetProperty("rate").GetDouble() }, new[] { (float)rates[b.Name].Rate }, 1e-4, 1e-7, $"rate of {b.Name}");
            Approx.AllClose(new[] { (float)b.Json.GetProperty("sigma").GetDouble() }, new[] { (float)rates[b.Name].Noise }, 1e-4, 1e-7, $"noise of {b.Name}");
        }
        // The rates really differ here (noise levels 0.5 to 4; a conv kernel measured as [out, in·kh·kw]), so the
        // check above exercises the rule.
        Assert.True(rates.Values.Min(r => r.Rate) < 0.3, "the fixture's rates should spread");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void EachLayerIsBiasCorrectedByItsOwnSampleCount(long every)
    {
        // Two sign layers whose gradient alternates ±c·J (J all ones, 2×2): every gradient-difference sample is
        // ‖2c·J‖₁² = 64c² exactly, so the bias-corrected average is exactly 64c² after any number of samples — but
        // only if each layer divides by its own sample count. The second layer misses its first two gradients (it
        // starts late, so it has fewer samples and, with every = 3, samples on other steps); its rate must be
        // c₁/c₂ = 0.5 from the first step on which both have a sample.
        var a = new Parameter(zeros(2, 2));
        var b = new Parameter(zeros(2, 2));
        using var opt = new Lanton(new[] { new ParamGroup<Lanton.Options>(new[] { a, b }, new Lanton.Options { Kind = LantonLayerKind.Sign, LearningRate = 0 }) },
            noise_beta: 0.9, noise_every: every, noise_bias_correction: true);
        bool both = false;
        for (int t = 0; t < 30; t++)
        {
            float sign = t % 2 == 0 ? 1 : -1;
            a.grad = full(2, 2, 1f * sign);
            b.grad = t < 2 ? null : full(2, 2, 2f * sign);
            opt.step();
            var r = opt.LayerRates();
            both = both || (r.Count == 2 && !double.IsNaN(r[0].Noise) && !double.IsNaN(r[1].Noise));
            if (!both) continue;
            Assert.Equal(8.0, r[0].Noise, 4);    // σ̂ = √(64c²) = 8c
            Assert.Equal(16.0, r[1].Noise, 4);
            Assert.Equal(1.0, r[0].Rate, 6);
            Assert.Equal(0.5, r[1].Rate, 6);
        }
        Assert.True(both);
    }

    [Fact]
    public void IndependentBatchesNeedTheSecondGradientAndChangeNothingWithoutIt()
    {
        manual_seed(8);
        var w = new Parameter(randn(6, 4));
        var before = w.detach().clone();
        using var opt = new Lanton(new[] { ("w", w) }, noise: LantonNoiseEstimate.IndependentBatches);
        w.grad = randn(6, 4);
        var e = Assert.Throws<InvalidOperationException>(() => opt.step());
        Assert.Contains("CaptureNoiseGradients", e.Message);
        Assert.True(w.detach().eq(before).all().item<bool>());
        Assert.Equal(0, opt.StepCount);
        // The capture is used once: a second step without a new capture is refused again.
        opt.CaptureNoiseGradients();
        w.grad = randn(6, 4);
        opt.step();
        Assert.Equal(1, opt.States.Single().Step);
        Assert.False(double.IsNaN(opt.LayerRates().Single().Noise));   // sampled on the first update
        w.grad = randn(6, 4);
        Assert.Throws<InvalidOperationException>(() => opt.step());
        using var other = new Lanton(new[] { ("w", w) });
        Assert.Contains("IndependentBatches", Assert.Throws<InvalidOperationException>(() => other.CaptureNoiseGradients()).Message);
    }

    [Fact]
    public void ALayerWithoutMeasurableNoiseDoesNotStopItsGroup()
    {
        // A constant gradient has zero noise: that layer runs at rate 1, and the noisy one is not divided by zero.
        manual_seed(2);
        var still = new Parameter(randn(5, 5));
        var noisy = new Parameter(randn(5, 5));
        using var opt = new Lanton(new[] { ("w0", still), ("w1", noisy) }, lr: 0);
        var constant = randn(5, 5);
        for (int t = 0; t < 5; t++)
        {
            still.grad = constant.clone();
            noisy.grad = randn(5, 5);
            opt.step();
        }
        var r = opt.LayerRates();
        Assert.Equal(0.0, r[0].Noise);
        Assert.Equal(1.0, r[0].Rate);
        Assert.Equal(1.0, r[1].Rate);
    }

    [Fact]
    public void HalfPrecisionLayersTrainAndKeepFloat32Averages()
    {
        // libtorch has no half-precision SVD, and a squared ℓ1 norm of a few hundred entries overflows float16:
        // the noise is measured in float32 and the per-layer scalars are float32.
        foreach (var dtype in new[] { ScalarType.BFloat16, ScalarType.Float16 })
        {
            manual_seed(3);
            var w = new Parameter(randn(16, 8).to(dtype));
            var e = new Parameter(randn(40, 8).to(dtype));
            using var opt = new Lanton(new[] { ("fc.weight", w), ("embed.weight", e), ("head.weight", new Parameter(randn(4, 8).to(dtype))) });
            for (int t = 0; t < 4; t++)
            {
                foreach (var p in opt.States.Select(s => s.Parameter)) p.grad = (randn(p.shape) * 30).to(dtype);
                opt.step();
            }
            Assert.All(opt.States, s => Assert.Equal(ScalarType.Float32, s["noise"].dtype));
            Assert.All(opt.LayerRates(), r => Assert.True(double.IsFinite(r.Noise) && r.Rate > 0 && r.Rate <= 1, $"{dtype} {r.Name}: {r.Rate} {r.Noise}"));
            double sigma = opt.LayerRates().Single(r => r.Name == "embed.weight").Noise;
            Assert.True(sigma * sigma > 65504, $"the squared sample ({sigma * sigma:E2}) exceeds float16's range, so float32 matters");
            Assert.True(w.isfinite().all().item<bool>());
        }
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

    [Theory]
    [InlineData(LantonNoiseEstimate.GradientDifference)]
    [InlineData(LantonNoiseEstimate.MomentumResidual)]
    [InlineData(LantonNoiseEstimate.IndependentBatches)]
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
                if (estimate == LantonNoiseEstimate.IndependentBatches)
                {
                    quiet.grad = signal + randn(48, 48) * 0.5;
                    noisy.grad = signal + randn(48, 48) * 2.0;
                    opt.CaptureNoiseGradients();
                }
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
        // Explicit groups: a vector in a spectral group fails at construction, naming it; a bad noise estimate fails
        // before the caller's group options are filled in.
        var vector = new ParamGroup<Lanton.Options>(new[] { named[1].Item2 }, new Lanton.Options());
        Assert.Contains("group0.param0", Assert.Throws<ArgumentException>(() => new Lanton(new[] { vector })).Message);
        var options = new Lanton.Options { Kind = LantonLayerKind.Sign };
        Assert.Throws<ArgumentException>(() => new Lanton(new[] { new ParamGroup<Lanton.Options>(new[] { named[0].Item2 }, options) }, noise: (LantonNoiseEstimate)5));
        Assert.Null(options.LearningRate);
        Assert.Null(options.Momentum);
    }

    [Fact]
    public void AdaptiveOffRunsEveryLayerAtTheGroupRate()
    {
        manual_seed(3);
        using var model = new CharTransformer(13, 8, 16, 4, 2);
        using var opt = new Lanton(model.named_parameters(), adaptive: false);
        for (int s = 0; s < 4; s++)
        {
            opt.zero_grad();
            model.forward(arange(8, dtype: ScalarType.Int64).add(s).remainder(13).view(1, 8)).square().mean().backward();
            opt.step();
        }
        var r = opt.LayerRates();
        Assert.True(r.Count > 10);
        Assert.All(r, x => Assert.Equal(1.0, x.Rate));
        Assert.True(r.Select(x => x.Noise).Distinct().Count() > 5, "the noise is still measured");
    }

    [Fact]
    public void ACheckpointWhoseGroupIsAnotherKindIsRefused()
    {
        string dir = Directory.CreateTempSubdirectory("sharpoptim-lanton-kind-").FullName;
        try
        {
            var w = new Parameter(randn(6, 4));
            string path = Path.Combine(dir, "k.ckpt");
            using (var a = new Lanton(new[] { new ParamGroup<Lanton.Options>(new[] { w }, new Lanton.Options { Kind = LantonLayerKind.Sign }) }))
                SharpOptim.Checkpoints.Checkpoint.Save(path, a);   // no step yet: the kind alone must be checked
            using var b = new Lanton(new[] { new ParamGroup<Lanton.Options>(new[] { w }, new Lanton.Options { Kind = LantonLayerKind.Spectral }) });
            var e = Assert.Throws<InvalidDataException>(() => SharpOptim.Checkpoints.Checkpoint.Load(path, b));
            Assert.Contains("Sign", e.Message);
            Assert.Equal(LantonLayerKind.Spectral, ((Lanton.Options)b.Groups[0].Options).Kind);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
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
