using System.Text;
using SharpOptim.Checkpoints;
using SharpOptim.Optimizers;
using SharpOptim.Tasks.Models;
using SharpOptim.Training;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// The checked reader reads the files the previous reader wrote (format 1 is unchanged), and the training utilities
/// that save tensors the same way (EMA, Lookahead) refuse malformed tensor headers before allocating.
/// </summary>
[Collection("checkpoint-hook")]
public sealed class CheckpointCompatibilityTests : IDisposable
{
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"sharpoptim-compat-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static OptimizerBase Make(string name, Mlp model) => name switch
    {
        "adamw-amsgrad" => new Optimizers.AdamW(model.named_parameters(), lr: 0.01, amsgrad: true),
        "muon" => new Muon(model.named_parameters(), lr: 0.02),
        _ => throw new ArgumentException(name),
    };

    /// <summary>
    /// Golden/checkpoints/format1-*.ckpt were written by SharpOptim before the checked reader (commit 01b1473): a 4-16-1
    /// MLP (seed 21) after three steps. Loading one into differently initialised objects and saving again must
    /// reproduce the file byte for byte — the reader takes in everything the old writer put out, and the writer is
    /// unchanged.
    /// </summary>
    [Theory]
    [InlineData("adamw-amsgrad")]
    [InlineData("muon")]
    public void FilesWrittenBeforeTheCheckedReaderLoadAndResaveByteForByte(string name)
    {
        string fixture = Path.Combine(AppContext.BaseDirectory, "Golden", "checkpoints", $"format1-{name}.ckpt");
        var original = File.ReadAllBytes(fixture);

        using var model = TestModels.Regression(77);
        using var opt = Make(name, model);
        Checkpoint.Load(fixture, opt, model);
        Assert.Equal(3, opt.StepCount);
        Assert.All(opt.States, s => Assert.Equal(3, s.Step));
        string again = Path.Combine(_dir, "again.ckpt");
        Checkpoint.Save(again, opt, model);
        Assert.Equal(original, File.ReadAllBytes(again));

        // The optimizer alone can be restored from a file that also holds a model (the model section is checked
        // and skipped), and ends in the same state.
        using var other = TestModels.Regression(78);
        using var optOnly = Make(name, other);
        Checkpoint.Load(fixture, optOnly);
        Assert.Equal(TestModels.StateSnapshot(opt), TestModels.StateSnapshot(optOnly));
        Assert.Equal(3, optOnly.StepCount);
    }

    /// <summary>Replaces the LEB128 field at <paramref name="at"/> (its length read from the bytes) with <paramref name="value"/>.</summary>
    private static byte[] ReplaceLeb(byte[] bytes, int at, byte[] value)
    {
        int end = at;
        while ((bytes[end] & 0x80) != 0) end++;
        return bytes[..at].Concat(value).Concat(bytes[(end + 1)..]).ToArray();
    }

    public static IEnumerable<object[]> BadHeaders() => new[]
    {
        new object[] { "dtype 200", 0, CraftedCheckpoints.Leb(200) },
        new object[] { "dtype 2^32 + 6", 0, CraftedCheckpoints.Leb((1UL << 32) + 6) },
        new object[] { "rank 2^31 - 1", 1, CraftedCheckpoints.Leb(int.MaxValue) },
        new object[] { "dim 2^40", 2, CraftedCheckpoints.Leb(1UL << 40) },
        new object[] { "dim -1", 2, Enumerable.Repeat((byte)0xFF, 9).Append((byte)0x01).ToArray() },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void EmaAndLookaheadRefuseMalformedTensorHeadersAndChangeNothing(string what, int field, byte[] value)
    {
        // The tensor header follows the fixed part: EMA: tag, updates (8), count (4), name; Lookahead: tag, k (4),
        // alpha (8), steps (8), count (4). field 0 is the dtype, 1 the rank, 2 the first dim (each one byte here).
        using var p = new Parameter(tensor(new[] { 1f, 2f, 3f }));
        using var ema = new ExponentialMovingAverage(new[] { ("w", p) }, decay: 0.5);
        var ms = new MemoryStream();
        ema.Save(new BinaryWriter(ms));
        var saved = ms.ToArray();
        int emaHeader = 1 + "SharpOptim.EMA".Length + 8 + 4 + 1 + 1;
        var bad = ReplaceLeb(saved, emaHeader + field, value);
        using var q = new Parameter(tensor(new[] { 7f, 8f, 9f }));
        using var target = new ExponentialMovingAverage(new[] { ("w", q) }, decay: 0.5);
        var e = Assert.Throws<InvalidDataException>(() => target.Load(new BinaryReader(new MemoryStream(bad))));
        Assert.True(e.Message.Contains("EMA", StringComparison.Ordinal), $"{what}: {e.Message}");
        Assert.Equal(new[] { 7f, 8f, 9f }, target["w"].data<float>().ToArray());
        Assert.Equal(0, target.Updates);
        // Unaltered, the same bytes load (the offsets above point at the real header).
        target.Load(new BinaryReader(new MemoryStream(saved)));
        Assert.Equal(new[] { 1f, 2f, 3f }, target["w"].data<float>().ToArray());

        using var la = new Lookahead(new Optimizers.SGD(new[] { new Parameter(tensor(new[] { 1f, 2f, 3f })) }, lr: 0.1), k: 3, alpha: 0.5);
        ms = new MemoryStream();
        la.Save(new BinaryWriter(ms));
        saved = ms.ToArray();
        int laHeader = 1 + Encoding.UTF8.GetByteCount("SharpOptim.Lookahead") + 4 + 8 + 8 + 4;
        bad = ReplaceLeb(saved, laHeader + field, value);
        using var other = new Lookahead(new Optimizers.SGD(new[] { new Parameter(tensor(new[] { 5f, 5f, 5f })) }, lr: 0.1), k: 3, alpha: 0.5);
        e = Assert.Throws<InvalidDataException>(() => other.Load(new BinaryReader(new MemoryStream(bad))));
        Assert.True(e.Message.Contains("Lookahead", StringComparison.Ordinal), $"{what}: {e.Message}");
        Assert.Equal(new[] { 5f, 5f, 5f }, other.SlowWeights[0].data<float>().ToArray());
        other.Load(new BinaryReader(new MemoryStream(saved)));
        Assert.Equal(new[] { 1f, 2f, 3f }, other.SlowWeights[0].data<float>().ToArray());
    }
}
