using System.Diagnostics;
using SharpOptim.Checkpoints;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>
/// Temporary files of interrupted saves: named for their target and process, removed by a later save once their
/// process has exited (and they have sat unwritten for <see cref="AtomicFile.StaleAfter"/>), and nothing else removed
/// — not a running process's temporary, not another target's, not a look-alike.
/// </summary>
[Collection("checkpoint-hook")]
public sealed class CheckpointTemporaryFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"sharpoptim-tmpfiles-{Guid.NewGuid():N}")).FullName;
    private readonly List<Process> _children = new();

    public void Dispose()
    {
        foreach (var c in _children)
        {
            if (!c.HasExited) c.Kill();
            c.WaitForExit();
            c.Dispose();
        }
        Directory.Delete(_dir, recursive: true);
    }

    private string P(string name) => Path.Combine(_dir, name);

    /// <summary>The id of a process that has run and exited (and been reaped, so it is not even a zombie).</summary>
    private static int DeadPid()
    {
        using var p = Process.Start(new ProcessStartInfo("sh", "-c true") { UseShellExecute = false })!;
        p.WaitForExit();
        int pid = p.Id;
        Assert.Throws<ArgumentException>(() => Process.GetProcessById(pid));
        return pid;
    }

    private int LiveChildPid()
    {
        var p = Process.Start(new ProcessStartInfo("sleep", "120") { UseShellExecute = false })!;
        _children.Add(p);
        return p.Id;
    }

    /// <summary>32 lowercase hex digits, distinct per seed (the random part of a temporary's name).</summary>
    private static string Hex(int seed) => string.Concat(Enumerable.Repeat(seed.ToString("x8", System.Globalization.CultureInfo.InvariantCulture), 4));

    /// <summary>Creates a file (or directory) with some bytes, last written an hour ago unless told otherwise.</summary>
    private string Make(string name, bool old = true, bool directory = false)
    {
        string path = P(name);
        if (directory) Directory.CreateDirectory(path);
        else File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        if (old)
        {
            if (directory) Directory.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-1));
            else File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-1));
        }
        return path;
    }

    [Fact]
    public void ATemporaryIsNamedForItsTargetAndProcess()
    {
        string tmp = AtomicFile.NewTemporaryPath(P("run.ckpt"));
        string name = Path.GetFileName(tmp);
        Assert.Equal(_dir, Path.GetDirectoryName(tmp));
        Assert.StartsWith($".run.ckpt.{Environment.ProcessId}.", name, StringComparison.Ordinal);
        Assert.EndsWith(".sharpoptim-tmp", name, StringComparison.Ordinal);
        Assert.Matches("^\\.run\\.ckpt\\.[0-9]+\\.[0-9a-f]{32}\\.sharpoptim-tmp$", name);
        Assert.NotEqual(tmp, AtomicFile.NewTemporaryPath(P("run.ckpt")));
    }

    [Fact]
    public void SaveRemovesOnlyTheStaleTemporariesOfItsTarget()
    {
        int dead = DeadPid(), child = LiveChildPid(), self = Environment.ProcessId;
        string stale = Make($".run.ckpt.{dead}.{Hex(1)}.sharpoptim-tmp");
        string staleLegacy = Make($".run.ckpt.{dead}.{Hex(2)}.tmp");          // the name checkpoints used before
        var kept = new[]
        {
            Make($".run.ckpt.{dead}.{Hex(3)}.sharpoptim-tmp", old: false),     // dead owner, but written just now
            Make($".run.ckpt.{self}.{Hex(4)}.sharpoptim-tmp"),                 // this process: a save may be running
            Make($".run.ckpt.{child}.{Hex(5)}.sharpoptim-tmp"),                // a running process's save
            Make($".other.ckpt.{dead}.{Hex(6)}.sharpoptim-tmp"),               // another target's
            Make($".run.ckpt.5.{dead}.{Hex(7)}.sharpoptim-tmp"),               // target "run.ckpt.5"
            Make($".run.ckpt.{dead}.{Hex(0xABCDEF).ToUpperInvariant()}.sharpoptim-tmp"),   // upper-case hex
            Make($".run.ckpt.{dead}.{Hex(9)}.sharpoptim-tmp.bak"),
            Make($".run.ckpt.{dead}.{Hex(10)[..31]}.sharpoptim-tmp"),
            Make($"run.ckpt.{dead}.{Hex(11)}.sharpoptim-tmp"),                  // no leading dot
            Make($".run.ckpt.x{dead}.{Hex(12)}.sharpoptim-tmp"),
            Make($".run.ckpt.{dead}.{Hex(13)}.partial"),
            Make($".run.ckpt.{dead}.{Hex(14)}.sharpoptim-tmp", directory: true),
            Make("run.ckpt.bak"),
        };

        using var model = TestModels.Regression(31);
        using var opt = new Optimizers.AdamW(model.named_parameters(), lr: 0.01);
        TestModels.TrainStep(model, opt, TestModels.Batch());
        Checkpoint.Save(P("run.ckpt"), opt, model);

        Assert.False(File.Exists(stale));
        Assert.False(File.Exists(staleLegacy));
        foreach (var k in kept) Assert.True(File.Exists(k) || Directory.Exists(k), $"{Path.GetFileName(k)} was removed");
        var expected = kept.Append(P("run.ckpt")).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, Directory.GetFileSystemEntries(_dir).Order(StringComparer.Ordinal).ToArray());

        // Once the child exits and its temporary has sat unwritten, the next save removes it as well.
        _children[0].Kill();
        _children[0].WaitForExit();
        Assert.Equal(new[] { P($".run.ckpt.{child}.{Hex(5)}.sharpoptim-tmp") }, AtomicFile.RemoveStaleTemporaries(P("run.ckpt")));

        using var fresh = TestModels.Regression(32);
        using var optFresh = new Optimizers.AdamW(fresh.named_parameters(), lr: 0.01);
        Checkpoint.Load(P("run.ckpt"), optFresh, fresh);
        Assert.Equal(1, optFresh.StepCount);
    }

    [Fact]
    public void AtomicWriteRemovesTheStaleTemporariesOfItsTarget()
    {
        int dead = DeadPid();
        string stale = Make($".results.json.{dead}.{Hex(21)}.sharpoptim-tmp");
        string other = Make($".results.csv.{dead}.{Hex(22)}.sharpoptim-tmp");
        AtomicFile.Write(P("results.json"), s => s.Write("{}"u8));
        Assert.Equal("{}", File.ReadAllText(P("results.json")));
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(other));
        Assert.Equal(new[] { other, P("results.json") }.Order(StringComparer.Ordinal), Directory.GetFiles(_dir).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ASaveKilledMidwayLeavesThePreviousCheckpointLoadableAndItsTemporaryGoesWithTheNextSave()
    {
        using var model = TestModels.Regression(33);
        using var opt = new Optimizers.AdamW(model.named_parameters(), lr: 0.01);
        var batch = TestModels.Batch();
        TestModels.TrainStep(model, opt, batch);
        Checkpoint.Save(P("run.ckpt"), opt, model);
        var good = File.ReadAllBytes(P("run.ckpt"));

        // What a save killed partway leaves: the target untouched and, beside it, the first part of the new file
        // under the dead process's temporary name (a kill runs no cleanup, so nothing else happens).
        TestModels.TrainStep(model, opt, batch);
        Checkpoint.Save(P("next.ckpt"), opt, model);
        var next = File.ReadAllBytes(P("next.ckpt"));
        File.Delete(P("next.ckpt"));
        string partial = P($".run.ckpt.{DeadPid()}.{Hex(41)}.sharpoptim-tmp");
        File.WriteAllBytes(partial, next[..(next.Length / 2)]);
        File.SetLastWriteTimeUtc(partial, DateTime.UtcNow.AddHours(-1));

        Assert.Equal(good, File.ReadAllBytes(P("run.ckpt")));
        using (var m1 = TestModels.Regression(34))
        using (var o1 = new Optimizers.AdamW(m1.named_parameters(), lr: 0.01))
        {
            Checkpoint.Load(P("run.ckpt"), o1, m1);
            Assert.Equal(1, o1.StepCount);
        }
        // The partial file itself is rejected as a checkpoint (its trailer is missing), not loaded.
        using (var m2 = TestModels.Regression(35))
        using (var o2 = new Optimizers.AdamW(m2.named_parameters(), lr: 0.01))
            Assert.Throws<InvalidDataException>(() => Checkpoint.Load(partial, o2, m2));

        TestModels.TrainStep(model, opt, batch);
        Checkpoint.Save(P("run.ckpt"), opt, model);
        Assert.False(File.Exists(partial));
        Assert.Equal(new[] { P("run.ckpt") }, Directory.GetFileSystemEntries(_dir));
    }
}
