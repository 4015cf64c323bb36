using SharpOptim.Optimizers;
using SharpOptim.Tasks.Models;
using SharpOptim.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>Clipping, accumulation, EMA, Lookahead and the param-group builder, against independently computed values.</summary>
public class TrainingUtilityTests
{
    [Fact]
    public void GlobalNormClippingReturnsThePreClipNormAndScales()
    {
        using var a = new Parameter(zeros(2));
        using var b = new Parameter(zeros(2));
        using var c = new Parameter(zeros(3));   // no gradient: skipped
        a.grad = tensor(new[] { 3f, 0f });
        b.grad = tensor(new[] { 0f, 4f });
        double norm = GradientClipping.ClipByGlobalNorm(new[] { a, b, c }, maxNorm: 1.0);
        Assert.Equal(5.0, norm, 12);
        double coef = 1.0 / (5.0 + 1e-6);
        Assert.Equal(new[] { (float)(3 * coef), 0f }, a.grad!.data<float>().ToArray());
        Assert.Equal(new[] { 0f, (float)(4 * coef) }, b.grad!.data<float>().ToArray());
        // Under the limit nothing changes.
        Assert.Equal(1.0, GradientClipping.ClipByGlobalNorm(new[] { a, b }, maxNorm: 10), 5);
        Assert.Equal(new[] { (float)(3 * coef), 0f }, a.grad!.data<float>().ToArray());
        // Infinity norm.
        a.grad = tensor(new[] { -7f, 2f });
        Assert.Equal(7.0, GradientClipping.ClipByGlobalNorm(new[] { a }, maxNorm: 100, normType: double.PositiveInfinity), 12);
    }

    [Fact]
    public void NaNNormNamesTheParameterAndChangesNothing()
    {
        using var a = new Parameter(zeros(2));
        using var b = new Parameter(zeros(2));
        a.grad = tensor(new[] { 3f, 4f });
        b.grad = tensor(new[] { float.NaN, 1f });
        var e = Assert.Throws<ArithmeticException>(() => GradientClipping.ClipByGlobalNorm(new[] { a, b }, 1.0));
        Assert.Contains("parameter 1", e.Message);
        Assert.Equal(new[] { 3f, 4f }, a.grad!.data<float>().ToArray());
        Assert.Contains("-1", Assert.Throws<ArgumentException>(() => GradientClipping.ClipByGlobalNorm(new[] { a }, -1)).Message);
    }

    [Fact]
    public void ValueClippingClamps()
    {
        using var a = new Parameter(zeros(4));
        a.grad = tensor(new[] { -3f, -0.5f, 0.25f, 9f });
        GradientClipping.ClipByValue(new[] { a }, 1);
        Assert.Equal(new[] { -1f, -0.5f, 0.25f, 1f }, a.grad!.data<float>().ToArray());
    }

    [Fact]
    public void AccumulatingMicroBatchesEqualsTheFullBatchStep()
    {
        var (x, y) = TestModels.Batch();
        using var full = TestModels.Regression(21);
        using var micro = TestModels.Regression(21);
        using var optFull = new Optimizers.SGD(full.parameters(), lr: 0.1);
        using var optMicro = new Optimizers.SGD(micro.parameters(), lr: 0.1);
        TestModels.TrainStep(full, optFull, (x, y));
        var acc = new GradientAccumulation(optMicro, microBatches: 4);
        optMicro.zero_grad();
        for (int i = 0; i < 4; i++)
        {
            var xs = x[TensorIndex.Slice(i * 8, (i + 1) * 8)];
            var ys = y[TensorIndex.Slice(i * 8, (i + 1) * 8)];
            bool stepped = acc.Backward(nn.functional.mse_loss(micro.forward(xs), ys));
            Assert.Equal(i == 3, stepped);
        }
        Assert.Equal(1, acc.Steps);
        foreach (var (pf, pm) in full.parameters().Zip(micro.parameters()))
            Approx.AllClose(pf.data<float>().ToArray(), pm.data<float>().ToArray(), 1e-5, 1e-7, "accumulated vs full batch");
        Assert.All(micro.parameters(), p => Assert.Equal(0f, p.grad!.abs().sum().item<float>()));
    }

    [Fact]
    public void EmaFollowsItsRecurrenceSwapsAndRoundTrips()
    {
        using var p = new Parameter(tensor(new[] { 1f, 2f }));
        using var ema = new ExponentialMovingAverage(new[] { ("w", p) }, decay: 0.5);
        using (no_grad()) p.copy_(tensor(new[] { 3f, 6f }));
        ema.Update();   // 0.5·[1,2] + 0.5·[3,6] = [2,4]
        using (no_grad()) p.copy_(tensor(new[] { 4f, 0f }));
        ema.Update();   // 0.5·[2,4] + 0.5·[4,0] = [3,2]
        Assert.Equal(new[] { 3f, 2f }, ema["w"].data<float>().ToArray());
        using (ema.SwapIn())
        {
            Assert.Equal(new[] { 3f, 2f }, p.data<float>().ToArray());
            Assert.Throws<InvalidOperationException>(() => ema.Update());
        }
        Assert.Equal(new[] { 4f, 0f }, p.data<float>().ToArray());
        var ms = new MemoryStream();
        ema.Save(new BinaryWriter(ms));
        using var q = new Parameter(zeros(2));
        using var other = new ExponentialMovingAverage(new[] { ("w", q) }, decay: 0.5);
        ms.Position = 0;
        other.Load(new BinaryReader(ms));
        Assert.Equal(new[] { 3f, 2f }, other["w"].data<float>().ToArray());
        Assert.Equal(2, other.Updates);
        using var wrong = new Parameter(zeros(3));
        using var mismatched = new ExponentialMovingAverage(new[] { ("w", wrong) });
        ms.Position = 0;
        Assert.Throws<InvalidDataException>(() => mismatched.Load(new BinaryReader(ms)));
        Assert.Equal(new[] { 0f, 0f, 0f }, mismatched["w"].data<float>().ToArray());
        using var warm = new ExponentialMovingAverage(new[] { ("w", p) }, decay: 0.999, warmup: true);
        Assert.Equal(0.1, warm.CurrentDecay, 15);
    }

    [Fact]
    public void LookaheadSynchronisesEveryKSteps()
    {
        using var p = new Parameter(tensor(new[] { 0f }));
        using var inner = new Optimizers.SGD(new[] { p }, lr: 1.0);
        using var la = new Lookahead(inner, k: 2, alpha: 0.5);
        p.grad = tensor(new[] { -1f });   // each inner step adds 1
        la.step();
        Assert.Equal(1f, p.data<float>()[0]);
        la.step();   // fast = 2, slow = 0 + 0.5·(2 − 0) = 1, fast ← 1
        Assert.Equal(1f, p.data<float>()[0]);
        Assert.Equal(1f, la.SlowWeights[0].data<float>()[0]);
        la.step();
        la.step();   // fast = 3, slow = 1 + 0.5·(3 − 1) = 2
        Assert.Equal(2f, p.data<float>()[0]);
        // LR schedulers drive the inner optimizer through Lookahead.
        var sched = optim.lr_scheduler.StepLR(la, step_size: 1, gamma: 0.5);
        sched.step();
        Assert.Equal(0.5, inner.ParamGroups.Single().LearningRate, 15);
        Assert.Contains("alpha", Assert.Throws<ArgumentException>(() => new Lookahead(inner, alpha: 2)).Message);
    }

    [Fact]
    public void LookaheadResumesBitForBitFromItsSavedState()
    {
        // 7 steps straight vs 3 steps, save (Lookahead + inner Adam via state_dict), load into fresh objects, 4 steps.
        static (Parameter P, Optimizers.Adam Inner, Lookahead La) Make()
        {
            var p = new Parameter(tensor(new[] { 0.5f, -1f, 2f }));
            var inner = new Optimizers.Adam(new[] { p }, lr: 0.1);
            return (p, inner, new Lookahead(inner, k: 3, alpha: 0.4));
        }
        static void Steps(Parameter p, Lookahead la, int n)
        {
            for (int i = 0; i < n; i++)
            {
                la.zero_grad();
                p.pow(2).sum().backward();
                la.step();
            }
        }
        var (p1, i1, la1) = Make();
        Steps(p1, la1, 7);
        var (p2, i2, la2) = Make();
        Steps(p2, la2, 3);
        var ms = new MemoryStream();
        var w = new BinaryWriter(ms);
        la2.Save(w);
        p2.Save(w);
        string innerPath = Path.GetTempFileName();
        i2.save_state_dict(innerPath);
        var (p3, i3, la3) = Make();
        ms.Position = 0;
        var r = new BinaryReader(ms);
        la3.Load(r);
        using (no_grad()) p3.copy_(TensorExtensionMethods.Load(r));
        i3.load_state_dict(innerPath);
        File.Delete(innerPath);
        Assert.Equal(3, la3.InnerSteps);
        Steps(p3, la3, 4);
        Assert.Equal(p1.data<float>().ToArray(), p3.data<float>().ToArray());
        Assert.Equal(la1.SlowWeights[0].data<float>().ToArray(), la3.SlowWeights[0].data<float>().ToArray());
        // A state for a different k, or a different shape, is refused and changes nothing.
        ms.Position = 0;
        var otherK = new Lookahead(new Optimizers.SGD(new[] { new Parameter(zeros(3)) }, lr: 0.1), k: 5, alpha: 0.4);
        Assert.Contains("k = 3", Assert.Throws<InvalidDataException>(() => otherK.Load(new BinaryReader(ms))).Message);
        ms.Position = 0;
        var shaped = new Lookahead(new Optimizers.SGD(new[] { new Parameter(zeros(4)) }, lr: 0.1), k: 3, alpha: 0.4);
        Assert.Throws<InvalidDataException>(() => shaped.Load(new BinaryReader(ms)));
        Assert.Equal(new[] { 0f, 0f, 0f, 0f }, shaped.SlowWeights[0].data<float>().ToArray());
        Assert.Equal(0, shaped.InnerSteps);
    }

    [Fact]
    public void ParamGroupBuilderSeparatesNoDecayAndAppliesMultipliers()
    {
        manual_seed(1);
        using var model = new Mlp(4, 8, 2);
        var groups = new ParamGroupBuilder().LearningRateMultiplier("^head\\.", 0.1)
            .Build(model.named_parameters(), 1e-3, (lr, decay) => new AdamBase.Options { LearningRate = lr, WeightDecay = decay ? 0.1 : 0 });
        using var opt = new Optimizers.AdamW(groups);
        var byName = model.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        AdamBase.Options OptionsOf(string name) =>
            (AdamBase.Options)opt.Groups.Single(g => g.Parameters.Any(p => ReferenceEquals(p, byName[name]))).Options;
        Assert.Equal(0.1, OptionsOf("fc0.weight").WeightDecay);
        Assert.Equal(0.0, OptionsOf("fc0.bias").WeightDecay);
        Assert.Equal(1e-3, OptionsOf("fc0.weight").LearningRate!.Value, 15);
        Assert.Equal(1e-4, OptionsOf("head.weight").LearningRate!.Value, 15);
        Assert.Equal(0.0, OptionsOf("head.bias").WeightDecay);
        Assert.Equal(4, opt.Groups.Count);
    }
}
