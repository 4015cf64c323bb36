using System.Text.Json;
using SharpOptim.Cli;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary><c>sharpoptim dist</c> end to end on a tiny run: files, refusal to overwrite, the MPI backend's message, bad options.</summary>
[Collection("kernel-threads")]
public class DistCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void WritesTheReportAndRefusesToOverwriteIt()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sharpoptim-dist-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (code, stdout, stderr) = Run("dist", "--algorithm", "dsgd,diloco", "--workers", "2", "--topology", "fully-connected", "--rounds", "2",
                "--seeds", "1", "--batch", "8", "--opt", "diloco:inner_steps=2", "--no-progress", "--out", dir);
            Assert.True(code == 0, stderr);
            Assert.Contains("| dsgd | 2 |", stdout);
            foreach (var f in new[] { "results.json", "curves.csv", "loss_vs_gradients.png", "accuracy_vs_gradients.png", "loss_vs_bytes.png", "consensus_vs_gradients.png", "report.md" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
            Assert.False(File.Exists(Path.Combine(dir, "stationarity_vs_gradients.png"))); // digits is not composite
            Assert.Empty(Directory.GetDirectories(dir));                                   // no staging folder left
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            var runs = json.RootElement.GetProperty("runs").EnumerateArray().ToList();
            Assert.Equal(new[] { "dsgd", "diloco" }, runs.Select(r => r.GetProperty("label").GetString()));
            Assert.Equal(4, runs[1].GetProperty("final").GetProperty("gradient_evaluations").GetDouble()); // 2 rounds × H = 2

            var again = Run("dist", "--algorithm", "dsgd", "--workers", "2", "--topology", "fully-connected", "--rounds", "1", "--seeds", "1", "--out", dir);
            Assert.Equal(2, again.Code);
            Assert.Contains("--force", again.Err);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BadOptionsAndTheMpiBackendOutsideMpirunGiveClearErrors()
    {
        var mpi = Run("dist", "--backend", "mpi", "--out", Path.Combine(Path.GetTempPath(), "never-written-" + Guid.NewGuid().ToString("N")));
        Assert.Equal(1, mpi.Code);
        Assert.Contains("not started by mpirun", mpi.Err);
        Assert.Contains("unknown distributed algorithm 'sgd2'", Run("dist", "--algorithm", "sgd2").Err);
        Assert.Contains("has no hyperparameter 'inner_lr'", Run("dist", "--algorithm", "dsgd", "--opt", "inner_lr=1").Err);
        Assert.Contains("ring needs at least 3", Run("dist", "--algorithm", "dsgd", "--workers", "2").Err);
        Assert.Equal(2, Run("dist", "--partition", "zipf").Code);
    }
}
