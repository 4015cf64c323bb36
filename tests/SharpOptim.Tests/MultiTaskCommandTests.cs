using System.Text.Json;
using SharpOptim.Tasks.MultiTask;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>The multitask command end to end on digits-3task (a few steps) and its refusals; the benchmark's tasks.</summary>
[Collection("kernel-threads")]
public class MultiTaskCommandTests
{
    [Fact]
    public void ATinyRunWritesEveryFileWithTheRunsItReports()
    {
        string dir = Directory.CreateTempSubdirectory("sharpoptim-multitask-").FullName;
        try
        {
            var (code, output, err) = CliTests.Run("multitask", "--task", "digits-3task", "--balancers", "equal,mgda,marigold", "--steps", "6",
                "--seeds", "2", "--eval-every", "3", "--out", dir, "--force");
            Assert.True(code == 0, err + output);
            foreach (var f in new[] { "results.json", "results.csv", "report.md", "task_digit.png", "task_parity.png", "task_recon.png", "weights_mgda.png", "weights_marigold.png" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f + " missing");
            Assert.Empty(Directory.GetDirectories(dir));   // no staging folder left
            using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "results.json")));
            var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToList();
            Assert.Equal(2 * (3 + 3), runs.Count);   // per seed: 3 single-task references + 3 balancers
            var mgda = runs.First(r => r.GetProperty("method").GetString() == "mgda");
            Assert.Equal(3, mgda.GetProperty("passes_per_step").GetProperty("full_backward").GetInt32());
            var marigold = runs.First(r => r.GetProperty("method").GetString() == "marigold");
            Assert.Equal(1, marigold.GetProperty("passes_per_step").GetProperty("trunk_backward").GetInt32());
            Assert.Equal(new[] { 3, 6 }, mgda.GetProperty("evaluations").EnumerateArray().Select(e => e.GetProperty("step").GetInt32()).ToArray());
            Assert.Contains("marigold (reconstruction)", File.ReadAllText(Path.Combine(dir, "report.md")));
            // Held-out accuracies are fractions, MSE non-negative.
            foreach (var r in runs)
                Assert.All(r.GetProperty("final_metrics").EnumerateArray().Select(v => v.GetDouble()), v => Assert.InRange(v, 0, 1e4));
            // The same directory again without --force is refused, and nothing is replaced.
            var before = File.ReadAllBytes(Path.Combine(dir, "results.json"));
            var again = CliTests.Run("multitask", "--task", "digits-3task", "--steps", "2", "--out", dir);
            Assert.Equal(2, again.Code);
            Assert.Contains("already holds results", again.Err);
            Assert.Equal(before, File.ReadAllBytes(Path.Combine(dir, "results.json")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void UnknownNamesAreRefusedBeforeTraining()
    {
        var (code, _, err) = CliTests.Run("multitask", "--balancers", "equal,nash", "--out", Path.Combine(Path.GetTempPath(), "never-written"));
        Assert.Equal(2, code);
        Assert.Contains("unknown balancer 'nash'", err);
        Assert.Equal(2, CliTests.Run("multitask", "--task", "cifar").Code);
        Assert.Equal(2, CliTests.Run("multitask", "--balancers", "mgda,mgda").Code);
        Assert.False(Directory.Exists(Path.Combine(Path.GetTempPath(), "never-written")));
        Assert.Throws<ArgumentException>(() => MultiTaskBalancers.Create("cagrad", 3));
    }

    [Fact]
    public void ListShowsTheFamilyWithItsReconstructionsFlagged()
    {
        var (code, output, _) = CliTests.Run("list");
        Assert.Equal(0, code);
        Assert.Contains("MultiTask:", output);
        var lines = output.Split('\n');
        Assert.Contains(lines, l => l.Contains("multibalance") && l.Contains("[reconstruction]") && l.Contains("2411.11871"));
        Assert.Contains(lines, l => l.Contains("marigold") && l.Contains("[reconstruction]") && l.Contains("2603.07389"));
        Assert.Contains(lines, l => l.Contains("mgda-ub") && !l.Contains("[reconstruction]"));
    }
}
