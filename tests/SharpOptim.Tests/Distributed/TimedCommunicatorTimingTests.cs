using System.Diagnostics;
using SharpOptim.Distributed;
using SharpOptim.Tasks.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// The timing decorator of <c>sharpoptim bench distributed</c>: it changes no number of any run (bits, bytes, syncs),
/// logs exactly the calls made, and <see cref="TimeBreakdown"/> splits wall time by the stated rule. No assertion
/// depends on how fast the machine is: only exact counts, exact arithmetic on given timestamps, and the identities
/// compute + communication + wait = wall with every part ≥ 0.
/// </summary>
public class TimedCommunicatorTimingTests
{
    private static readonly Lazy<DistributedTask> Digits = new(() => new DistributedTask("digits"));

    private static DistributedRunOptions Options(string algorithm, int n, int rounds, int evalEvery, Dictionary<string, double>? h = null) =>
        new(algorithm, Digits.Value, n, "ring", "iid", 0.1, rounds, evalEvery, 16, 0, h ?? new Dictionary<string, double>());

    private static (DistributedRunResult Result, TimedCommunicator?[] Timed) Run(DistributedRunOptions options, bool timed)
    {
        var t = new TimedCommunicator?[options.Workers];
        DistributedRunResult? result = null;
        InProcessWorld.Run(options.Workers, comm =>
        {
            ICommunicator c = comm;
            if (timed) c = t[comm.Rank] = new TimedCommunicator(comm);
            var r = DistributedRunner.RunRank(c, options);
            if (comm.Rank == 0) result = r;
        }, TimeSpan.FromSeconds(60));
        return (result!, t);
    }

    [Theory]
    [InlineData("dsgd", 6)]
    [InlineData("gt", 6)]
    [InlineData("streaming-diloco", 2)]
    public void TimingChangesNoNumberOfTheRun(string algorithm, int rounds)
    {
        var h = algorithm == "streaming-diloco" ? new Dictionary<string, double> { ["inner_steps"] = 4 } : null;
        var plain = Run(Options(algorithm, 4, rounds, 2, h), timed: false).Result;
        var timed = Run(Options(algorithm, 4, rounds, 2, h), timed: true).Result;
        Assert.Equal(plain.Curve.Count, timed.Curve.Count);
        for (int i = 0; i < plain.Curve.Count; i++)
        {
            // Bit-identical: the decorator passes the same buffers in the same order.
            Assert.Equal(plain.Curve[i].Metrics["train_loss"], timed.Curve[i].Metrics["train_loss"]);
            Assert.Equal(plain.Curve[i].ConsensusError, timed.Curve[i].ConsensusError);
            Assert.Equal(plain.Curve[i].BytesSent, timed.Curve[i].BytesSent);
            Assert.Equal(plain.Curve[i].GradientEvaluations, timed.Curve[i].GradientEvaluations);
        }
        Assert.Equal(plain.Messages, timed.Messages);
        Assert.Equal(plain.GlobalSyncs, timed.GlobalSyncs);
    }

    [Fact]
    public void LogsExactlyTheCallsAndTheWindowLeavesEvaluationsOut()
    {
        const int n = 4, rounds = 6, evalEvery = 2;
        var (_, dsgd) = Run(Options("dsgd", n, rounds, evalEvery), timed: true);
        var (_, gt) = Run(Options("gt", n, rounds, evalEvery), timed: true);
        int evaluations = 1 + rounds / evalEvery;
        for (int r = 0; r < n; r++)
        {
            var d = dsgd[r]!.Calls;
            // D-SGD: the common start (one broadcast), one gossip per round; every evaluation = 2 all-reduces + the stop broadcast.
            Assert.Equal(rounds, d.Count(c => c.Kind == TimedCallKind.NeighbourExchange));
            Assert.Equal(rounds, d.Count(c => c.InWindow));
            Assert.All(d.Where(c => c.InWindow), c => Assert.Equal(TimedCallKind.NeighbourExchange, c.Kind));
            Assert.Equal(2 * evaluations, d.Count(c => c.Kind == TimedCallKind.AllReduce));
            Assert.Equal(1 + (evaluations - 1), d.Count(c => c.Kind == TimedCallKind.Broadcast));
            // Ring: receive from and send to both neighbours.
            Assert.All(d.Where(c => c.Kind == TimedCallKind.NeighbourExchange), c =>
            {
                Assert.Equal(new[] { (r + n - 1) % n, (r + 1) % n }.Order(), c.Sources.Order());
                Assert.Equal(c.Sources.Order(), c.Destinations.Order());
            });
            // Collective numbers run 0, 1, 2, … in call order on every rank.
            Assert.Equal(Enumerable.Range(0, 1 + 3 * evaluations - 1).Select(i => (long)i), d.Where(c => c.Collective >= 0).Select(c => c.Collective));
            // GT: the tracker's initial gossip plus two gossips (x, y) per round, all inside the window.
            Assert.Equal(1 + 2 * rounds, gt[r]!.Calls.Count(c => c.InWindow && c.Kind == TimedCallKind.NeighbourExchange));
            Assert.All(d, c => Assert.True(c.ExitTicks >= c.EntryTicks));
        }
    }

    [Fact]
    public void BreakdownAddsUpToWallTimeOnEveryRank()
    {
        foreach (var algorithm in new[] { "dsgd", "diloco" })
        {
            var (result, timed) = Run(Options(algorithm, 4, 4, 2, algorithm == "diloco" ? new() { ["inner_steps"] = 3 } : null), timed: true);
            var b = TimeBreakdown.Analyze(timed.Select(t => t!.Calls).ToArray(), timed.Select(t => t!.WindowTicks).ToArray());
            Assert.Equal(4, b.Count);
            foreach (var rank in b)
            {
                Assert.True(rank.WallSeconds > 0);
                Assert.True(rank.ComputeSeconds >= 0 && rank.CommunicationSeconds >= 0 && rank.WaitSeconds >= 0);
                Assert.Equal(rank.WallSeconds, rank.ComputeSeconds + rank.CommunicationSeconds + rank.WaitSeconds, 1e-9);
                Assert.InRange(rank.CommunicationFraction, 0, 1);
            }
            // Calls and global syncs inside the window: D-SGD 4 gossips and no collective; DiLoCo one all-reduce per round.
            Assert.All(b, x => Assert.Equal(4, x.Calls));
            Assert.All(b, x => Assert.Equal(algorithm == "diloco" ? 4 : 0, x.CollectiveCalls));
            Assert.Equal(algorithm == "diloco" ? 4 : 0, result.GlobalSyncs);
        }
    }

    [Fact]
    public void NonBlockingAllReduceIsLoggedUnderOneCollectiveNumber()
    {
        var calls = new IReadOnlyList<TimedCall>[2];
        var windows = new long[2];
        InProcessWorld.Run(2, comm =>
        {
            var t = new TimedCommunicator(comm);
            t.StartWindow();
            var buffer = new PinnedBuffer(8);
            buffer.Span.Fill(comm.Rank + 1);
            var op = t.AllReduceSumAsync(buffer);
            op.Test();
            op.Wait();
            Assert.True(op.Test());
            Assert.All(buffer.Array, v => Assert.Equal(3f, v));
            t.Barrier();
            t.StopWindow();
            calls[comm.Rank] = t.Calls;
            windows[comm.Rank] = t.WindowTicks;
        });
        foreach (var log in calls)
        {
            Assert.Equal(new[] { TimedCallKind.AllReduceStart, TimedCallKind.AllReduceTest, TimedCallKind.AllReduceWait, TimedCallKind.AllReduceTest, TimedCallKind.Barrier },
                log.Select(c => c.Kind));
            Assert.Equal(new long[] { 0, 0, 0, 0, 1 }, log.Select(c => c.Collective));
        }
        var b = TimeBreakdown.Analyze(calls, windows);
        Assert.All(b, x => Assert.Equal(5, x.Calls));
        Assert.All(b, x => Assert.Equal(2, x.CollectiveCalls)); // the started all-reduce and the barrier
    }

    [Fact]
    public void WaitIsTheTimeBeforeTheLastPartnerArrived()
    {
        // Two ranks, hand-made timestamps (ticks). Collective #0: rank 0 enters at 100, rank 1 at 250, both leave at 300.
        // Then rank 1 receives from rank 0 (tag 7), which sent at 400; rank 1 entered at 350 and left at 420.
        var rank0 = new List<TimedCall>
        {
            new(TimedCallKind.AllReduce, 0, 0, [], [], 100, 300, true),
            new(TimedCallKind.NeighbourExchange, -1, 7, [], [1], 400, 410, true),
        };
        var rank1 = new List<TimedCall>
        {
            new(TimedCallKind.AllReduce, 0, 0, [], [], 250, 300, true),
            new(TimedCallKind.NeighbourExchange, -1, 7, [0], [], 350, 420, true),
        };
        var b = TimeBreakdown.Analyze([rank0, rank1], [1000, 1000]);
        double s = 1.0 / Stopwatch.Frequency;
        Assert.Equal(150 * s, b[0].WaitSeconds, 1e-15);
        Assert.Equal((50 + 10) * s, b[0].CommunicationSeconds, 1e-15);
        Assert.Equal((1000 - 200 - 10) * s, b[0].ComputeSeconds, 1e-15);
        Assert.Equal(50 * s, b[1].WaitSeconds, 1e-15);                  // the message was sent 50 ticks after rank 1 entered
        Assert.Equal((50 + 20) * s, b[1].CommunicationSeconds, 1e-15);
        Assert.Equal((1000 - 50 - 70) * s, b[1].ComputeSeconds, 1e-15);
        Assert.Equal(1, b[0].CollectiveCalls);
        Assert.Equal(2, b[1].Calls);

        // A partner that arrives after the call ended (impossible in a real log) never makes wait exceed the call.
        var late = new List<TimedCall> { new(TimedCallKind.Barrier, 0, 0, [], [], 100, 120, true) };
        var later = new List<TimedCall> { new(TimedCallKind.Barrier, 0, 0, [], [], 500, 520, true) };
        var c = TimeBreakdown.Analyze([late, later], [1000, 1000]);
        Assert.Equal(20 * s, c[0].WaitSeconds, 1e-15);
        Assert.Equal(0, c[0].CommunicationSeconds);
        // Calls outside the window are matched but not counted.
        var outside = new List<TimedCall> { new(TimedCallKind.Barrier, 0, 0, [], [], 100, 120, false) };
        var d = TimeBreakdown.Analyze([outside, later], [0, 1000]);
        Assert.Equal(0, d[0].Calls);
        Assert.Equal(0, d[0].WallSeconds);
    }

    [Fact]
    public void LogsThatDoNotBelongTogetherAreRejected()
    {
        var barrier = new List<TimedCall> { new(TimedCallKind.Barrier, 0, 0, [], [], 0, 10, true) };
        var nothing = new List<TimedCall>();
        var e = Assert.Throws<ArgumentException>(() => TimeBreakdown.Analyze([barrier, nothing], [100, 100]));
        Assert.Contains("collective #0 was entered by 1 of 2 ranks", e.Message);
        var receive = new List<TimedCall> { new(TimedCallKind.SendReceive, -1, 3, [1], [1], 0, 10, true) };
        var e2 = Assert.Throws<ArgumentException>(() => TimeBreakdown.Analyze([receive, nothing], [100, 100]));
        Assert.Contains("from rank 1 with tag 3", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => TimeBreakdown.Analyze([barrier, barrier], [5, 100]));
        Assert.Contains("rank 0", e3.Message);
        Assert.Throws<ArgumentException>(() => TimeBreakdown.Analyze([barrier], [1, 2]));
        Assert.Throws<ArgumentException>(() => TimeBreakdown.Analyze(Array.Empty<IReadOnlyList<TimedCall>>(), Array.Empty<long>()));
        Assert.Throws<ArgumentNullException>(() => new TimedCommunicator(null!));
    }
}
