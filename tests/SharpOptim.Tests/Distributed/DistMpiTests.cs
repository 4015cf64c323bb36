using System.Text.Json;
using SharpOptim.Cli;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// The same `sharpoptim dist` run on the in-process simulator and under a real `mpirun -np 4`: the algorithm code is
/// shared, so the numbers must agree (to float32 summation order: the simulator sums an all-reduce in rank order in
/// float64, Open MPI in its own order in float32) and the counted traffic must be identical.
/// </summary>
public class DistMpiTests
{
    [MpiFact]
    public void DistUnderMpirunGivesTheSimulatorsNumbers() => SameNumbersOnBothBackends(new[] { "dist", "--algorithm", "dsgd,diloco",
        "--workers", "4", "--task", "digits", "--topology", "ring", "--rounds", "6", "--eval-every", "3", "--seeds", "1", "--no-progress",
        "--opt", "diloco:inner_steps=3" }, 2);

    /// <summary>Every rank-based algorithm of `dist` (all but the event-driven DADAO and SA-SRRW, which run on the
    /// event simulator only), four rounds each in one job: the same numbers and the same traffic under mpirun.</summary>
    [MpiFact]
    public void EveryRankBasedAlgorithmGivesTheSimulatorsNumbersUnderMpirun() => SameNumbersOnBothBackends(new[] { "dist", "--algorithm",
        "dsgd,gt,prox-dasa,prox-dasa-gt,fedavg,fedspeed,diloco,streaming-diloco,noloco,co2,single-merging", "--workers", "4",
        "--task", "digits", "--topology", "ring", "--rounds", "4", "--eval-every", "2", "--seeds", "1", "--no-progress",
        "--opt", "diloco:inner_steps=3" }, 11);

    private static void SameNumbersOnBothBackends(string[] common, int expectedRuns)
    {
        string root = Path.Combine(Path.GetTempPath(), "dist-mpi-" + Guid.NewGuid().ToString("N"));
        try
        {
            string sim = Path.Combine(root, "sim"), mpi = Path.Combine(root, "mpi");
            var o = new StringWriter();
            var e = new StringWriter();
            Assert.True(CommandLine.Run(common.Concat(new[] { "--backend", "sim", "--out", sim }).ToArray(), o, e) == 0, e.ToString());

            var job = MpiTestRunner.Run(4, common.Concat(new[] { "--backend", "mpi", "--out", mpi }).ToArray(), TimeSpan.FromSeconds(240));
            Assert.True(job.ExitCode == 0 && !job.TimedOut, job.Describe());

            using var a = JsonDocument.Parse(File.ReadAllText(Path.Combine(sim, "results.json")));
            using var b = JsonDocument.Parse(File.ReadAllText(Path.Combine(mpi, "results.json")));
            Assert.Equal("mpi", b.RootElement.GetProperty("backend").GetString());
            var ra = a.RootElement.GetProperty("runs").EnumerateArray().ToList();
            var rb = b.RootElement.GetProperty("runs").EnumerateArray().ToList();
            Assert.Equal(expectedRuns, ra.Count);
            Assert.Equal(ra.Count, rb.Count);
            for (int i = 0; i < ra.Count; i++)
            {
                Assert.Equal(ra[i].GetProperty("algorithm").GetString(), rb[i].GetProperty("algorithm").GetString());
                var ca = ra[i].GetProperty("curve").EnumerateArray().ToList();
                var cb = rb[i].GetProperty("curve").EnumerateArray().ToList();
                Assert.Equal(ca.Count, cb.Count);
                for (int k = 0; k < ca.Count; k++)
                {
                    Assert.Equal(ca[k].GetProperty("bytes_sent").GetInt64(), cb[k].GetProperty("bytes_sent").GetInt64());
                    Assert.Equal(ca[k].GetProperty("gradient_evaluations").GetDouble(), cb[k].GetProperty("gradient_evaluations").GetDouble());
                    double la = ca[k].GetProperty("metrics").GetProperty("train_loss").GetDouble();
                    double lb = cb[k].GetProperty("metrics").GetProperty("train_loss").GetDouble();
                    Assert.True(Math.Abs(la - lb) <= 1e-5 * Math.Max(1, Math.Abs(la)), $"run {i} point {k}: simulator loss {la}, mpirun loss {lb}");
                    double ea = ca[k].GetProperty("consensus_error").GetDouble(), eb = cb[k].GetProperty("consensus_error").GetDouble();
                    Assert.True(Math.Abs(ea - eb) <= 1e-5 * Math.Max(1e-3, Math.Abs(ea)) + 1e-9, $"run {i} point {k}: consensus {ea} vs {eb}");
                }
            }
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}
