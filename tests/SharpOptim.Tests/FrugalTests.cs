using System.Text.Json;
using SharpOptim.Checkpoints;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// FRUGAL against tools/golden/frugal.py (written from the official code) in every subspace, block order and
/// state-free rule, with the random block and column draws injected; the official parameter split; the seeded
/// draws; old checkpoints; bad input; resume; and digits.
/// </summary>
[Collection("checkpoint-hook")]
public class FrugalTests
{
    [Theory]
    [InlineData("svd")]
    [InlineData("svd_sgd")]
    [InlineData("svd_no")]
    [InlineData("blocks_random")]
    [InlineData("blocks_descending")]
    [InlineData("blocks_ascending")]
    [InlineData("blocks_mirror")]
    [InlineData("columns")]
    public void MatchesReference(string run)
    {
        using var doc = Golden.Load("frugal.json");
        var root = doc.RootElement;
        int k = root.GetProperty("k").GetInt32();
        var hp = root.GetProperty("hyper");
        var r = root.GetProperty("runs").GetProperty(run);
        var blocks = r.GetProperty("blocks").EnumerateArray().Select(x => x.EnumerateArray().Select(y => y.GetInt32()).ToArray()).ToArray();
        var columns = r.GetProperty("columns").EnumerateArray()
            .Select(x => x.EnumerateArray().Select(y => y.EnumerateArray().Select(z => z.GetInt64()).ToArray()).ToArray()).ToArray();
        var ps = QuadraticFixture.LoadAll(r.GetProperty("params"), k);
        var subspace = r.GetProperty("mode").GetString() switch { "svd" => FrugalSubspace.Svd, "blocks" => FrugalSubspace.Blocks, _ => FrugalSubspace.Columns };
        var rule = r.GetProperty("rule").GetString() switch { "sign_sgd" => FrugalStateFree.SignSgd, "sgd" => FrugalStateFree.Sgd, _ => FrugalStateFree.None };
        var order = r.GetProperty("order").GetString() switch
        {
            "descending" => FrugalBlockOrder.Descending, "ascending" => FrugalBlockOrder.Ascending, "mirror" => FrugalBlockOrder.Mirror, _ => FrugalBlockOrder.Random,
        };
        using var opt = new Frugal(ps.Select(b => (b.Name, b.P)), hp.GetProperty("lr").GetDouble(), hp.GetProperty("beta1").GetDouble(),
            hp.GetProperty("beta2").GetDouble(), hp.GetProperty("eps").GetDouble(), hp.GetProperty("weight_decay").GetDouble(),
            r.GetProperty("density").GetDouble(), hp.GetProperty("update_gap").GetInt64(), subspace, rule, hp.GetProperty("free_lr_scale").GetDouble(),
            // The reference's random draws (torch.randperm) are replayed; the walks (descending, ascending, mirror) are not.
            select_blocks: order == FrugalBlockOrder.Random ? x => blocks[x] : null, block_order: order,
            select_columns: (x, b) => columns[x][b]);
        // The official split: attention/MLP linear weights are projectable; embeddings, head, norms and biases regular.
        Assert.Equal(ps.Where(b => b.Json.GetProperty("projected").GetBoolean()).Select(b => b.Name),
            opt.ProjectedParameters.Select(p => ps.Single(b => ReferenceEquals(b.P, p)).Name));
        for (int t = 0; t < root.GetProperty("steps").GetInt32(); t++)
        {
            if (subspace == FrugalSubspace.Blocks && order != FrugalBlockOrder.Random && t % hp.GetProperty("update_gap").GetInt64() == 0)
            {
                var want = blocks[t / hp.GetProperty("update_gap").GetInt64()].Select(i => opt.ProjectedParameters[i]).ToHashSet(ReferenceEqualityComparer.Instance);
                Assert.True(want.SetEquals(opt.ActiveBlocks(t / hp.GetProperty("update_gap").GetInt64())), $"{run}: blocks of refresh {t / hp.GetProperty("update_gap").GetInt64()}");
            }
            QuadraticFixture.SetGradients(ps, t, k);
            opt.step();
            QuadraticFixture.CheckRecorded(ps, t + 1, 1e-4, 1e-5, "FRUGAL " + run);
        }
        // Regular parameters hold AdamW's 8 B per element; state-full projectable ones their moments (and SVD
        // projector) plus a 4-byte refresh index; inactive blocks nothing.
        Assert.Equal(r.GetProperty("state_bytes").GetInt64(), opt.StateBytes);
        Assert.True(opt.MemoryReport().Sum(x => x.Bytes) < opt.MemoryReport().Sum(x => x.AdamWBytes));
    }

    [Fact]
    public void TheDefaultSplitIsTheOfficialTargetModulesWithAFallbackToHiddenMatrices()
    {
        using var q = new Parameter(randn(8, 8));
        using var fc = new Parameter(randn(16, 8));
        using var bias = new Parameter(randn(16));
        using var emb = new Parameter(randn(10, 8));
        using var head = new Parameter(randn(10, 8));
        using (var opt = new Frugal(new[] { ("blocks.0.attn.q_proj.weight", q), ("blocks.0.mlp.fc.weight", fc), ("blocks.0.mlp.fc.bias", bias),
                   ("wte.weight", emb), ("lm_head.weight", head) }))
            Assert.Equal(new[] { q, fc }, opt.ProjectedParameters);
        // No attention/MLP names at all (an MLP classifier): hidden matrices are projectable instead.
        using var w0 = new Parameter(randn(16, 8));
        using var w1 = new Parameter(randn(4, 16));
        using (var opt = new Frugal(new[] { ("layers.0.weight", w0), ("layers.0.bias", bias), ("layers.1.weight", w1), ("head.weight", head) }))
            Assert.Equal(new[] { w0, w1 }, opt.ProjectedParameters);
        Assert.True(Frugal.IsTargetMatrix("encoder.layer.0.attention.self.query.weight", q));
        Assert.False(Frugal.IsTargetMatrix("encoder.layer.0.attention.self.query.bias", bias));
        Assert.False(Frugal.IsTargetMatrix("embed_tokens.weight", emb));
    }

    [Fact]
    public void SeededDrawsTakeTheOfficialCountsAndVisitEveryBlockAndColumn()
    {
        var ps = Enumerable.Range(0, 10).Select(i => ($"l{i}.mlp.fc.weight", new Parameter(zeros(4, 10 * (i + 1))))).ToList();
        using var opt = new Frugal(ps, density: 0.3, subspace: FrugalSubspace.Blocks, seed: 4);
        Assert.Equal(3, opt.ActiveBlockCount);   // round(0.3 · 10)
        var counts = new int[10];
        const int draws = 2000;
        for (int r = 0; r < draws; r++)
        {
            var set = opt.ActiveBlocks(r);
            Assert.Equal(3, set.Count);
            for (int i = 0; i < 10; i++) if (set.Contains(ps[i].Item2)) counts[i]++;
            Assert.True(set.SetEquals(opt.ActiveBlocks(r)), "the draw for a refresh is reproducible");
        }
        // Each block is chosen with probability 0.3 whatever its size: 600 of 2000 expected, standard deviation 20.5,
        // so [450, 750] (over 7 standard deviations) fails only for a rule that is not uniform over blocks.
        Assert.All(counts, c => Assert.InRange(c, 450, 750));
        // Columns: ⌊ρ·n⌋ distinct columns, reproducible, every column visited.
        using var col = new Frugal(ps, density: 0.3, subspace: FrugalSubspace.Columns, seed: 4);
        var seen = new HashSet<long>();
        for (int r = 0; r < 200; r++)
        {
            var c = col.ActiveColumns(r, 1);
            Assert.Equal(6, c.Length);   // ⌊0.3 · 20⌋
            Assert.Equal(6, c.Distinct().Count());
            Assert.Equal(c, col.ActiveColumns(r, 1));
            seen.UnionWith(c);
        }
        Assert.Equal(20, seen.Count);
        // Python's round: half to even (round(2.5) = 2), and rank 0 is allowed.
        using var svd = new Frugal(ps, density: 0.25);
        Assert.Equal(2, svd.RankFor(10, 12));
        Assert.Equal(2, svd.RankFor(12, 10));
        Assert.Equal(4, svd.RankFor(18, 40));   // round(4.5) = 4
        Assert.Equal(0, svd.RankFor(2, 2));     // round(0.5) = 0
    }

    [Fact]
    public void RankZeroLeavesTheWholeMatrixStateFree()
    {
        using var w = new Parameter(ones(2, 2));
        using var opt = new Frugal(new[] { ("mlp.fc.weight", w) }, lr: 0.1, density: 0.25);
        w.grad = tensor(new float[] { 1, -2, 0, 3 }).reshape(2, 2);
        opt.step();
        Assert.Equal(new float[] { 0.9f, 1.1f, 1f, 0.9f }, w.data<float>().ToArray());   // −lr·sign(G)
        Assert.Equal(4, opt.StateBytes);   // only the refresh index
    }

    [Theory]
    [InlineData(FrugalSubspace.Svd, "svd")]
    [InlineData(FrugalSubspace.Blocks, "blocks")]
    public void CheckpointsOfTheEarlierVersionLoadAndContinue(FrugalSubspace subspace, string tag)
    {
        // Golden/checkpoints/format1-frugal-*.ckpt were written by the FRUGAL of commit 238a4da (before this issue):
        // CharTransformer(13, 8, 16, 4, 1) with seed 5, lr 1e-2, λ 0.1, ρ 0.25, T 4, seed 9, after three steps. There,
        // every state-full tensor had a refresh index and blocks were drawn from every tensor.
        string fixture = Path.Combine(AppContext.BaseDirectory, "Golden", "checkpoints", $"format1-frugal-{tag}.ckpt");
        manual_seed(5);
        using var m = new CharTransformer(13, 8, 16, 4, 1);
        using var opt = new Frugal(m.named_parameters(), lr: 1e-2, weight_decay: 0.1, density: 0.25, update_gap: 4, subspace: subspace, seed: 9);
        Checkpoint.Load(fixture, opt, m);
        Assert.Equal(3, opt.StepCount);
        var projectors = opt.States.Where(s => s.TryGet("projector") is not null).ToDictionary(s => s.Name, s => s["projector"].clone());
        if (subspace == FrugalSubspace.Svd) Assert.NotEmpty(projectors);
        for (int s = 3; s < 6; s++)
        {
            opt.zero_grad();
            var x = arange(8, dtype: ScalarType.Int64).add(s).remainder(13).view(1, 8);
            m.forward(x).square().mean().backward();
            opt.step();
            if (s == 3)   // still refresh period 0: the saved projectors are used as they are
                foreach (var (name, p) in projectors)
                    Assert.True(opt.States.Single(x => x.Name == name)["projector"].eq(p).all().item<bool>(), $"{name}: projector changed before the refresh");
        }
        Assert.Equal(6, opt.StepCount);
        Assert.All(m.parameters(), p => Assert.True(p.isfinite().all().item<bool>()));
        // Regular parameters dropped the old refresh index and kept AdamW moments of their own shape.
        foreach (var st in opt.States.Where(st => !opt.ProjectedParameters.Contains(st.Parameter) && st.IsInitialized))
        {
            Assert.Null(st.TryGet("refresh"));
            Assert.Equal(st.Parameter.shape, st["exp_avg"].shape);
        }
    }

    [Fact]
    public void BadInputIsRefused()
    {
        using var w = new Parameter(randn(4, 6));
        Assert.Contains("density", Assert.Throws<ArgumentException>(() => new Frugal(new[] { ("w", w) }, density: 1.5)).Message);
        Assert.Contains("update_gap", Assert.Throws<ArgumentException>(() => new Frugal(new[] { ("w", w) }, update_gap: 0)).Message);
        Assert.Contains("free_lr_scale", Assert.Throws<ArgumentException>(() => new Frugal(new[] { ("w", w) }, free_lr_scale: -1)).Message);
        Assert.Contains("lr", Assert.Throws<ArgumentException>(() => new Frugal(new[] { ("w", w) }, lr: double.NaN)).Message);
        using var v = new Parameter(randn(5));
        Assert.Contains("'v'", Assert.Throws<ArgumentException>(() => new Frugal(new[] { ("v", v) }, split: (_, _) => true)).Message);
        // Mirror pairs blocks: round(0.25 · 4) = 1 active block is refused.
        var four = Enumerable.Range(0, 4).Select(i => ($"l{i}.mlp.fc.weight", new Parameter(randn(3, 3)))).ToList();
        Assert.Contains("Mirror", Assert.Throws<ArgumentException>(() => new Frugal(four, subspace: FrugalSubspace.Blocks, block_order: FrugalBlockOrder.Mirror)).Message);
        Assert.Contains("block_order", Assert.Throws<ArgumentException>(() => new Frugal(four, block_order: (FrugalBlockOrder)9)).Message);
        using var cols = new Frugal(four, density: 0.34, subspace: FrugalSubspace.Columns, select_columns: (_, _) => new long[] { 5 });
        Assert.Contains("select_columns", Assert.Throws<ArgumentException>(() => cols.ActiveColumns(0, 0)).Message);
    }

    [Theory]
    [InlineData(FrugalSubspace.Svd, FrugalBlockOrder.Random)]
    [InlineData(FrugalSubspace.Blocks, FrugalBlockOrder.Random)]
    [InlineData(FrugalSubspace.Blocks, FrugalBlockOrder.Descending)]
    [InlineData(FrugalSubspace.Columns, FrugalBlockOrder.Random)]
    public void ResumesBitForBitAcrossARefresh(FrugalSubspace subspace, FrugalBlockOrder order) =>
        ResumeCheck.TransformerResumesBitForBit(m => new Frugal(m.named_parameters(), lr: 1e-2, weight_decay: 0.1, density: 0.25, update_gap: 5,
            subspace: subspace, seed: 9, block_order: order), total: 14, split: 7);

    [Theory]
    [InlineData(FrugalSubspace.Svd, 0.25)]
    [InlineData(FrugalSubspace.Blocks, 0.5)]     // one of the two matrices state-full at a time
    [InlineData(FrugalSubspace.Columns, 0.25)]
    public void TrainsAnMlpOnDigits(FrugalSubspace subspace, double density)
    {
        manual_seed(3);
        using var data = Digits.Load();
        using var model = new Mlp(64, 64, 10);
        using var opt = new Frugal(model.named_parameters(), lr: 2e-3, density: density, update_gap: 50, subspace: subspace, free_lr_scale: 0.5,
            split: (n, p) => p.ndim == 2);
        ClassifierTraining.Train(model, opt, data, steps: 300, batchSize: 64, seed: 1);
        var (_, acc) = ClassifierTraining.Evaluate(model, data);
        Assert.True(acc >= 0.90, $"FRUGAL {subspace} test accuracy {acc:P1}");
    }
}
