using SharpOptim.Cli;
using SharpOptim.Cli.Commands;
using SharpOptim.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// <c>sharpoptim bench distributed</c> on the simulator at tiny sizes: the files, the breakdown's table, refusal to
/// overwrite, bad parts; and the parser of the ranks' timing lines (what the mpirun jobs print) round-trips a log.
/// The timed figures themselves are not asserted (they depend on the machine).
/// </summary>
[Collection("kernel-threads")]
public class BenchDistributedCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void SimulatorBreakdownAndTopologyWriteTheReport()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sharpoptim-bench-dist-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (code, stdout, stderr) = Run("bench", "distributed", "--part", "breakdown,topology", "--no-mpi", "--ranks", "2", "--seeds", "1",
                "--rounds-scale", "0.05", "--out", dir);
            Assert.True(code == 0, stderr + stdout);
            foreach (var f in new[] { "report.md", "results.json", "breakdown.png", "topology-consensus.png" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
            string report = File.ReadAllText(Path.Combine(dir, "report.md"));
            // One row per algorithm on the simulator with 2 ranks; every topology of the consensus part.
            foreach (var a in new[] { "dsgd", "gt", "diloco", "streaming-diloco" }) Assert.Contains($"| sim | 2 | {a} |", report);
            foreach (var t in new[] { "ring", "torus", "exponential", "fully-connected" }) Assert.Contains($"| {t} |", report);
            Assert.Contains("MPI rows: not run", report);
            Assert.Empty(Directory.GetDirectories(dir)); // the staging folder is gone
            var (again, _, err) = Run("bench", "distributed", "--part", "topology", "--no-mpi", "--out", dir);
            Assert.NotEqual(0, again);
            Assert.Contains("--force", err);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [MpiFact]
    public void MpiBreakdownGivesTheSimulatorsBytesSyncsAndLosses()
    {
        // Real mpirun jobs (2 ranks): the ranks' call logs travel through stdout and are analysed by the parent; the
        // algorithms' numbers must be the simulator's (same code, same seeds): bytes and syncs exactly, losses to 1e-5.
        string dir = Path.Combine(Path.GetTempPath(), "sharpoptim-bench-dist-mpi-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (code, stdout, stderr) = Run("bench", "distributed", "--part", "breakdown", "--ranks", "2", "--rounds-scale", "0.05", "--out", dir);
            Assert.True(code == 0, stderr + stdout);
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            var rows = doc.RootElement.GetProperty("breakdown").EnumerateArray().ToList();
            Assert.Equal(8, rows.Count);
            foreach (var a in new[] { "dsgd", "gt", "diloco", "streaming-diloco" })
            {
                var sim = rows.Single(r => r.GetProperty("Backend").GetString() == "sim" && r.GetProperty("Algorithm").GetString() == a);
                var mpi = rows.Single(r => r.GetProperty("Backend").GetString() == "mpi" && r.GetProperty("Algorithm").GetString() == a);
                Assert.Equal(sim.GetProperty("MegabytesPerWorker").GetDouble(), mpi.GetProperty("MegabytesPerWorker").GetDouble());
                Assert.Equal(sim.GetProperty("GlobalSyncsPerRound").GetDouble(), mpi.GetProperty("GlobalSyncsPerRound").GetDouble());
                Assert.Equal(sim.GetProperty("FinalTrainLoss").GetDouble(), mpi.GetProperty("FinalTrainLoss").GetDouble(), 1e-5);
                foreach (var r in new[] { sim, mpi })
                {
                    double wall = r.GetProperty("WallMsPerRound").GetDouble();
                    double parts = r.GetProperty("ComputeMsPerRound").GetDouble() + r.GetProperty("CommunicationMsPerRound").GetDouble() + r.GetProperty("WaitMsPerRound").GetDouble();
                    Assert.True(wall > 0);
                    Assert.Equal(wall, parts, 1e-9 * wall);
                }
            }
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BadPartsFailBeforeAnyWork()
    {
        var (code, _, err) = Run("bench", "distributed", "--part", "breakdown,speed");
        Assert.NotEqual(0, code);
        Assert.Contains("unknown part 'speed'", err);
        Assert.Equal(BenchDistributedCommand.Parts, BenchDistributedCommand.ParseParts("all"));
        Assert.Equal(new[] { "breakdown", "gt-floor" }, BenchDistributedCommand.ParseParts("gt-floor,breakdown"));
    }

    [Fact]
    public void TimelineLinesRoundTrip()
    {
        string rank0 = "THREADS 1\nWINDOW dsgd 1000\nCALL dsgd 5 -1 101 1 1 100 150 1\nCALL dsgd 6 3 0   400 450 0\nRESULT dsgd 0 12 0.5\n";
        string rank1 = "WINDOW dsgd 900\nCALL dsgd 5 -1 101 0 0 120 160 1\nCALL dsgd 6 3 0   410 450 0\nWINDOW gt 5\n";
        var (calls, windows) = BenchDistributedCommand.ParseTimeline([rank0, rank1], "dsgd");
        Assert.Equal(new long[] { 1000, 900 }, windows);
        Assert.Equal(2, calls[0].Count);
        var c = calls[1][0];
        Assert.Equal(TimedCallKind.NeighbourExchange, c.Kind);
        Assert.Equal(-1, c.Collective);
        Assert.Equal(101, c.Tag);
        Assert.Equal(new[] { 0 }, c.Sources);
        Assert.Equal(new[] { 0 }, c.Destinations);
        Assert.Equal(120, c.EntryTicks);
        Assert.Equal(160, c.ExitTicks);
        Assert.True(c.InWindow);
        Assert.Equal(TimedCallKind.Broadcast, calls[0][1].Kind);
        Assert.Empty(calls[0][1].Sources);
        Assert.False(calls[0][1].InWindow);
        Assert.Throws<InvalidDataException>(() => BenchDistributedCommand.ParseTimeline([rank0, rank1], "diloco"));
    }
}
