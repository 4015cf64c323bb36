using System.Text.Json;
using SharpOptim.Optimizers;
using SharpOptim.Policy;
using SharpOptim.Tasks.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// Tree Training (arXiv 2511.00413, a reconstruction) against the per-branch forward computed by
/// tools/golden/tree_training.py (PyTorch, float64, CharTransformer-shaped decoder with fixed weights) on the brief's
/// tree: a 20-token root, 3 children of 6 tokens, 2 grandchildren of 4 tokens each (6 branches, 62 tree tokens vs 180
/// branch tokens), the first 4 tokens of each branch a prompt without loss, per-branch advantages and per-branch mean
/// normalisation. Two losses: the linear REINFORCE-style one through gradient restoration's token weights, and a PPO
/// clipped-ratio + k3 loss (clip binding on both sides) through the branch view. Float64 bounds of 1e-12: rounding of
/// sums of O(1) terms in different orders; float32 1e-5 relative to the largest gradient entry likewise.
/// </summary>
public class TreeTrainingTests
{
    [Fact]
    public void TreeLossesAndGradientsEqualPerBranchTrainingInFloat64()
    {
        using var doc = Golden.Load("tree_training.json");
        var root = doc.RootElement;
        using var model = PrefixGroupTestModel.FromFixture(root, ScalarType.Float64);
        using var batch = BatchFromFixture(root, model.BlockSize);
        Assert.Equal(root.GetProperty("tree_tokens").GetInt32(), batch.TreeTokens);
        Assert.Equal(62, batch.TreeTokens);
        Assert.Equal(180, batch.BranchTokens);
        Assert.Equal(62 - 4, batch.PredictedTokens);

        using var lp = TreeTraining.LogProbs(model, batch);
        PrefixGroupTestModel.AssertClose(PrefixGroupTestModel.Doubles(root.GetProperty("logp")), lp.BranchLogProbs.data<double>().ToArray(), 1e-12, "tree log-probs vs PyTorch per-branch");

        var (linear, gLinear) = LinearByTokenWeights(model, batch, lp, root);
        Assert.Equal(root.GetProperty("linear").GetProperty("loss").GetDouble(), linear, 12);
        foreach (var (name, g) in gLinear)
            PrefixGroupTestModel.AssertClose(PrefixGroupTestModel.Doubles(root.GetProperty("linear").GetProperty("grads").GetProperty(name)), g, 1e-12, "weighted linear loss, gradient of " + name);

        using var lp2 = TreeTraining.LogProbs(model, batch);
        var (ppo, gPpo) = PpoByBranchView(model, lp2.BranchLogProbs, lp2.BranchMask, root);
        Assert.Equal(root.GetProperty("ppo").GetProperty("loss").GetDouble(), ppo, 12);
        foreach (var (name, g) in gPpo)
            PrefixGroupTestModel.AssertClose(PrefixGroupTestModel.Doubles(root.GetProperty("ppo").GetProperty("grads").GetProperty(name)), g, 1e-12, "PPO loss, gradient of " + name);
        Assert.All(gPpo.Values, g => Assert.Contains(g, x => x != 0));

        // The library's own per-branch baseline agrees with the reference too.
        var (plain, plainMask) = TreeTraining.PerBranch(model, batch);
        using (plain) using (plainMask)
        {
            PrefixGroupTestModel.AssertClose(PrefixGroupTestModel.Doubles(root.GetProperty("logp")), plain.data<double>().ToArray(), 1e-12, "per-branch baseline log-probs");
            var (ppoPlain, _) = PpoByBranchView(model, plain, plainMask, root);
            Assert.Equal(ppo, ppoPlain, 12);
        }
    }

    [Fact]
    public void Float32TreeEqualsPerBranchToFloat32Rounding()
    {
        using var doc = Golden.Load("tree_training.json");
        var root = doc.RootElement;
        using var model = PrefixGroupTestModel.FromFixture(root, ScalarType.Float32);
        using var batch = BatchFromFixture(root, model.BlockSize);
        using var lp = TreeTraining.LogProbs(model, batch);
        var (tree, gTree) = PpoByBranchView(model, lp.BranchLogProbs, lp.BranchMask, root);
        var (plain, plainMask) = TreeTraining.PerBranch(model, batch);
        var (perBranch, gPlain) = PpoByBranchView(model, plain, plainMask, root);
        Assert.True(Math.Abs(tree - perBranch) <= 1e-5, $"float32 loss {tree} vs {perBranch}");
        double scale = gPlain.Values.Max(a => a.Max(Math.Abs));
        foreach (var (name, g) in gTree) PrefixGroupTestModel.AssertClose(gPlain[name], g, 1e-5 * scale, "float32 gradient of " + name);
        using var lp2 = TreeTraining.LogProbs(model, batch);
        var (linear, gLinear) = LinearByTokenWeights(model, batch, lp2, root);
        Assert.True(Math.Abs(linear - root.GetProperty("linear").GetProperty("loss").GetDouble()) <= 1e-5, $"float32 linear loss {linear}");
    }

    [Fact]
    public void TrieLayoutDepthPositionsAncestorMaskAndTokenWeights()
    {
        // Branches: [1 2 3 4], [1 2 5], [1 2 3 6], [7 8] (a second root: a forest). Trie, depth first:
        // 1(0) 2(1) 3(2) 4(3) 6(3) 5(2) | 7(0) 8(1).
        var branches = new[] { new long[] { 1, 2, 3, 4 }, new long[] { 1, 2, 5 }, new long[] { 1, 2, 3, 6 }, new long[] { 7, 8 } };
        using var batch = TreeTrainingBatch.Create(branches, new[] { 2, 1, 1, 1 }, 8);
        Assert.Equal(8, batch.TreeTokens);
        Assert.Equal(13, batch.BranchTokens);
        Assert.Equal(new long[] { 1, 2, 3, 4, 6, 5, 7, 8 }, batch.Tokens.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 1, 2, 3, 3, 2, 0, 1 }, batch.Positions.data<long>().ToArray());
        var blocked = batch.Blocked.data<bool>().ToArray();
        bool Sees(int i, int j) => !blocked[i * 8 + j];
        Assert.True(Sees(4, 0) && Sees(4, 1) && Sees(4, 2) && Sees(4, 4));   // 6 sees 1 2 3 and itself
        Assert.False(Sees(4, 3));                                          // not its sibling 4
        Assert.False(Sees(5, 2));                                          // 5 does not see 3 (its sibling)
        Assert.False(Sees(7, 0));                                          // the second root's tree is separate
        Assert.True(Sees(7, 6) && Sees(7, 7));
        Assert.False(Sees(0, 1));                                          // causal: a root sees no descendant
        // Predicted tokens (serial order): 2 (branches 1, 2 — branch 0's prompt covers it), 3 (0, 2), 4 (0), 6 (2), 5 (1), 8 (3).
        Assert.Equal(6, batch.PredictedTokens);
        var w = TreeTraining.TokenWeights(batch, new[] { 1.0, 10.0, 100.0, 1000.0 });
        Assert.Equal(new[] { 110.0, 101.0, 1.0, 100.0, 10.0, 1000.0 }, w);
        Assert.Throws<ArgumentException>(() => TreeTraining.TokenWeights(batch, new[] { 1.0, 2.0 }));
        Assert.Throws<ArgumentException>(() => TreeTraining.TokenWeights(batch, new[] { 1.0, double.NaN, 1, 1 }));
    }

    [Fact]
    public void BadInputIsRejectedWithAClearMessage()
    {
        var e = Assert.Throws<ArgumentException>(() => TreeTrainingBatch.Create(Array.Empty<long[]>(), null, 8));
        Assert.Contains("no branches", e.Message);
        e = Assert.Throws<ArgumentException>(() => TreeTrainingBatch.Create(new[] { new long[] { 1 } }, null, 8));
        Assert.Contains("branch 0 has 1 token(s)", e.Message);
        e = Assert.Throws<ArgumentException>(() => TreeTrainingBatch.Create(new[] { new long[9] }, null, 8));
        Assert.Contains("9 tokens, more than the block size 8", e.Message);
        e = Assert.Throws<ArgumentException>(() => TreeTrainingBatch.Create(new[] { new long[] { 1, 2, 3 } }, new[] { 3 }, 8));
        Assert.Contains("prompt length 3 of branch 0 must lie in [1, 2]", e.Message);
        e = Assert.Throws<ArgumentException>(() => TreeTrainingBatch.Create(new[] { new long[] { 1, 2 } }, new[] { 1, 1 }, 8));
        Assert.Contains("2 prompt lengths for 1 branches", e.Message);
        e = Assert.Throws<ArgumentException>(() => TreeTrainingBatch.Create(new[] { new long[] { 1, -2 } }, null, 8));
        Assert.Contains("negative token id -2", e.Message);
        manual_seed(2);
        using var model = new CharTransformer(5, 4, 8, 2, 1);
        using var deep = TreeTrainingBatch.Create(new[] { new long[] { 1, 2, 3, 4, 1 } }, null, 8);
        e = Assert.Throws<ArgumentException>(() => TreeTraining.LogProbs(model, deep));
        Assert.Contains("5 tokens; the model has 4 positions", e.Message);
        using var token = TreeTrainingBatch.Create(new[] { new long[] { 1, 5 } }, null, 8);
        e = Assert.Throws<ArgumentException>(() => TreeTraining.PerBranch(model, token));
        Assert.Contains("token id 5 is outside the model's vocabulary of 5", e.Message);
    }

    private static TreeTrainingBatch BatchFromFixture(JsonElement root, int blockSize)
    {
        var branches = root.GetProperty("branches").EnumerateArray().Select(PrefixGroupTestModel.Longs).ToArray();
        int prompt = root.GetProperty("config").GetProperty("prompt").GetInt32();
        return TreeTrainingBatch.Create(branches, Enumerable.Repeat(prompt, branches.Length).ToArray(), blockSize);
    }

    /// <summary>Linear loss −(1/B) Σ_b n_b A_b Σ_t ℓ_{b,t} as gradient restoration computes it: −Σ_u c_u ℓ_u.</summary>
    private static (double, Dictionary<string, double[]>) LinearByTokenWeights(CharTransformer model, TreeTrainingBatch batch, TreeTrainingLogProbs lp, JsonElement root)
    {
        var adv = PrefixGroupTestModel.Doubles(root.GetProperty("advantages"));
        var coefficients = adv.Select((a, b) => a / batch.LossLengths[b] / batch.Branches).ToArray();
        var weights = TreeTraining.TokenWeights(batch, coefficients);
        using var scope = NewDisposeScope();
        var loss = lp.TokenLogProbs.mul(tensor(weights, ScalarType.Float64).to_type(lp.TokenLogProbs.dtype)).sum().neg();
        return Backward(model, loss);
    }

    /// <summary>−(1/B) Σ_b n_b Σ_t m [min(ρ A_b, clip(ρ, 0.8, 1.2) A_b) − 0.04 k3] on a branch layout [B, T].</summary>
    private static (double, Dictionary<string, double[]>) PpoByBranchView(CharTransformer model, Tensor logp, Tensor mask, JsonElement root)
    {
        var c = root.GetProperty("config");
        double clip = c.GetProperty("clip").GetDouble(), beta = c.GetProperty("beta").GetDouble();
        var dtype = logp.dtype;
        var shape = logp.shape;
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var a = tensor(PrefixGroupTestModel.Doubles(root.GetProperty("advantages")), ScalarType.Float64).to_type(dtype).unsqueeze(1);
        var old = tensor(PrefixGroupTestModel.Doubles(root.GetProperty("logp_old")), ScalarType.Float64).reshape(shape).to_type(dtype);
        var reference = tensor(PrefixGroupTestModel.Doubles(root.GetProperty("logp_ref")), ScalarType.Float64).reshape(shape).to_type(dtype);
        var ratio = logp.sub(old).exp();
        var surrogate = minimum(ratio.mul(a), ratio.clamp(s[1 - clip], s[1 + clip]).mul(a));
        var d = reference.sub(logp);
        var k3 = d.exp().sub(d).sub(s[1]);
        var perBranch = surrogate.sub(k3.mul(s[beta])).mul(mask).sum(1).div(mask.sum(1));
        var loss = perBranch.sum().div(s[shape[0]]).neg();
        return Backward(model, loss);
    }

    private static (double, Dictionary<string, double[]>) Backward(CharTransformer model, Tensor loss)
    {
        model.zero_grad();
        loss.backward();
        return (loss.to_type(ScalarType.Float64).item<double>(),
            model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.to_type(ScalarType.Float64).data<double>().ToArray()));
    }
}
