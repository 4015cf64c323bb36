using System.Diagnostics;
using SharpOptim.Checkpoints;
using SharpOptim.Optimizers;
using SharpOptim.Tasks.Models;
using Xunit;
using Xunit.Abstractions;

namespace SharpOptim.Tests;

/// <summary>
/// Malformed checkpoints whose length and SHA-256 trailer are correct (see <see cref="CraftedCheckpoints"/>): every
/// one must either load (a change that still spells a valid checkpoint) or throw exactly
/// <see cref="InvalidDataException"/>, change nothing when it throws, and never allocate more than the file could
/// hold. These loads run in-process because the reader validates every dtype, rank, dim and count against the
/// bytes left in the file before libtorch is asked to allocate anything; before that validation, such files crashed
/// the process (SIGSEGV) or grew it to tens of gigabytes.
/// </summary>
[Collection("checkpoint-hook")]
public sealed class CheckpointCraftedFileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"sharpoptim-crafted-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static OptimizerBase Make(string name, Mlp model) => name switch
    {
        "adamw" => new Optimizers.AdamW(model.named_parameters(), lr: 0.01, amsgrad: true),
        "muon" => new Muon(model.named_parameters(), lr: 0.02),
        _ => throw new ArgumentException(name),
    };

    /// <summary>Peak virtual size and peak resident size of this process (Linux), in bytes.</summary>
    private static (long VmPeak, long VmHwm) Peaks()
    {
        long Read(string key)
        {
            var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(key, StringComparison.Ordinal));
            return long.Parse(line[key.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        return OperatingSystem.IsLinux() ? (Read("VmPeak:"), Read("VmHWM:")) : (0, 0);
    }

    [Theory]
    [InlineData("adamw")]
    [InlineData("muon")]
    public void EveryCraftedFileLoadsOrThrowsInvalidDataExceptionAndChangesNothing(string name)
    {
        using var model = TestModels.Regression(21);
        using var opt = Make(name, model);
        var batch = TestModels.Batch();
        for (int i = 0; i < 3; i++) TestModels.TrainStep(model, opt, batch);
        string original = Path.Combine(_dir, "original.ckpt");
        Checkpoint.Save(original, opt, model);
        var file = File.ReadAllBytes(original);
        var cases = CraftedCheckpoints.Generate(file, opt);
        // The generator's own parse must cover the file, and the set must be the systematic one, not a handful.
        Assert.True(cases.Count > 3000, $"only {cases.Count} crafted files");

        // Through the stream entry point that Load(path) uses after opening the file: the same checks, no disk.
        const string path = "crafted.ckpt";
        int loaded = 0, rejected = 0;
        var unexpected = new List<string>();
        var peaks0 = Peaks();
        long worstAllocation = 0;
        var clock = Stopwatch.StartNew();
        foreach (var c in cases)
        {
            using var stream = new MemoryStream(c.File, writable: false);
            var parameters = TestModels.Snapshot(model.parameters());
            var state = TestModels.StateSnapshot(opt);
            long steps = opt.StepCount;
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                Checkpoint.Load(stream, path, opt, model);
                loaded++;
            }
            catch (InvalidDataException e)
            {
                rejected++;
                if (!e.Message.Contains("crafted.ckpt", StringComparison.Ordinal)) unexpected.Add($"{c.Name}: message does not name the file: {e.Message}");
                if (!TestModels.Snapshot(model.parameters()).Zip(parameters).All(x => x.First.SequenceEqual(x.Second)) ||
                    !TestModels.StateSnapshot(opt).Zip(state).All(x => x.First.SequenceEqual(x.Second)) || opt.StepCount != steps)
                    unexpected.Add($"{c.Name}: the failed load changed the model or the optimizer");
            }
#pragma warning disable CA1031 // Every other exception type is the failure this test looks for.
            catch (Exception e)
#pragma warning restore CA1031
            {
                unexpected.Add($"{c.Name}: {e.GetType().Name}: {e.Message}");
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            worstAllocation = Math.Max(worstAllocation, allocated);
            // The hash buffer (at most 64 KiB), the names, the model's state dict, and a few copies of what the file
            // holds: anything beyond that was sized by a number read from the file, not by its length.
            if (allocated > (1 << 20) + 8L * c.File.Length) unexpected.Add($"{c.Name}: allocated {allocated} bytes for a {c.File.Length}-byte file");
        }
        clock.Stop();
        var peaks1 = Peaks();
        output.WriteLine($"{name}: {cases.Count} crafted files of ~{file.Length} bytes: {loaded} loaded, {rejected} rejected, {unexpected.Count} wrong, " +
                         $"{clock.Elapsed.TotalSeconds:F1} s; worst managed allocation {worstAllocation} bytes; VmPeak +{(peaks1.VmPeak - peaks0.VmPeak) >> 20} MiB, VmHWM +{(peaks1.VmHwm - peaks0.VmHwm) >> 20} MiB");
        foreach (var g in unexpected.GroupBy(u => u.Split(": ")[1]).OrderByDescending(g => g.Count()))
            output.WriteLine($"  {g.Count()} x {g.Key}, e.g. {g.First()}");
        Assert.True(unexpected.Count == 0, $"{unexpected.Count} of {cases.Count} crafted files went wrong; first: {string.Join(" | ", unexpected.Take(5))}");
        Assert.True(rejected > loaded, $"{rejected} rejected, {loaded} loaded");
        // A tensor sized by a crafted dim (2^31 elements and up) that reached libtorch would map gigabytes of address
        // space, even if never touched; the files here are a few kilobytes, so neither peak may move by much. (The
        // allowance covers thread stacks and allocator arenas the runtime may add meanwhile.)
        Assert.True(peaks1.VmPeak - peaks0.VmPeak < 1L << 30, $"peak virtual size grew by {(peaks1.VmPeak - peaks0.VmPeak) >> 20} MiB");
        Assert.True(peaks1.VmHwm - peaks0.VmHwm < 256L << 20, $"peak resident size grew by {(peaks1.VmHwm - peaks0.VmHwm) >> 20} MiB");

        // The untouched file still loads and restores the saved run.
        Checkpoint.Load(original, opt, model);
        Assert.Equal(3, opt.StepCount);
    }
}
