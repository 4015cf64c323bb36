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
/// Adam-mini against tools/golden/adam_mini.py (a reference of the official step, itself checked bit for bit
/// against the official Adam_mini 1.1.1 on the same problem), its partition of the task suite's transformer, its
/// state (at most 51% of AdamW's on that transformer, the exact count asserted), bad input, resume, and digits.
/// </summary>
public class AdamMiniTests
{
    [Fact]
    public void MatchesReference()
    {
        using var doc = Golden.Load("adam_mini.json");
        var root = doc.RootElement;
        int k = root.GetProperty("k").GetInt32();
        var hp = root.GetProperty("hyper");
        var ps = QuadraticFixture.LoadAll(root.GetProperty("params"), k);
        using var opt = new AdamMini(ps.Select(b => (b.Name, b.P)), hp.GetProperty("lr").GetDouble(), hp.GetProperty("beta1").GetDouble(),
            hp.GetProperty("beta2").GetDouble(), hp.GetProperty("eps").GetDouble(), hp.GetProperty("weight_decay").GetDouble(),
            dim: root.GetProperty("dim").GetInt64(), n_heads: root.GetProperty("n_heads").GetInt64(), n_kv_heads: root.GetProperty("n_kv_heads").GetInt64());
        foreach (var b in ps)
        {
            var (kind, blocks) = opt.Partition[b.Name];
            Assert.Equal(b.Json.GetProperty("kind").GetString(), kind.ToString().ToLowerInvariant());
            Assert.Equal(b.Json.GetProperty("blocks").GetInt64(), blocks);
        }
        for (int t = 0; t < root.GetProperty("steps").GetInt32(); t++)
        {
            QuadraticFixture.SetGradients(ps, t, k);
            opt.step();
            QuadraticFixture.CheckRecorded(ps, t + 1, 1e-5, 1e-6, "Adam-mini");
        }
        var states = opt.States.ToDictionary(s => s.Name);
        foreach (var b in ps)
        {
            Approx.AllClose(b.Json.GetProperty("exp_avg").Floats(), states[b.Name]["exp_avg"].data<float>().ToArray(), 1e-5, 1e-6, $"Adam-mini {b.Name} exp_avg");
            Approx.AllClose(b.Json.GetProperty("exp_avg_sq").Floats(), states[b.Name]["exp_avg_sq"].data<float>().ToArray(), 1e-5, 1e-7, $"Adam-mini {b.Name} exp_avg_sq");
        }
        Assert.Equal(ps.Sum(b => 4 * b.P.NumberOfElements + 4 * b.Json.GetProperty("blocks").GetInt64()), opt.StateBytes);
    }

    [Fact]
    public void PartitionsTheCharTransformerAndHoldsAboutHalfOfAdamWsState()
    {
        const int v = 96, ctx = 64, d = 128, heads = 4, layers = 4;
        manual_seed(0);
        using var model = new CharTransformer(v, ctx, d, heads, layers);
        using var opt = new AdamMini(model.named_parameters(), dim: d, n_heads: heads);
        var part = opt.Partition;
        Assert.Equal((AdamMiniBlock.Row, v), part["wte.weight"]);
        Assert.Equal((AdamMiniBlock.Tensor, 1L), part["wpe.weight"]);   // "wpe" is not among the official embedding names
        Assert.Equal((AdamMiniBlock.Head, (long)heads), part["blocks.2.attn.q_proj.weight"]);
        Assert.Equal((AdamMiniBlock.Head, (long)heads), part["blocks.2.attn.k_proj.weight"]);
        Assert.Equal((AdamMiniBlock.Row, (long)d), part["blocks.2.attn.v_proj.weight"]);
        Assert.Equal((AdamMiniBlock.Row, (long)d), part["blocks.2.attn.o_proj.weight"]);
        Assert.Equal((AdamMiniBlock.Row, 4L * d), part["blocks.2.mlp.fc.weight"]);
        Assert.Equal((AdamMiniBlock.Entry, 4L * d), part["blocks.2.mlp.fc.bias"]);
        Assert.Equal((AdamMiniBlock.Row, (long)d), part["blocks.2.mlp.proj.weight"]);
        Assert.Equal((AdamMiniBlock.Tensor, 1L), part["blocks.2.ln1.weight"]);
        Assert.Equal((AdamMiniBlock.Entry, (long)d), part["ln_f.bias"]);
        Assert.Equal((AdamMiniBlock.Row, (long)v), part["lm_head.weight"]);

        foreach (var p in model.parameters()) p.grad = ones_like(p);
        opt.step();
        // m for every entry (4 B) plus one float per block: worked out by hand from the shapes.
        long perLayer =
            4 * (d + 1) + 4 * (d + d)                       // ln1: gain (one block), bias (per entry)
            + 2 * (4L * d * d + 4 * heads)                  // q, k: per head
            + 2 * (4L * d * d + 4 * d)                      // v, o: per row
            + 4 * (d + 1) + 4 * (d + d)                     // ln2
            + (4L * 4 * d * d + 4 * 4 * d) + 4 * (4 * d + 4 * d)   // fc weight (rows), fc bias (entries)
            + (4L * 4 * d * d + 4 * d) + 4 * (d + d);       // proj weight (rows), proj bias (entries)
        long expected = (4L * v * d + 4 * v) + (4L * ctx * d + 4) + layers * perLayer + 4 * (d + 1) + 4 * (d + d) + (4L * v * d + 4 * v);
        Assert.Equal(expected, opt.StateBytes);
        long n = model.parameters().Sum(p => p.NumberOfElements);
        Assert.Equal(824_064, n);
        Assert.Equal(3_326_376, expected);   // 50.46% of AdamW's 6,592,512 B
        Assert.True(expected <= 0.51 * 8 * n, $"Adam-mini state {expected} B is {expected / (8.0 * n):P2} of AdamW's {8 * n} B");
    }

    [Fact]
    public void BadInputIsRefusedBeforeAnyState()
    {
        using var q = new Parameter(randn(8, 8));
        var noDim = Assert.Throws<ArgumentException>(() => new AdamMini(new[] { ("attn.q_proj.weight", q) }));
        Assert.Contains("attn.q_proj.weight", noDim.Message);
        Assert.Contains("dim", noDim.Message);
        var notMultiple = Assert.Throws<ArgumentException>(() => new AdamMini(new[] { ("attn.q_proj.weight", q) }, dim: 6, n_heads: 4));
        Assert.Contains("head size", notMultiple.Message);
        Assert.Contains("n_kv_heads", Assert.Throws<ArgumentException>(() => new AdamMini(new[] { ("w", q) }, dim: 8, n_heads: 4, n_kv_heads: 3)).Message);
        Assert.Contains("lr", Assert.Throws<ArgumentException>(() => new AdamMini(new[] { ("w", q) }, lr: -1)).Message);
        Assert.Contains("beta1", Assert.Throws<ArgumentException>(() => new AdamMini(new[] { ("w", q) }, beta1: 1)).Message);
        Assert.Contains("eps", Assert.Throws<ArgumentException>(() => new AdamMini(new[] { ("w", q) }, eps: -1e-8)).Message);
        // The override takes precedence over the name rule.
        using var o = new AdamMini(new[] { ("attn.q_proj.weight", q) }, partition: (_, _) => AdamMiniBlock.Entry);
        Assert.Equal((AdamMiniBlock.Entry, 64L), o.Partition["attn.q_proj.weight"]);
    }

    [Fact]
    public void HeadsFollowDimAndNHeadsUnderGroupedQueryAttention()
    {
        // dim 8, 4 query heads (dim²/n_heads = 16 entries per head block), 2 key/value heads: k_proj is [4, 8], so
        // it holds 2 head blocks; v_proj is one block per output neuron. Names are matched lower-cased, "bias" first.
        using var q = new Parameter(zeros(8, 8));
        using var k = new Parameter(zeros(4, 8));
        using var v = new Parameter(zeros(4, 8));
        using var gqa = new AdamMini(new[] { ("attn.wq.weight", q), ("attn.wk.weight", k), ("attn.wv.weight", v) }, dim: 8, n_heads: 4, n_kv_heads: 2);
        Assert.Equal((AdamMiniBlock.Head, 4L), gqa.Partition["attn.wq.weight"]);
        Assert.Equal((AdamMiniBlock.Head, 2L), gqa.Partition["attn.wk.weight"]);
        Assert.Equal((AdamMiniBlock.Row, 4L), gqa.Partition["attn.wv.weight"]);
        Assert.Equal(AdamMiniBlock.Entry, AdamMini.Classify("Attn.Q_PROJ.Bias"));
        Assert.Equal(AdamMiniBlock.Head, AdamMini.Classify("Attn.Q_PROJ.Weight"));
        Assert.Equal(AdamMiniBlock.Row, AdamMini.Classify("model.Embed_Tokens.weight"));
        Assert.False(AdamMini.Decays("model.final_LayerNorm.weight"));
        Assert.True(AdamMini.Decays("wte.weight"));
    }

    [Fact]
    public void RunsInFloat64WithStateInTheParameterDtype()
    {
        using var w = new Parameter(randn(6, 4, dtype: ScalarType.Float64));
        using var ln = new Parameter(randn(4, dtype: ScalarType.Float64));
        using var opt = new AdamMini(new[] { ("mlp.fc.weight", w), ("ln.weight", ln) });
        w.grad = randn(6, 4, dtype: ScalarType.Float64);
        ln.grad = randn(4, dtype: ScalarType.Float64);
        var before = w.detach().clone();
        opt.step();
        Assert.All(opt.States.SelectMany(s => s.Tensors), kv => Assert.Equal(ScalarType.Float64, kv.Value.dtype));
        Assert.Equal(8 * (24 + 6) + 8 * (4 + 1), opt.StateBytes);
        // First step: m = 0.1 g and v_row = 0.001 mean_row(g²), so after bias correction the update is
        // lr · g / (√mean_row(g²) + ε): computed here in float64 independently of the optimizer's code path.
        var g = w.grad!;
        var want = before - 1e-3 * g / (g.square().mean(new long[] { 1 }, keepdim: true).sqrt() + 1e-8);
        Assert.True(w.allclose(want, rtol: 1e-12, atol: 1e-14));
    }

    [Fact]
    public void ACheckpointWithAnotherPartitionIsRefused()
    {
        string dir = Directory.CreateTempSubdirectory("sharpoptim-adam-mini-").FullName;
        try
        {
            var w = new Parameter(randn(6, 4));
            string path = Path.Combine(dir, "m.ckpt");
            using (var rows = new AdamMini(new[] { ("mlp.fc.weight", w) }))
            {
                w.grad = randn(6, 4);
                rows.step();
                Checkpoint.Save(path, rows);
            }
            using var whole = new AdamMini(new[] { ("w", w) });   // one block for the tensor
            var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path, whole));
            Assert.Contains("exp_avg_sq", e.Message);
            Assert.Equal(0, whole.StateBytes);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ResumesBitForBitFromACheckpoint() =>
        ResumeCheck.TransformerResumesBitForBit(m => new AdamMini(m.named_parameters(), lr: 1e-2, weight_decay: 0.1, dim: 16, n_heads: 4), total: 20, split: 10);

    [Fact]
    public void TrainsAnMlpOnDigits()
    {
        manual_seed(3);
        using var data = Digits.Load();
        using var model = new Mlp(64, 64, 10);
        using var opt = new AdamMini(model.named_parameters(), lr: 3e-3);
        ClassifierTraining.Train(model, opt, data, steps: 300, batchSize: 64, seed: 1);
        var (_, acc) = ClassifierTraining.Evaluate(model, data);
        Assert.True(acc >= 0.90, $"Adam-mini test accuracy {acc:P1}");
    }
}
