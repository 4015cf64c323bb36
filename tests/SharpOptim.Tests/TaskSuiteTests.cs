using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>The compare task suite: loaders (shapes, label ranges, embedded checksums), models, batch order, trainer.</summary>
public class TaskSuiteTests
{
    [Fact]
    public void FortunesCorpusLoadsWithItsChecksumAndSplit()
    {
        var c = TextCorpus.Fortunes();
        Assert.Equal(287_648, c.Train.Length + c.Test.Length); // 287,649 UTF-8 bytes, one character of them two bytes
        Assert.Equal(258_883, c.Train.Length); // floor(0.9 * 287,648)
        Assert.Equal(c.Vocabulary.Count, c.Vocabulary.Distinct().Count());
        Assert.True(c.Vocabulary.SequenceEqual(c.Vocabulary.Order()), "vocabulary in ordinal order");
        Assert.Contains('\n', c.Vocabulary);
        Assert.Contains('%', c.Vocabulary); // the fortune separator line
        Assert.All(c.Train.Concat(c.Test), t => Assert.InRange(t, 0, c.Vocabulary.Count - 1));
        Assert.Throws<ArgumentException>(() => new TextCorpus("tiny", "too short"));
    }

    [Fact]
    public void TaskCatalogKnowsEveryTaskAndRejectsOthers()
    {
        Assert.Equal(new[] { "digits", "logreg", "charlm", "mnist10k", "mnist10k-cnn" }, TaskCatalog.Names);
        var e = Assert.Throws<ArgumentException>(() => TaskCatalog.Create("cifar"));
        Assert.Contains("digits, logreg, charlm, mnist10k, mnist10k-cnn", e.Message);
    }

    [Fact]
    public void LogregIsALinearModelOnBreastCancer()
    {
        using var task = TaskCatalog.Create("logreg");
        manual_seed(0);
        using var run = task.Start(0);
        var names = run.NamedParameters.Select(p => (p.Name, string.Join("x", p.Parameter.shape))).ToList();
        Assert.Equal(new[] { ("head.weight", "2x30"), ("head.bias", "2") }, names);
        var (logits, targets) = run.Forward();
        Assert.Equal(new long[] { 32, 2 }, logits.shape);
        Assert.Equal(new long[] { 32 }, targets.shape);
        Assert.True(targets.ge(0).all().item<bool>() && targets.le(1).all().item<bool>());
    }

    [Fact]
    public void CharTransformerHasTheNamesRoutingExpectsAndCausalOutputs()
    {
        using var task = new CharLmTask(layers: 2, dim: 32, heads: 4, blockSize: 16, batchSize: 3);
        manual_seed(0);
        using var run = task.Start(0);
        var names = run.NamedParameters.Select(p => p.Name).ToList();
        int v = task.Corpus.Vocabulary.Count;
        Assert.Equal(new[]
        {
            "wte.weight", "wpe.weight",
            "blocks.0.ln1.weight", "blocks.0.ln1.bias", "blocks.0.attn.q_proj.weight", "blocks.0.attn.k_proj.weight",
            "blocks.0.attn.v_proj.weight", "blocks.0.attn.o_proj.weight", "blocks.0.ln2.weight", "blocks.0.ln2.bias",
            "blocks.0.mlp.fc.weight", "blocks.0.mlp.fc.bias", "blocks.0.mlp.proj.weight", "blocks.0.mlp.proj.bias",
        }, names.Take(14));
        Assert.Equal(new[] { "ln_f.weight", "ln_f.bias", "lm_head.weight" }, names.TakeLast(3));
        var shapes = run.NamedParameters.ToDictionary(p => p.Name, p => p.Parameter.shape);
        Assert.Equal(new long[] { v, 32 }, shapes["wte.weight"]);
        Assert.Equal(new long[] { 16, 32 }, shapes["wpe.weight"]);
        Assert.Equal(new long[] { 128, 32 }, shapes["blocks.1.mlp.fc.weight"]);
        Assert.Equal(new long[] { v, 32 }, shapes["lm_head.weight"]);
        // Muon's routing: hidden matrices to Muon, embeddings, the head and vectors to its Adam.
        foreach (var (name, p) in run.NamedParameters)
            Assert.Equal(p.ndim == 2 && (name.Contains("_proj.") || name.Contains(".mlp.")), Muon.IsHiddenMatrix(name, p));

        var (logits, targets) = run.Forward();
        Assert.Equal(new long[] { 3 * 16, v }, logits.shape);
        Assert.Equal(new long[] { 3 * 16 }, targets.shape);
        // Causality: changing the last token leaves every earlier position's logits unchanged.
        var model = (CharTransformer)run.Model;
        model.eval();
        using var _ = no_grad();
        var x = randint(0, v, new long[] { 1, 16 });
        var y = x.clone();
        y[0, 15] = (x[0, 15] + 1) % v;
        var a = model.forward(x);
        var b = model.forward(y);
        Assert.True(a[.., ..15].allclose(b[.., ..15], rtol: 0, atol: 0));
        Assert.False(a[0, 15].allclose(b[0, 15]));
        // An untrained model's held-out loss is close to log(vocabulary) (initial logits are small).
        var e = run.Evaluate();
        Assert.InRange(e.Loss, Math.Log(v) - 0.2, Math.Log(v) + 0.2);
    }

    [Fact]
    public void BatchOrderVisitsEveryExampleOncePerEpoch()
    {
        var order = new BatchOrder(10, 3, seed: 5);
        for (int epoch = 0; epoch < 4; epoch++)
        {
            var seen = Enumerable.Range(0, 3).SelectMany(_ => order.Next()).ToList();
            Assert.Equal(9, seen.Distinct().Count());
            Assert.All(seen, i => Assert.InRange(i, 0, 9));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchOrder(10, 11, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchOrder(0, 1, 0));
    }

    [Fact]
    public void TrainerGivesSophiaItsHessianEveryTenSteps()
    {
        using var task = TaskCatalog.Create("digits");
        manual_seed(3);
        using var run = task.Start(3);
        using var opt = new Sophia(run.Model.parameters(), lr: 1e-3);
        var r = TaskTrainer.Train(run, opt, steps: 35, evalEvery: 10);
        Assert.Equal(3, opt.HessianUpdates);
        Assert.Equal(35, r.Steps);
        Assert.True(r.Completed);
        Assert.Equal(new[] { 10, 20, 30, 35 }, r.Evaluations.Select(e => e.Step));
        Assert.Equal(8 * 4810, r.StateBytes);
        Assert.All(r.GradientNorms, n => Assert.True(n > 0 && double.IsFinite(n)));
        // The Hessian estimates reuse the current batch: Sophia's run has drawn exactly 35 batches, as any other.
        using var other = task.Start(3);
        for (int i = 0; i < 35; i++) other.Forward();
        Assert.Equal(other.Forward().Targets.data<long>().ToArray(), run.Forward().Targets.data<long>().ToArray());
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var stopped = TaskTrainer.Train(run, opt, steps: 5, cancel: cts.Token);
        Assert.False(stopped.Completed);
        Assert.Equal(0, stopped.Steps);
        Assert.Empty(stopped.Evaluations);
    }

    [Fact]
    public void MnistConversionAndLayoutChecks()
    {
        // A synthetic package with the npm layout: digit d has d+1 images whose pixels are (d * 10 + i) / 255.
        using var tgz = new MemoryStream();
        using (var gz = new GZipStream(tgz, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz))
        {
            for (int d = 0; d < 10; d++)
            {
                var values = Enumerable.Range(0, (d + 1) * 784).Select(i => Math.Round((d * 10 + i % 7) / 255.0, 3));
                var json = "{ \"data\": [" + string.Join(",", values.Select(x => x.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "] }";
                var entry = new PaxTarEntry(TarEntryType.RegularFile, $"package/src/digits/{d}.json") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(json)) };
                tar.WriteEntry(entry);
            }
        }
        tgz.Position = 0;
        var bytes = Mnist10k.ConvertPackage(tgz);
        var (labels, pixels) = Mnist10k.Parse(bytes);
        Assert.Equal(55, labels.Length);
        Assert.Equal(55 * 784, pixels.Length);
        Assert.Equal(new byte[] { 0, 1, 1, 2, 2, 2 }, labels[..6]);
        Assert.Equal((byte)(9 * 10 + 3), pixels[54 * 784 + 3]); // round(255 * round(93/255, 3)) recovers 93
        Assert.Throws<InvalidDataException>(() => Mnist10k.Parse(bytes[..^1]));
        var bad = (byte[])bytes.Clone();
        bad[20] = 10; // the first label
        Assert.Throws<InvalidDataException>(() => Mnist10k.Parse(bad));
        var missing = Assert.Throws<FileNotFoundException>(() => Mnist10k.Load(Path.Combine(Path.GetTempPath(), "sharpoptim-no-such-cache")));
        Assert.Contains("sharpoptim data fetch mnist10k", missing.Message);
    }

    [Fact]
    public void SmallCnnMapsFlatImagesToClassLogits()
    {
        manual_seed(0);
        using var cnn = new SmallCnn(10);
        var names = cnn.named_parameters().Select(p => p.name).ToList();
        Assert.Equal(new[] { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias", "head.weight", "head.bias" }, names);
        Assert.Equal(new long[] { 5, 10 }, cnn.forward(rand(5, 784)).shape);
        Assert.False(Muon.IsHiddenMatrix("head.weight", cnn.named_parameters().First(p => p.name == "head.weight").parameter));
    }
}
