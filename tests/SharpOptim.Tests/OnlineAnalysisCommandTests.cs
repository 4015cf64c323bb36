using System.Text.Json;
using SharpOptim.Cli;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>
/// The online, bandit and analysis commands on tiny settings (each a second or two): they write exactly their files
/// into --out through a staging folder that is gone afterwards, and refuse bad arguments with exit code 2 and a
/// message naming the value, before anything is written.
/// </summary>
public sealed class OnlineAnalysisCommandTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sharpoptim-o17-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CommandLine.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The folder holds exactly <paramref name="files"/> (no staging folder, no temporaries left).</summary>
    private static void HoldsExactly(string dir, params string[] files)
    {
        var entries = Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(files.Order(StringComparer.Ordinal).ToArray(), entries);
        foreach (var f in files) Assert.True(new FileInfo(Path.Combine(dir, f)).Length > 0, f + " is empty");
    }

    private void RefusedBeforeWriting(string dir, string expectedInMessage, params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains(expectedInMessage, err);
        Assert.False(Directory.Exists(dir), "a refused command must not create its --out folder");
    }

    [Fact]
    public void BenchRxtxWritesItsTableAndRefusesBadShapes()
    {
        string dir = Path.Combine(_root, "rxtx");
        var (code, output, _) = Run("bench", "rxtx", "--shapes", "16x16,20x36", "--warmup", "0", "--repeats", "1", "--threads", "1", "--out", dir);
        Assert.Equal(0, code);
        Assert.Contains("20x36", output);
        HoldsExactly(dir, "results.json", "report.md");
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
        var rows = json.RootElement.GetProperty("results");
        Assert.Equal(2, rows.GetArrayLength());
        foreach (var r in rows.EnumerateArray())
            // float32 products of 16-36 Gaussian terms: relative error far below 1e-5 for matmul and RXTX alike.
            Assert.True(r.GetProperty("relative_error_rxtx_1").GetDouble() < 1e-5);

        RefusedBeforeWriting(Path.Combine(_root, "bad1"), "'16'", "bench", "rxtx", "--shapes", "16", "--out", Path.Combine(_root, "bad1"));
        RefusedBeforeWriting(Path.Combine(_root, "bad2"), "'2x8'", "bench", "rxtx", "--shapes", "2x8", "--out", Path.Combine(_root, "bad2"));
        RefusedBeforeWriting(Path.Combine(_root, "bad3"), "'half'", "bench", "rxtx", "--dtype", "half", "--out", Path.Combine(_root, "bad3"));
    }

    [Fact]
    public void AdamVsSgdRunsTinyAndRefusesBadRatesAndModels()
    {
        string dir = Path.Combine(_root, "avs");
        var (code, _, _) = Run("analysis", "adam-vs-sgd", "--models", "mlp", "--steps", "10", "--seeds", "1", "--adam-lrs", "0.003", "--sgd-lrs", "0.01,0.1", "--out", dir);
        Assert.Equal(0, code);
        HoldsExactly(dir, "curves.csv", "curves.png", "report.md", "results.json");
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
        var grid = json.RootElement.GetProperty("grid").EnumerateArray().ToArray();
        Assert.Equal(3, grid.Length);                                   // 1 Adam rate + 2 SGD rates
        Assert.Equal(2, grid.Count(g => g.GetProperty("chosen").GetBoolean())); // one chosen rate per optimizer
        Assert.Equal(1 + 3 * 10, File.ReadAllLines(Path.Combine(dir, "curves.csv")).Length); // header + 3 runs x 10 steps

        RefusedBeforeWriting(Path.Combine(_root, "bad1"), "'-1'", "analysis", "adam-vs-sgd", "--adam-lrs", "-1", "--out", Path.Combine(_root, "bad1"));
        RefusedBeforeWriting(Path.Combine(_root, "bad2"), "'cnn'", "analysis", "adam-vs-sgd", "--models", "cnn", "--out", Path.Combine(_root, "bad2"));
        Assert.Equal(2, Run("analysis", "adam-vs-sgd").Code);          // --out is required
    }

    [Fact]
    public void PhaseDiagramWritesItsFilesAndRefusesAZeroStart()
    {
        string dir = Path.Combine(_root, "phase");
        Assert.Equal(0, Run("analysis", "phase-diagram", "--points", "50", "--out", dir).Code);
        HoldsExactly(dir, "lyapunov.png", "phase_diagram.png", "phases.csv", "report.md");
        Assert.Equal(51, File.ReadAllLines(Path.Combine(dir, "phases.csv")).Length);
        RefusedBeforeWriting(Path.Combine(_root, "bad1"), "--z0", "analysis", "phase-diagram", "--z0", "0", "--out", Path.Combine(_root, "bad1"));
        RefusedBeforeWriting(Path.Combine(_root, "bad2"), "--points", "analysis", "phase-diagram", "--points", "3", "--out", Path.Combine(_root, "bad2"));
        Assert.Equal(2, Run("analysis", "phase-diagram").Code);
    }

    [Fact]
    public void OnlineSeaWritesItsFilesAndRefusesTooFewRounds()
    {
        string dir = Path.Combine(_root, "sea");
        Assert.Equal(0, Run("online", "sea", "--rounds", "20", "--seeds", "1", "--out", dir).Code);
        HoldsExactly(dir, "regret_vs_bound.png", "report.md", "results.csv");
        RefusedBeforeWriting(Path.Combine(_root, "bad1"), "--rounds", "online", "sea", "--rounds", "5", "--out", Path.Combine(_root, "bad1"));
        RefusedBeforeWriting(Path.Combine(_root, "bad2"), "--seeds", "online", "sea", "--seeds", "0", "--out", Path.Combine(_root, "bad2"));
        Assert.Equal(2, Run("online", "sea").Code);
    }

    [Fact]
    public void BanditRunsTinyRefusesBadArgumentsAndKeepsExistingResults()
    {
        string dir = Path.Combine(_root, "bandit");
        Assert.Equal(0, Run("bandit", "--task", "digits", "--policies", "linucb,greedy,epsilon-greedy,random", "--seeds", "1", "--rounds", "30", "--out", dir).Code);
        HoldsExactly(dir, "average_regret.png", "curves.csv", "regret.png", "regret_vs_best.png", "report.md", "results.csv", "results.json");
        string before = File.ReadAllText(Path.Combine(dir, "results.json"));
        var (code, _, err) = Run("bandit", "--task", "digits", "--policies", "random", "--seeds", "1", "--rounds", "30", "--out", dir);
        Assert.Equal(2, code);
        Assert.Contains("--force", err);
        Assert.Equal(before, File.ReadAllText(Path.Combine(dir, "results.json")));

        RefusedBeforeWriting(Path.Combine(_root, "bad1"), "'thompson'", "bandit", "--policies", "thompson", "--out", Path.Combine(_root, "bad1"));
        RefusedBeforeWriting(Path.Combine(_root, "bad2"), "'cifar'", "bandit", "--task", "cifar", "--out", Path.Combine(_root, "bad2"));
        RefusedBeforeWriting(Path.Combine(_root, "bad3"), "--epsilon", "bandit", "--epsilon", "1.5", "--out", Path.Combine(_root, "bad3"));
    }

    [Fact]
    public void HessianBlocksRefusesZeroSeeds()
    {
        // A full run takes about 25 s in Debug even at the smallest settings (29 transformer blocks of double-backward
        // products), over this suite's budget; the committed docs run exercises it.
        RefusedBeforeWriting(Path.Combine(_root, "bad1"), "--seeds", "analysis", "hessian-blocks", "--seeds", "0", "--out", Path.Combine(_root, "bad1"));
    }
}
