using System.Buffers.Binary;
using System.Text;
using SharpOptim.Cli.Commands;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Training;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>TensorBoard event files read back by an independent reader: TFRecord framing with masked CRC-32C
/// (bitwise CRC here, not the library's), the Event/Summary protocol buffers decoded field by field, tags and values.</summary>
[Collection("kernel-threads")]
public sealed class TensorBoardLogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpoptim-tb-test-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private sealed record Event(double WallTime, long Step, string? FileVersion, List<(string Tag, float Value)> Values);

    // CRC-32C, reflected polynomial 0x82F63B78, bit by bit.
    private static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }

    private static uint Masked(ReadOnlySpan<byte> data)
    {
        uint c = Crc32C(data);
        return unchecked(((c >> 15) | (c << 17)) + 0xa282ead8u);
    }

    private static List<Event> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var events = new List<Event>();
        int at = 0;
        while (at < bytes.Length)
        {
            Assert.True(bytes.Length - at >= 16, "truncated record");
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            Assert.Equal(Masked(bytes.AsSpan(at, 8)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)));
            var data = bytes.AsSpan(at + 12, (int)length);
            Assert.Equal(Masked(data), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)));
            events.Add(Decode(data.ToArray()));
            at += 16 + (int)length;
        }
        return events;
    }

    private static ulong Varint(byte[] b, ref int i)
    {
        ulong v = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte x = b[i++];
            v |= (ulong)(x & 0x7F) << shift;
            if (x < 0x80) return v;
        }
    }

    private static IEnumerable<(int Field, int Wire, ulong Number, byte[] Bytes)> Fields(byte[] b)
    {
        int i = 0;
        while (i < b.Length)
        {
            ulong key = Varint(b, ref i);
            int field = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0: yield return (field, wire, Varint(b, ref i), Array.Empty<byte>()); break;
                case 1: yield return (field, wire, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(i)), Array.Empty<byte>()); i += 8; break;
                case 5: yield return (field, wire, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(i)), Array.Empty<byte>()); i += 4; break;
                case 2:
                    int n = (int)Varint(b, ref i);
                    yield return (field, wire, 0, b[i..(i + n)]);
                    i += n;
                    break;
                default: throw new InvalidDataException($"wire type {wire}");
            }
        }
    }

    private static Event Decode(byte[] data)
    {
        double wall = 0;
        long step = 0;
        string? version = null;
        var values = new List<(string, float)>();
        foreach (var f in Fields(data))
        {
            if (f.Field == 1 && f.Wire == 1) wall = BitConverter.Int64BitsToDouble((long)f.Number);
            else if (f.Field == 2 && f.Wire == 0) step = (long)f.Number;
            else if (f.Field == 3 && f.Wire == 2) version = Encoding.UTF8.GetString(f.Bytes);
            else if (f.Field == 5 && f.Wire == 2)
                foreach (var v in Fields(f.Bytes).Where(x => x.Field == 1))
                {
                    string tag = "";
                    float value = float.NaN;
                    foreach (var g in Fields(v.Bytes))
                        if (g.Field == 1) tag = Encoding.UTF8.GetString(g.Bytes);
                        else if (g.Field == 2 && g.Wire == 5) value = BitConverter.Int32BitsToSingle((int)g.Number);
                    values.Add((tag, value));
                }
        }
        return new Event(wall, step, version, values);
    }

    [Fact]
    public void TheCrcIsCastagnolisAndTheMaskIsTfRecords()
    {
        Assert.Equal(0xE3069283u, Crc32C("123456789"u8));   // the standard CRC-32C check value
        Assert.Equal(Masked("123456789"u8), TensorBoardLog.MaskedCrc32C("123456789"u8));
        Assert.Equal(Masked(Array.Empty<byte>()), TensorBoardLog.MaskedCrc32C(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void ScalarsReadBackWithTheirTagsStepsValuesAndWallTime()
    {
        double t = 1_700_000_000.25;
        string file;
        using (var log = new TensorBoardLog(Path.Combine(_dir, "run"), () => t += 0.5))
        {
            file = log.FilePath;
            log.Scalar("loss", 2.5, 0);
            log.Scalar("loss", 1.25, 1);
            log.Scalar("accuracy/test", 0.875, 300);
            log.Scalar("big step", -3, 5_000_000_000);
        }
        Assert.StartsWith("events.out.tfevents.", Path.GetFileName(file));
        var events = Read(file);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.Empty(events[0].Values);
        Assert.Equal(new (string, float)[] { ("loss", 2.5f) }, events[1].Values);
        Assert.Equal(0, events[1].Step);
        Assert.Equal(new (string, float)[] { ("loss", 1.25f) }, events[2].Values);
        Assert.Equal(1, events[2].Step);
        Assert.Equal(("accuracy/test", 0.875f), events[3].Values.Single());
        Assert.Equal(300, events[3].Step);
        Assert.Equal(5_000_000_000, events[4].Step);
        Assert.Equal(-3f, events[4].Values.Single().Value);
        // The first clock reading names the file (…tfevents.1700000000.…); each event then reads it once.
        Assert.Contains(".tfevents.1700000000.", Path.GetFileName(file));
        Assert.Equal(new[] { 1_700_000_001.25, 1_700_000_001.75, 1_700_000_002.25, 1_700_000_002.75, 1_700_000_003.25 }, events.Select(e => e.WallTime));
    }

    [Fact]
    public void ATrainingRunLogsLossLearningRateGradientNormAndStateEveryStep()
    {
        using var task = TaskCatalog.Create("logreg");
        manual_seed(3);
        using var run = task.Start(0);
        using var opt = OptimizerCatalog.Get("adamw").Create(run.NamedParameters, new Dictionary<string, double> { ["lr"] = 0.01 });
        string dir = Path.Combine(_dir, "adamw", "seed0");
        RunResult r;
        using (var log = new TensorBoardLog(dir))
            r = TaskTrainer.Train(run, opt, 12, evalEvery: 5, tensorboard: log);
        var events = Read(Directory.GetFiles(dir).Single()).Skip(1).ToList();
        float[] Tag(string tag) => events.Where(e => e.Values.Any(v => v.Tag == tag)).Select(e => e.Values.Single().Value).ToArray();
        long[] Steps(string tag) => events.Where(e => e.Values.Any(v => v.Tag == tag)).Select(e => e.Step).ToArray();
        Assert.Equal(r.Losses.Select(x => (float)x), Tag("loss"));
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), Steps("loss"));
        Assert.Equal(r.GradientNorms.Select(x => (float)x), Tag("grad_norm"));
        Assert.All(Tag("lr"), lr => Assert.Equal(0.01f, lr));
        Assert.Equal((float)opt.StateBytes, Tag("state_bytes")[^1]);
        Assert.Equal(new long[] { 5, 10, 12 }, Steps("eval_loss"));
        Assert.Equal(r.Evaluations.Select(e => (float)e.Loss), Tag("eval_loss"));
    }

    [Fact]
    public void CompareWritesOneRunFolderPerOptimizerAndSeed()
    {
        string tb = Path.Combine(_dir, "tb");
        var (code, _, err) = CliTests.Run("compare", "--task", "logreg", "--optimizers", "sgd,adamw", "--steps", "8", "--seeds", "2",
            "--out", Path.Combine(_dir, "out"), "--tensorboard", tb, "--no-progress");
        Assert.True(code == 0, err);
        foreach (var run in new[] { "sgd/seed0", "sgd/seed1", "adamw/seed0", "adamw/seed1" })
        {
            var events = Read(Directory.GetFiles(Path.Combine(tb, run)).Single());
            Assert.Equal(8, events.Count(e => e.Values.Any(v => v.Tag == "loss")));
        }
    }
}
