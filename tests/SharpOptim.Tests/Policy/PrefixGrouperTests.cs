using System.Text.Json;
using SharpOptim.Optimizers;
using SharpOptim.Policy;
using SharpOptim.Tasks.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// Prefix Grouper (arXiv 2506.05433) against the repeated-prefix forward and against tools/golden/prefix_grouper.py,
/// an independent PyTorch implementation of both forms on a CharTransformer-shaped decoder with fixed weights
/// (float64, P = 7, G = 4, completion lengths 3/5/2/4). The loss is GRPO's with a clipped ratio (binding on both sides
/// of the clip, 7 of 14 tokens) and the k3 KL term: nonlinear in the log-probabilities. Float64 bounds of 1e-12 are
/// rounding of sums of O(1) terms (the two forms add the same numbers in different orders); float32 bounds of 1e-5
/// relative to the largest gradient entry are the same in float32 arithmetic.
/// </summary>
public class PrefixGrouperTests
{
    [Fact]
    public void Float64MatchesThePyTorchReferenceAndTheRepeatedForward()
    {
        using var doc = Golden.Load("prefix_grouper.json");
        var root = doc.RootElement;
        using var model = PrefixGroupTestModel.FromFixture(root, ScalarType.Float64);
        using var batch = PrefixGroupTestModel.BatchFromFixture(root, model.BlockSize);
        var expectedLogp = PrefixGroupTestModel.Doubles(root.GetProperty("repeated").GetProperty("logp"));

        using var grouped = PrefixGrouper.Grouped(model, batch);
        Assert.Equal(new long[] { 4, 5 }, grouped.LogProbs.shape);
        Assert.Equal(new[] { 1.0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0 }, grouped.Mask.data<double>().ToArray());
        PrefixGroupTestModel.AssertClose(expectedLogp, grouped.LogProbs.data<double>().ToArray(), 1e-12, "grouped log-probs vs PyTorch");
        var (lossGrouped, gradsGrouped) = PrefixGroupTestModel.LossAndGradients(model, grouped, root);
        Assert.Equal(root.GetProperty("repeated").GetProperty("loss").GetDouble(), lossGrouped, 12);
        foreach (var (name, g) in gradsGrouped)
            PrefixGroupTestModel.AssertClose(PrefixGroupTestModel.Doubles(root.GetProperty("repeated").GetProperty("grads").GetProperty(name)), g, 1e-12, "grouped gradient of " + name + " vs PyTorch");

        using var repeated = PrefixGrouper.Repeated(model, batch);
        PrefixGroupTestModel.AssertClose(expectedLogp, repeated.LogProbs.data<double>().ToArray(), 1e-12, "repeated log-probs vs PyTorch");
        var (lossRepeated, gradsRepeated) = PrefixGroupTestModel.LossAndGradients(model, repeated, root);
        Assert.Equal(lossRepeated, lossGrouped, 12);
        Assert.Equal(gradsRepeated.Count, gradsGrouped.Count);
        foreach (var (name, g) in gradsGrouped)
            PrefixGroupTestModel.AssertClose(gradsRepeated[name], g, 1e-12, "grouped vs repeated gradient of " + name);
        // Every parameter gets a gradient (the test would be vacuous for one that did not).
        Assert.All(gradsGrouped.Values, g => Assert.Contains(g, x => x != 0));
    }

    [Fact]
    public void Float32GroupedEqualsRepeatedToFloat32Rounding()
    {
        using var doc = Golden.Load("prefix_grouper.json");
        var root = doc.RootElement;
        using var model = PrefixGroupTestModel.FromFixture(root, ScalarType.Float32);
        using var batch = PrefixGroupTestModel.BatchFromFixture(root, model.BlockSize);
        using var grouped = PrefixGrouper.Grouped(model, batch);
        using var repeated = PrefixGrouper.Repeated(model, batch);
        Assert.Equal(ScalarType.Float32, grouped.LogProbs.dtype);
        PrefixGroupTestModel.AssertClose(repeated.LogProbs.to_type(ScalarType.Float64).data<double>().ToArray(), grouped.LogProbs.to_type(ScalarType.Float64).data<double>().ToArray(), 1e-5, "float32 log-probs");
        var (lg, gg) = PrefixGroupTestModel.LossAndGradients(model, grouped, root);
        var (lr, gr) = PrefixGroupTestModel.LossAndGradients(model, repeated, root);
        Assert.True(Math.Abs(lg - lr) <= 1e-5, $"float32 loss {lg} vs {lr}");
        double scale = gr.Values.Max(a => a.Max(Math.Abs));
        foreach (var (name, g) in gg)
            PrefixGroupTestModel.AssertClose(gr[name], g, 1e-5 * scale, "float32 gradient of " + name);
    }

    [Fact]
    public void SeveralGroupsWithDifferentPromptLengthsMatchTheRepeatedForward()
    {
        // Two prompts (5 and 7 tokens: the shorter one is left-padded in the prompt call) with 3 and 2 completions.
        manual_seed(5);
        using var model = new CharTransformer(13, 16, 16, 2, 2);
        model.to(ScalarType.Float64);
        var prompts = new[] { new long[] { 1, 2, 3, 4, 5 }, new long[] { 6, 7, 8, 9, 10, 11, 12 } };
        var completions = new[]
        {
            new[] { new long[] { 3, 1 }, new long[] { 4, 4, 4, 2, 0, 9 }, new long[] { 12 } },
            new[] { new long[] { 5, 5, 1 }, new long[] { 0, 2, 7, 7 } },
        };
        using var batch = PrefixGroupBatch.Create(prompts, completions, model.BlockSize);
        Assert.Equal(2, batch.Groups);
        Assert.Equal(5, batch.Samples);
        Assert.Equal(7 + 3 + 4, batch.PackedLength);   // group 0: 5 + 2 + 6 + 1 = 14; group 1: 7 + 3 + 4 = 14
        // Positions: each completion restarts at its prompt's length.
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 5, 6, 5, 6, 7, 8, 9, 10, 5 }, batch.Positions[0].data<long>().ToArray());
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 7, 8, 9, 10 }, batch.Positions[1].data<long>().ToArray());

        using var grouped = PrefixGrouper.Grouped(model, batch);
        using var repeated = PrefixGrouper.Repeated(model, batch);
        PrefixGroupTestModel.AssertClose(repeated.LogProbs.data<double>().ToArray(), grouped.LogProbs.data<double>().ToArray(), 1e-12, "log-probs");
        // A nonlinear loss of the log-probabilities with per-sample weights.
        var weights = tensor(new[] { 0.7, -1.3, 0.4, 1.1, -0.6 }, ScalarType.Float64).unsqueeze(1);
        Dictionary<string, double[]> Grads(PrefixGroupLogProbs lp)
        {
            model.zero_grad();
            using var s = new ScalarHold();
            var loss = lp.LogProbs.mul(weights).exp().mul(lp.Mask).sum().add(lp.LogProbs.pow(s[2]).sum(), s[1]);
            loss.backward();
            return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.data<double>().ToArray());
        }
        var gg = Grads(grouped);
        var gr = Grads(repeated);
        foreach (var (name, g) in gg) PrefixGroupTestModel.AssertClose(gr[name], g, 1e-12, name);
    }

    [Fact]
    public void FirstCompletionTokenIsPredictedByTheLastPromptPosition()
    {
        // log π(o_0 | q) read directly from the plain forward of the prompt alone: the last row's log-softmax.
        manual_seed(9);
        using var model = new CharTransformer(13, 16, 16, 2, 1);
        model.to(ScalarType.Float64);
        var prompt = new long[] { 3, 1, 4, 1, 5 };
        var completions = new[] { new long[] { 9 }, new long[] { 2, 6 }, new long[] { 5, 3, 5 } };
        using var batch = PrefixGroupBatch.Create(new[] { prompt }, new[] { completions }, model.BlockSize);
        using var grouped = PrefixGrouper.Grouped(model, batch);
        using var plain = model.forward(tensor(prompt).unsqueeze(0));
        var last = plain[0, -1].log_softmax(-1).data<double>().ToArray();
        var got = grouped.LogProbs.data<double>().ToArray();
        using (var viaLists = PrefixGrouper.Grouped(model, new[] { prompt }, new[] { completions }))
            Assert.Equal(got, viaLists.LogProbs.data<double>().ToArray());
        Assert.Equal(last[9], got[0], 12);
        Assert.Equal(last[2], got[3], 12);
        Assert.Equal(last[5], got[6], 12);
        // Second token of completion 2 from the plain forward of [prompt | 5]: the row of token 5.
        using var plain2 = model.forward(tensor(new long[] { 3, 1, 4, 1, 5, 5 }).unsqueeze(0));
        Assert.Equal(plain2[0, -1].log_softmax(-1)[3].item<double>(), got[7], 12);
    }

    [Fact]
    public void BadInputIsRejectedWithAClearMessage()
    {
        var prompt = new long[] { 1, 2, 3, 4, 5, 6, 7 };
        var ok = new[] { new long[] { 1 } };
        var e = Assert.Throws<ArgumentException>(() => PrefixGroupBatch.Create(Array.Empty<long[]>(), Array.Empty<long[][]>(), 16));
        Assert.Contains("no groups", e.Message);
        e = Assert.Throws<ArgumentException>(() => PrefixGroupBatch.Create(new[] { prompt }, new[] { Array.Empty<long[]>() }, 16));
        Assert.Contains("group 0 is empty", e.Message);
        e = Assert.Throws<ArgumentException>(() => PrefixGroupBatch.Create(new[] { prompt }, new[] { new[] { new long[10] } }, 16));
        Assert.Contains("10 tokens, longer than blockSize − P = 16 − 7 = 9", e.Message);
        e = Assert.Throws<ArgumentException>(() => PrefixGroupBatch.Create(new[] { prompt, prompt }, new[] { ok }, 16));
        Assert.Contains("2 prompts but 1 completion groups", e.Message);
        e = Assert.Throws<ArgumentException>(() => PrefixGroupBatch.Create(new[] { prompt }, new[] { new[] { Array.Empty<long>() } }, 16));
        Assert.Contains("completion 0 of group 0 is empty", e.Message);
        e = Assert.Throws<ArgumentException>(() => PrefixGroupBatch.Create(new[] { Array.Empty<long>() }, new[] { ok }, 16));
        Assert.Contains("prompt 0 is empty", e.Message);
        e = Assert.Throws<ArgumentException>(() => PrefixGroupBatch.Create(new[] { prompt }, new[] { new[] { new long[] { 2, -1 } } }, 16));
        Assert.Contains("negative token id -1", e.Message);

        manual_seed(1);
        using var model = new CharTransformer(13, 12, 8, 2, 1);
        using var tooLong = PrefixGroupBatch.Create(new[] { prompt }, new[] { new[] { new long[6] } }, 16);
        e = Assert.Throws<ArgumentException>(() => PrefixGrouper.Grouped(model, tooLong));
        Assert.Contains("P + L = 7 + 6 = 13", e.Message);
        using var badToken = PrefixGroupBatch.Create(new[] { prompt }, new[] { new[] { new long[] { 13 } } }, 12);
        e = Assert.Throws<ArgumentException>(() => PrefixGrouper.Repeated(model, badToken));
        Assert.Contains("token id 13 is outside the model's vocabulary of 13", e.Message);
        Assert.Throws<ArgumentException>(() => PrefixGrouper.AttentionFlopRatio(0, 4, 8));
    }

    [Fact]
    public void FlopFormulaOfTheReport()
    {
        // Lemma 2.2 of the report: (P² + G·L(2P+L)) / (G(P+L)²); with L → 0 it tends to 1/G, with P = 0 to 1.
        Assert.Equal((56.0 * 56 + 8.0 * 8 * (112 + 8)) / (8.0 * 64 * 64), PrefixGrouper.AttentionFlopRatio(56, 8, 8), 15);
        Assert.Equal((56 + 64.0) / 512, PrefixGrouper.TokenRatio(56, 8, 8), 15);
        Assert.Equal(1.0 / 8, PrefixGrouper.AttentionFlopRatio(1_000_000, 1, 8), 5);
        Assert.Equal(1.0, PrefixGrouper.AttentionFlopRatio(1, 1_000_000, 8), 5);
    }
}

/// <summary>The fixture's decoder, batch and loss, shared by the Prefix Grouper and Tree Training tests.</summary>
internal static class PrefixGroupTestModel
{
    public static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    public static long[] Longs(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();

    /// <summary>A CharTransformer with the fixture's configuration and weights, in <paramref name="dtype"/>.</summary>
    public static CharTransformer FromFixture(JsonElement root, ScalarType dtype)
    {
        var c = root.GetProperty("config");
        var model = new CharTransformer(c.GetProperty("vocabulary").GetInt32(), c.GetProperty("block_size").GetInt32(),
            c.GetProperty("dim").GetInt32(), c.GetProperty("heads").GetInt32(), c.GetProperty("layers").GetInt32());
        model.to(ScalarType.Float64);
        var weights = root.GetProperty("weights");
        int loaded = 0;
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
            {
                var values = Doubles(weights.GetProperty(name));
                Assert.Equal(p.numel(), values.Length);
                p.copy_(tensor(values, ScalarType.Float64).reshape(p.shape));
                loaded++;
            }
        Assert.Equal(weights.EnumerateObject().Count(), loaded);
        model.to(dtype);
        return model;
    }

    public static PrefixGroupBatch BatchFromFixture(JsonElement root, int blockSize) =>
        PrefixGroupBatch.Create(new[] { Longs(root.GetProperty("prompt")) },
            new[] { root.GetProperty("completions").EnumerateArray().Select(Longs).ToArray() }, blockSize);

    /// <summary>
    /// The fixture's loss: A_i = (r_i − mean r)/(std_unbiased(r) + 1e-4);
    /// L = −(1/G) Σ_i (1/|o_i|) Σ_t m [A_i ℓ + min(ρ A_i, clip(ρ, 1−ε, 1+ε) A_i) − β k3], ρ = exp(ℓ − ℓ_old),
    /// k3 = exp(ℓ_ref − ℓ) − (ℓ_ref − ℓ) − 1; then every parameter gradient.
    /// </summary>
    public static (double Loss, Dictionary<string, double[]> Grads) LossAndGradients(CharTransformer model, PrefixGroupLogProbs lp, JsonElement root)
    {
        var c = root.GetProperty("config");
        double clip = c.GetProperty("clip").GetDouble(), beta = c.GetProperty("beta").GetDouble(), eps = c.GetProperty("std_eps").GetDouble();
        var rewards = Doubles(root.GetProperty("rewards"));
        double mean = rewards.Average();
        double std = Math.Sqrt(rewards.Sum(r => (r - mean) * (r - mean)) / (rewards.Length - 1));
        var dtype = lp.LogProbs.dtype;
        var shape = lp.LogProbs.shape;
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var a = tensor(rewards.Select(r => (r - mean) / (std + eps)).ToArray(), ScalarType.Float64).to_type(dtype).unsqueeze(1);
        var old = tensor(Doubles(root.GetProperty("logp_old")), ScalarType.Float64).reshape(shape).to_type(dtype);
        var reference = tensor(Doubles(root.GetProperty("logp_ref")), ScalarType.Float64).reshape(shape).to_type(dtype);
        var l = lp.LogProbs;
        var ratio = l.sub(old).exp();
        var surrogate = minimum(ratio.mul(a), ratio.clamp(s[1 - clip], s[1 + clip]).mul(a));
        var d = reference.sub(l);
        var k3 = d.exp().sub(d).sub(s[1]);
        var perToken = a.mul(l).add(surrogate).sub(k3.mul(s[beta])).mul(lp.Mask);
        var loss = perToken.sum(1).div(lp.Mask.sum(1)).mean().neg();
        model.zero_grad();
        loss.backward();
        var grads = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.to_type(ScalarType.Float64).data<double>().ToArray());
        return (loss.to_type(ScalarType.Float64).item<double>(), grads);
    }

    public static void AssertClose(double[] expected, double[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs(expected[i] - actual[i]);
            if (!(diff <= worst)) { worst = diff; at = i; }
        }
        Assert.True(worst <= tolerance, FormattableString.Invariant($"{what}: largest difference {worst:E3} at {at} (expected {(at >= 0 ? expected[at] : 0)}, got {(at >= 0 ? actual[at] : 0)}) exceeds {tolerance:E1}"));
    }
}
