using System.Diagnostics;
using SharpOptim.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

public class InProcessWorldTests
{
    [Fact]
    public void AllReduceSumsInRankOrderInDoubleAndGivesEveryRankTheSameBits()
    {
        const int n = 4;
        var results = new float[n][];
        InProcessWorld.Run(n, c =>
        {
            // 1e8 + small values: a float32 running sum would lose the small parts; float64 then one rounding keeps them.
            var buffer = new[] { c.Rank == 0 ? 1e8f : 3f, c.Rank + 0.25f, -c.Rank };
            c.AllReduceSum(buffer);
            results[c.Rank] = buffer;
        });
        float expected0 = (float)(1e8 + 3.0 * 3);
        foreach (var r in results)
        {
            Assert.Equal(expected0, r[0]);
            Assert.Equal(0.25f + 1.25f + 2.25f + 3.25f, r[1]);
            Assert.Equal(-6f, r[2]);
            Assert.Equal(results[0], r);
        }
    }

    [Fact]
    public void BroadcastSendReceiveAndNeighbourExchangeDeliverTheRightPayloads()
    {
        const int n = 5;
        var fromRoot = new float[n][];
        var fromLeft = new float[n][];
        var gathered = new float[n][];
        InProcessWorld.Run(n, c =>
        {
            var b = new float[] { c.Rank, c.Rank * 10 };
            c.Broadcast(b, root: 3);
            fromRoot[c.Rank] = b;

            var recv = new float[1];
            c.SendReceive(new float[] { c.Rank }, (c.Rank + 1) % n, recv, (c.Rank + n - 1) % n, tag: 7);
            fromLeft[c.Rank] = recv;

            // A directed exponential graph: send to i+1 and i+2, receive from i−1 and i−2.
            var outs = new[] { (c.Rank + 1) % n, (c.Rank + 2) % n };
            var ins = new[] { (c.Rank + n - 1) % n, (c.Rank + n - 2) % n };
            var into = new float[4];
            c.NeighbourExchange(new float[] { c.Rank, -c.Rank }, outs, ins, into, tag: 1);
            gathered[c.Rank] = into;
        });
        for (int r = 0; r < n; r++)
        {
            Assert.Equal(new float[] { 3, 30 }, fromRoot[r]);
            Assert.Equal(new float[] { (r + n - 1) % n }, fromLeft[r]);
            int a = (r + n - 1) % n, b = (r + n - 2) % n;
            Assert.Equal(new float[] { a, -a, b, -b }, gathered[r]);
        }
    }

    [Fact]
    public void AsyncAllReduceCompletesOnlyOnceEveryRankHasContributed()
    {
        var world = new InProcessWorld(2);
        var c0 = world.Communicator(0);
        var c1 = world.Communicator(1);
        var b0 = new PinnedBuffer(2);
        b0.Span[0] = 1; b0.Span[1] = 2;
        var op0 = c0.AllReduceSumAsync(b0);
        Assert.False(op0.Test());
        Assert.Equal(1f, b0.Span[0]); // untouched while in flight
        var b1 = new PinnedBuffer(2);
        b1.Span[0] = 10; b1.Span[1] = 20;
        var op1 = c1.AllReduceSumAsync(b1);
        Assert.True(op0.Test());
        op1.Wait();
        Assert.Equal(new float[] { 11, 22 }, b0.Array);
        Assert.Equal(new float[] { 11, 22 }, b1.Array);
        Assert.True(op0.Test()); // idempotent
    }

    [Fact]
    public void TrafficIsCountedByTheBriefsConventions()
    {
        const int n = 4, d = 100;
        var stats = new CommunicationStats[n];
        InProcessWorld.Run(n, c =>
        {
            c.AllReduceSum(new float[d]);                                   // 2·d·(n−1)/n = 150 floats
            c.NeighbourExchange(new float[d], new[] { (c.Rank + 1) % n, (c.Rank + 3) % n }, new[] { (c.Rank + 3) % n, (c.Rank + 1) % n }, new float[2 * d], 0); // 2·d
            c.Barrier();
            stats[c.Rank] = c.Stats;
        });
        foreach (var s in stats)
        {
            Assert.Equal(150 + 200, s.FloatsSent);
            Assert.Equal(4 * (150 + 200), s.BytesSent);
            Assert.Equal(1 + 2 + 1, s.MessagesSent);
            Assert.Equal(2, s.GlobalSyncs);
            Assert.Equal(800, s.PeakBytesPerSync);
        }
    }

    [Fact]
    public void AFailingRankEndsTheRunWithItsOwnErrorInsteadOfAHang()
    {
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<InvalidDataException>(() => InProcessWorld.Run(3, c =>
        {
            if (c.Rank == 1) throw new InvalidDataException("rank one broke");
            c.AllReduceSum(new float[3]); // the others would wait forever for rank 1
        }, TimeSpan.FromSeconds(30)));
        Assert.Equal("rank one broke", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}: the fault did not wake the waiting ranks");
    }

    [Fact]
    public void AMissingRankTimesOutWithAClearMessage()
    {
        var e = Assert.Throws<TimeoutException>(() => InProcessWorld.Run(2, c =>
        {
            if (c.Rank == 0) c.Barrier();
        }, TimeSpan.FromMilliseconds(300)));
        Assert.Contains("only 1 of 2 ranks arrived", e.Message);
    }

    [Fact]
    public void MismatchedCollectivesAndBadArgumentsAreRejected()
    {
        var e = Assert.Throws<InvalidOperationException>(() => InProcessWorld.Run(2, c =>
        {
            if (c.Rank == 0) c.AllReduceSum(new float[3]);
            else c.AllReduceSum(new float[4]);
        }, TimeSpan.FromSeconds(10)));
        Assert.Contains("must make the same collective calls", e.Message);

        Assert.Throws<ArgumentOutOfRangeException>(() => new InProcessWorld(0));
        var world = new InProcessWorld(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => world.Communicator(2));
        var c0 = world.Communicator(0);
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() => c0.SendReceive(new float[1], 5, new float[1], 0, 0));
        Assert.Equal("destination", bad.ParamName);
        var ex = Assert.Throws<ArgumentException>(() => c0.NeighbourExchange(new float[2], new[] { 1 }, new[] { 1 }, new float[3], 0));
        Assert.Contains("need 2", ex.Message);
        Assert.Equal(0, c0.Stats.MessagesSent); // nothing was sent by the rejected calls
    }
}
