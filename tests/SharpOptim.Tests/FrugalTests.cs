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
/// FRUGAL against tools/golden/frugal.py in both subspace modes (blocks with the fixture's selection injected), its
/// state and memory, the seeded block draw (density and statistics), bad input, resume, and digits.
/// </summary>
public class FrugalTests
{
    [Theory]
    [InlineData("svd")]
    [InlineData("block_mode")]
    public void MatchesReference(string mode)
    {
        using var doc = Golden.Load("frugal.json");
        var root = doc.RootElement;
        int k = root.GetProperty("k").GetInt32();
        var hp = root.GetProperty("hyper");
        var blocks = root.GetProperty("blocks").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray();
        var ps = QuadraticFixture.LoadAll(root.GetProperty(mode), k);
        using var opt = new Frugal(ps.Select(b => (b.Name, b.P)), hp.GetProperty("lr").GetDouble(), hp.GetProperty("beta1").GetDouble(),
            hp.GetProperty("beta2").GetDouble(), hp.GetProperty("eps").GetDouble(), hp.GetProperty("weight_decay").GetDouble(),
            hp.GetProperty("density").GetDouble(), hp.GetProperty("update_gap").GetInt64(),
            mode == "svd" ? FrugalSubspace.Svd : FrugalSubspace.Blocks, FrugalStateFree.SignSgd, hp.GetProperty("free_lr_scale").GetDouble(),
            select_blocks: r => blocks[r]);
        for (int t = 0; t < root.GetProperty("steps").GetInt32(); t++)
        {
            QuadraticFixture.SetGradients(ps, t, k);
            opt.step();
            QuadraticFixture.CheckRecorded(ps, t + 1, 1e-4, 1e-5, "FRUGAL " + mode);
        }
        // State after the last refresh (r = 2): Svd: a (16x24, rank 4, left): P 16x4 + moments 2x4x24, b (24x16, right):
        // P 4x16 + moments 2x24x4, bias and wte full Adam; each with its 4-byte refresh index. Blocks: only blocks 2 and 0.
        long expected = mode == "svd"
            ? 4 * (16 * 4 + 2 * 4 * 24) + 4 * (4 * 16 + 2 * 24 * 4) + 8 * 16 + 8 * 80 + 4 * 4
            : 8 * 16 + 8 * (16 * 24) + 2 * 4;
        Assert.Equal(expected, opt.StateBytes);
        Assert.True(opt.MemoryReport().Sum(x => x.Bytes) < opt.MemoryReport().Sum(x => x.AdamWBytes));
    }

    [Fact]
    public void SeededBlockDrawFillsTheDensityAndVisitsEveryBlock()
    {
        var ps = Enumerable.Range(0, 10).Select(i => ($"l{i}.weight", new Parameter(zeros(10 * (i + 1))))).ToList();
        using var opt = new Frugal(ps, density: 0.3, subspace: FrugalSubspace.Blocks, seed: 4);
        long total = ps.Sum(p => p.Item2.NumberOfElements);   // 550
        var counts = new int[10];
        const int draws = 2000;
        for (int r = 0; r < draws; r++)
        {
            var set = opt.ActiveBlocks(r);
            long size = set.Sum(p => p.NumberOfElements);
            Assert.True(size >= 0.3 * total, "the selected blocks hold at least the density");
            for (int i = 0; i < 10; i++) if (set.Contains(ps[i].Item2)) counts[i]++;
            Assert.True(set.SetEquals(opt.ActiveBlocks(r)), "the draw for a refresh is reproducible");
        }
        // Every block is selected a good share of the time (the smallest at least 10% of draws; a rule that never
        // picked it, or always did, would fail), and larger blocks no more often than the smallest one.
        Assert.All(counts, c => Assert.InRange(c, draws / 10, draws));
        Assert.True(counts[9] <= counts[0] + draws / 10);
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
    }

    [Theory]
    [InlineData(FrugalSubspace.Svd)]
    [InlineData(FrugalSubspace.Blocks)]
    public void ResumesBitForBitAcrossARefresh(FrugalSubspace subspace) =>
        ResumeCheck.TransformerResumesBitForBit(m => new Frugal(m.named_parameters(), lr: 1e-2, weight_decay: 0.1, density: 0.25, update_gap: 5,
            subspace: subspace, seed: 9), total: 14, split: 7);

    [Theory]
    [InlineData(FrugalSubspace.Svd)]
    [InlineData(FrugalSubspace.Blocks)]
    public void TrainsAnMlpOnDigits(FrugalSubspace subspace)
    {
        manual_seed(3);
        using var data = Digits.Load();
        using var model = new Mlp(64, 64, 10);
        using var opt = new Frugal(model.named_parameters(), lr: 2e-3, density: 0.25, update_gap: 50, subspace: subspace, free_lr_scale: 0.5,
            split: (n, p) => p.ndim == 2);
        ClassifierTraining.Train(model, opt, data, steps: 300, batchSize: 64, seed: 1);
        var (_, acc) = ClassifierTraining.Evaluate(model, data);
        Assert.True(acc >= 0.90, $"FRUGAL {subspace} test accuracy {acc:P1}");
    }
}
