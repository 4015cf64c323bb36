using SharpOptim.Policy;
using SharpOptim.Tasks.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>Rollouts (brief §0.3, §0.4, §11 row 1): the key/value cache reproduces the full forward, sampling is
/// deterministic by seed, and the training forward's ℓ_t equals the log-probability the sampler recorded.</summary>
public class RolloutTests
{
    private static CharTransformer Model(int seed = 3, bool sharpen = false)
    {
        manual_seed(seed);
        var m = new CharTransformer(13, 16, 32, 4, 2);
        // For the cache test: larger weights than GPT-2's init, so attention is far from uniform and position matters.
        if (sharpen)
            using (no_grad())
                foreach (var p in m.parameters())
                    if (p.dim() == 2) p.mul_(HeldFive);
        return m;
    }

    private static readonly TorchSharp.Scalar HeldFive = 5.0.ToScalar();

    [Fact]
    public void CachedLogitsEqualTheFullForward()
    {
        var model = Model(sharpen: true);
        var gen = new TorchSharp.torch.Generator(11);
        var tokens = randint(0, 13, new long[] { 3, 12 }, generator: gen);
        var full = model.forward(tokens);
        using var cache = new KeyValueCache(model.Layers);
        var parts = new List<Tensor> { model.Forward(tokens.narrow(1, 0, 5), arange(0L, 5L), cache) };
        for (long t = 5; t < 12; t++)
        {
            Assert.Equal(t, cache.Length);
            parts.Add(model.Forward(tokens.narrow(1, t, 1), arange(t, t + 1), cache));
        }
        var cached = cat(parts.ToArray(), 1);
        double diff = (cached - full).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"max |cached − full| = {diff}");
    }

    [Fact]
    public void SamplingIsDeterministicBySeedAndTheCacheDoesNotChangeIt()
    {
        var model = Model();
        var prompts = new[] { new long[] { 0, 3, 4, 1, 5, 12 }, new long[] { 0, 7, 1, 2, 12 }, new long[] { 0, 9, 9, 1, 8, 12 } };
        long[] ids = { 10, 20, 30 };
        RolloutBatch Draw(long seed, bool cache) => new RolloutSampler(model, 0, 4, temperature: 1.3, topK: 6, useCache: cache).Sample(prompts, ids, 4, seed);
        using var a = Draw(5, true);
        using var b = Draw(5, true);
        using var c = Draw(5, false);
        using var d = Draw(6, true);
        Assert.True(a.Completions.eq(b.Completions).all().item<bool>());
        Assert.True(a.OldLogProbs.eq(b.OldLogProbs).all().item<bool>());
        Assert.True(a.Completions.eq(c.Completions).all().item<bool>());
        Assert.False(a.Completions.eq(d.Completions).all().item<bool>());
        Assert.Equal(new long[] { 10, 10, 10, 10, 20, 20, 20, 20, 30, 30, 30, 30 }, a.PromptIds);
        Assert.Same(prompts[1], a.Prompts[5]);
        for (int r = 0; r < a.Count; r++)
        {
            var row = a.Completions[r].data<long>().ToArray();
            var m = a.Mask[r].data<float>().ToArray();
            int len = a.Lengths[r];
            Assert.InRange(len, 1, 4);
            for (int t = 0; t < 4; t++)
            {
                Assert.Equal(t < len ? 1f : 0f, m[t]);
                if (t >= len) Assert.Equal(0L, row[t]);   // padded with the end token
                if (t < len - 1) Assert.NotEqual(0L, row[t]);   // the end token only ends a completion
            }
        }
    }

    [Fact]
    public void TrainingForwardLogProbsEqualTheSamplersAtEveryCompletionToken()
    {
        var model = Model(5);
        var prompts = new[] { new long[] { 0, 3, 4, 1, 5, 12 }, new long[] { 0, 7, 1, 2, 12 } };
        foreach (var (temperature, topK) in new[] { (1.0, 0), (0.7, 5) })
        {
            using var batch = new RolloutSampler(model, 0, 4, temperature, topK).Sample(prompts, new long[] { 1, 2 }, 6, 9);
            var logp = SequenceLogProbs.Compute(model, batch.Prompts, batch.Completions, temperature, topK);
            Assert.True(logp.isfinite().all().item<bool>());   // padding outside the top k is 0, not −∞
            double diff = (logp - batch.OldLogProbs).mul(batch.Mask).abs().max().item<float>();
            Assert.True(diff < 1e-5, $"T = {temperature}, top-k {topK}: max |ℓ − ℓ_sampler| = {diff}");
            Assert.True(batch.Mask.sum().item<float>() > 24);   // most of the 12 completions have several tokens (P(end) ≈ 1/13 per step)
        }
    }

    [Fact]
    public void BadSamplerInputIsRejected()
    {
        var model = Model();
        Assert.Throws<ArgumentException>(() => new RolloutSampler(model, 13, 4));
        Assert.Throws<ArgumentException>(() => new RolloutSampler(model, 0, 4, temperature: 0));
        Assert.Throws<ArgumentException>(() => new RolloutSampler(model, 0, 4, topK: 14));
        var s = new RolloutSampler(model, 0, 4);
        Assert.Throws<ArgumentException>(() => s.Sample(new[] { new long[14] }, new long[] { 1 }, 2, 1));   // 14 + 4 − 1 > 16
        Assert.Throws<ArgumentException>(() => s.Sample(new[] { new long[] { 1, 2 } }, new long[] { 1, 2 }, 2, 1));
        Assert.Throws<ArgumentException>(() => s.Sample(Array.Empty<long[]>(), Array.Empty<long>(), 2, 1));
    }
}
