using System.Globalization;
using SharpOptim.Cli.Commands;
using SharpOptim.Distributed.Mpi;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>The real mpirun jobs, started once per class and shared by its tests (each starts only the jobs it reads).</summary>
public sealed class MpiJobs
{
    /// <summary>Generous for 4 dotnet processes on 2 busy cores (a quiet run takes under 10 s); a hang fails here.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>How long a job with a failing rank may take at most: the others must be ended, not waited for.</summary>
    public static readonly TimeSpan FailTimeout = TimeSpan.FromSeconds(60);

    private readonly Lazy<MpiJobResult> _four = new(() => MpiTestRunner.Run(4, ["mpi-selftest"], Timeout));
    private readonly Lazy<MpiJobResult> _three = new(() => MpiTestRunner.Run(3, ["mpi-selftest", "--rounds", "60"], Timeout));
    private readonly Lazy<MpiJobResult> _fail = new(() => MpiTestRunner.Run(4, ["mpi-selftest", "--case", "fail", "--fail-rank", "1"], FailTimeout));
    private readonly Lazy<MpiJobResult> _exit = new(() => MpiTestRunner.Run(4, ["mpi-selftest", "--case", "exit", "--fail-rank", "2"], FailTimeout));
    private readonly Lazy<MpiJobResult> _size = new(() => MpiTestRunner.Run(2, ["mpi-selftest", "--case", "size", "--expect", "4"], FailTimeout));

    public MpiJobResult Four => Succeeded(_four.Value);
    public MpiJobResult Three => Succeeded(_three.Value);
    public MpiJobResult Fail => _fail.Value;
    public MpiJobResult Exit => _exit.Value;
    public MpiJobResult Size => _size.Value;

    private static MpiJobResult Succeeded(MpiJobResult job)
    {
        Assert.False(job.TimedOut, job.Describe());
        Assert.True(job.ExitCode == 0, job.Describe());
        return job;
    }
}

/// <summary>
/// MpiCommunicator under real <c>mpirun</c> (Open MPI 4.1, one machine, shared memory): each rank runs
/// <c>sharpoptim mpi-selftest</c> and prints raw results; the expected values are computed here, independently:
/// closed forms for the collectives and exchanges, a float64 stacked gossip <c>X ← W X</c> for ring averaging, and the
/// brief's §1.2 traffic conventions for the statistics. Skipped, with the reason, where Open MPI is not installed.
/// </summary>
public sealed class MpiCommunicatorTests : IClassFixture<MpiJobs>
{
    private readonly MpiJobs _jobs;

    public MpiCommunicatorTests(MpiJobs jobs) => _jobs = jobs;

    private static double[] Values(MpiJobResult job, string name, int rank) =>
        MpiTestRunner.Result(job.RankStdout[rank], name, rank).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();

    private static long[] Stats(MpiJobResult job, string name, int rank) =>
        MpiTestRunner.Line(job.RankStdout[rank], "STATS", name, rank).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();

    [MpiFact]
    public void EveryRankSeesTheWorldAndFunneledThreads()
    {
        foreach (var (job, n) in new[] { (_jobs.Four, 4), (_jobs.Three, 3) })
            for (int r = 0; r < n; r++)
                Assert.Equal([n, 1.0], Values(job, "world", r)); // size, MPI_THREAD_FUNNELED
    }

    [MpiFact]
    public void AllReduceSumsExactlyOnEveryRank()
    {
        foreach (var (job, n) in new[] { (_jobs.Four, 4), (_jobs.Three, 3) })
        {
            // Rank r contributed 100·r + i: the sum is 100·n(n−1)/2 + n·i, exact in float32.
            var expectedSmall = Enumerable.Range(0, 7).Select(i => 100.0 * n * (n - 1) / 2 + n * i).ToArray();
            // Rank r contributed (r+1)·(i mod 251) over LargeLength entries.
            double sum = 0, weighted = 0;
            for (int i = 0; i < MpiSelftestCommand.LargeLength; i++)
            {
                double v = n * (n + 1) / 2.0 * (i % 251);
                sum += v;
                weighted += v * (i % 7);
            }
            for (int r = 0; r < n; r++)
            {
                Assert.Equal(expectedSmall, Values(job, "allreduce-small", r));
                Assert.Equal([sum, weighted], Values(job, "allreduce-large", r));
            }
        }
    }

    [MpiFact]
    public void SendReceivePairsEachRankWithItsLeftNeighbour()
    {
        foreach (var (job, n) in new[] { (_jobs.Four, 4), (_jobs.Three, 3) })
            for (int r = 0; r < n; r++)
            {
                int left = (r - 1 + n) % n;
                Assert.Equal([left, left + 0.25, -left], Values(job, "sendrecv", r));
            }
    }

    [MpiFact]
    public void NeighbourExchangeOnTheDirectedExponentialGraphDeliversInInNeighbourOrder()
    {
        foreach (var (job, n) in new[] { (_jobs.Four, 4), (_jobs.Three, 3) })
        {
            var hops = new[] { 1, 2 }; // 2^k for k = 0..⌊log2(n−1)⌋, n = 3 and n = 4 alike
            Assert.Equal(hops, MpiSelftestCommand.ExponentialHops(n));
            for (int r = 0; r < n; r++)
            {
                var expected = hops.SelectMany(h =>
                {
                    int from = ((r - h) % n + n) % n;
                    return new double[] { 10 * from + 1, 10 * from + 2 };
                });
                Assert.Equal(expected, Values(job, "neighbours", r));
            }
        }
    }

    [MpiFact]
    public void BroadcastCopiesTheRootsBufferToEveryRank()
    {
        foreach (var (job, n) in new[] { (_jobs.Four, 4), (_jobs.Three, 3) })
            for (int r = 0; r < n; r++)
                Assert.Equal([3.5, -1, 1048576, (double)1e-3f], Values(job, "broadcast", r));
    }

    [MpiFact]
    public void NonBlockingAllReduceCompletesThroughTestAndThroughWait()
    {
        foreach (var (job, n) in new[] { (_jobs.Four, 4), (_jobs.Three, 3) })
        {
            double sum = 0, weighted = 0;
            for (int i = 0; i < MpiSelftestCommand.LargeLength; i++)
            {
                double v = n * (n + 1) / 2.0 * (i % 13 - 6);
                sum += v;
                weighted += v * (i % 7);
            }
            double ones = n * (n + 1) / 2.0;
            for (int r = 0; r < n; r++)
                // checksums after Test reported completion; Test stays true; the Wait-only operation is complete and
                // summed (first and last entries).
                Assert.Equal([sum, weighted, 1, 1, ones, ones], Values(job, "iallreduce", r));
        }
    }

    [MpiFact]
    public void RingGossipFollowsTheStackedReferenceAndConvergesToTheInitialMean()
    {
        foreach (var (job, n, rounds) in new[] { (_jobs.Four, 4, MpiSelftestCommand.GossipRounds), (_jobs.Three, 3, 60) })
        {
            // Reference: X ← W X in float64 with the ring's W (1/3 on the diagonal and both neighbours).
            var x = Enumerable.Range(0, n).Select(r => MpiSelftestCommand.GossipStart(r).Select(v => (double)v).ToArray()).ToArray();
            var mean = Enumerable.Range(0, 3).Select(k => x.Average(row => row[k])).ToArray();
            double[][]? early = null;
            for (int t = 1; t <= rounds; t++)
            {
                x = Enumerable.Range(0, n).Select(i => Enumerable.Range(0, 3)
                    .Select(k => (x[i][k] + x[(i - 1 + n) % n][k] + x[(i + 1) % n][k]) / 3).ToArray()).ToArray();
                if (t == MpiSelftestCommand.GossipEarlyRound) early = x;
            }
            for (int r = 0; r < n; r++)
            {
                var gotEarly = Values(job, "gossip-early", r);
                var gotFinal = Values(job, "gossip", r);
                for (int k = 0; k < 3; k++)
                {
                    // float32 arithmetic against float64: a few ulps of values up to 10 per round.
                    Assert.True(Math.Abs(gotEarly[k] - early![r][k]) <= 1e-5, $"round 3, rank {r}, entry {k}: {gotEarly[k]} vs {early[r][k]}");
                    // ρ = 1/3 for n = 4 (1/3 for n = 3 as well: eigenvalues (1 + 2cos(2πk/n))/3), so after 40+ rounds the
                    // distance to the mean is (1/3)^40·10 ≈ 1e-18 in exact arithmetic: what remains is float32 rounding.
                    Assert.True(Math.Abs(gotFinal[k] - mean[k]) <= 2e-5, $"rank {r}, entry {k}: {gotFinal[k]} vs initial mean {mean[k]}");
                }
            }
        }
    }

    [MpiFact]
    public void TrafficIsCountedByTheBriefsConventions()
    {
        foreach (var (job, n, rounds) in new[] { (_jobs.Four, 4, MpiSelftestCommand.GossipRounds), (_jobs.Three, 3, 60) })
        {
            long L = MpiSelftestCommand.LargeLength;
            long Ring(long d) => 2 * d * (n - 1) / n; // ⌊2·d·(n−1)/n⌋
            int hops = MpiSelftestCommand.ExponentialHops(n).Length;
            for (int r = 0; r < n; r++)
            {
                // (floats, messages, global syncs) added by each step of the self-test, in order.
                var steps = new (string Name, long Floats, long Messages, long Syncs)[]
                {
                    ("allreduce-small", Ring(7), 1, 1),
                    ("allreduce-large", Ring(L), 1, 1),
                    ("sendrecv", 3, 1, 0),
                    ("neighbours", 2 * hops, hops, 0),
                    ("broadcast", r == n - 1 ? 4 * (n - 1) : 0, 1, 1),
                    ("iallreduce", 2 * Ring(L), 2, 2),
                    ("gossip", rounds * 2 * 3, rounds * 2, 0),
                    ("end", 0, 0, 0), // refused bad input and the wrong-thread call count nothing
                };
                long floats = 0, messages = 0, syncs = 0;
                Assert.Equal([0L, 0, 0, 0, 0], Stats(job, "start", r));
                foreach (var s in steps)
                {
                    floats += s.Floats;
                    messages += s.Messages;
                    syncs += s.Syncs;
                    var got = Stats(job, s.Name, r);
                    Assert.True(got[0] == floats && got[1] == 4 * floats && got[2] == messages && got[3] == syncs,
                        $"rank {r} after {s.Name}: got floats/bytes/messages/syncs {string.Join(' ', got)}, expected {floats} {4 * floats} {messages} {syncs}");
                }
                Assert.Equal(4 * Ring(L), Stats(job, "end", r)[4]); // the peak: one large all-reduce
            }
        }
    }

    [MpiFact]
    public void BadInputIsRefusedBeforeAnyMpiCall()
    {
        for (int r = 0; r < 4; r++)
        {
            Assert.Equal(["ArgumentException"], MpiTestRunner.Result(_jobs.Four.RankStdout[r], "bad-receive-length", r));
            Assert.Equal(["ArgumentOutOfRangeException"], MpiTestRunner.Result(_jobs.Four.RankStdout[r], "bad-destination", r));
            Assert.Equal(["ArgumentOutOfRangeException"], MpiTestRunner.Result(_jobs.Four.RankStdout[r], "bad-tag", r));
            Assert.Equal(["InvalidOperationException"], MpiTestRunner.Result(_jobs.Four.RankStdout[r], "other-thread", r));
        }
    }

    [MpiFact]
    public void AFailingRankAbortsTheJobWithItsErrorInsteadOfHanging()
    {
        var job = _jobs.Fail;
        Assert.False(job.TimedOut, job.Describe());
        Assert.NotEqual(0, job.ExitCode);
        Assert.True(job.Elapsed < MpiJobs.FailTimeout, job.Describe());
        for (int r = 0; r < 4; r++) Assert.Equal(["4"], MpiTestRunner.Result(job.RankStdout[r], "started", r));
        Assert.Contains("rank 1 of 4 failed: InvalidOperationException: rank 1 failed deliberately", job.RankStderr[1]);
        // mpirun's own "MPI_ABORT was invoked" notice is not asserted: Open MPI 4.1.4 sometimes fails to unpack it
        // ("ORTE_ERROR_LOG: Data unpack would read past end of buffer in file orte/util/show_help.c") and prints nothing.
        Assert.DoesNotContain("unexpectedly-finished", string.Concat(job.RankStdout));
    }

    [MpiFact]
    public void ARankThatDiesWithoutAWordEndsTheJob()
    {
        var job = _jobs.Exit;
        Assert.False(job.TimedOut, job.Describe());
        Assert.NotEqual(0, job.ExitCode);
        Assert.True(job.Elapsed < MpiJobs.FailTimeout, job.Describe());
        Assert.DoesNotContain("unexpectedly-finished", string.Concat(job.RankStdout));
    }

    [MpiFact]
    public void AWorldSizeMismatchIsAClearErrorOnEveryRank()
    {
        var job = _jobs.Size;
        Assert.False(job.TimedOut, job.Describe());
        Assert.NotEqual(0, job.ExitCode);
        for (int r = 0; r < 2; r++)
            Assert.Contains("world size mismatch: 4 workers were asked for, but mpirun started 2 ranks", job.RankStderr[r]);
    }
}
