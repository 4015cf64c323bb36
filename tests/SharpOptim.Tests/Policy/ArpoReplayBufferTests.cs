using SharpOptim.Policy;
using Xunit;

namespace SharpOptim.Tests.Policy;

/// <summary>ARPO's replay semantics on a scripted sequence of batches (brief §6 and §11 row 10): threshold 0.1, FIFO
/// eviction at the capacity, replacement of the first rollout only in all-failed groups, decision before insertion,
/// bad input rejected with the buffer and the batch unchanged.</summary>
public class ArpoReplayBufferTests
{
    [Fact]
    public void ReplaysOnlyIntoAllFailedGroupsAndInsertsAfterTheDecision()
    {
        var buffer = new ArpoReplayBuffer<string>(new Random(1), capacity: 2);
        // Batch 1: task 1 all failed, nothing stored yet → no replacement; task 2 has successes 0.5 and 0.05 (below 0.1).
        var t1 = new[] { "a1", "a2" };
        var t2 = new[] { "b1", "b2", "b3" };
        var s1 = new[] { 0.0, 0.0 };
        var s2 = new[] { 0.5, 0.05, 0.0 };
        var replaced = buffer.Apply(new long[] { 1, 2 }, new[] { t1, t2 }, new[] { s1, s2 });
        Assert.Equal(new[] { false, false }, replaced);
        Assert.Equal(new[] { "b1" }, buffer.Stored(2).Select(x => x.Trajectory));
        Assert.Empty(buffer.Stored(1));

        // Batch 2: task 2 all failed → its first rollout becomes the stored "b1"; task 1 gets a success (stored afterwards).
        var u1 = new[] { "c1", "c2" };
        var u2 = new[] { "d1", "d2" };
        var v1 = new[] { 0.0, 1.0 };
        var v2 = new[] { 0.0, 0.0 };
        replaced = buffer.Apply(new long[] { 1, 2 }, new[] { u1, u2 }, new[] { v1, v2 });
        Assert.Equal(new[] { false, true }, replaced);
        Assert.Equal(new[] { "b1", "d2" }, u2);
        Assert.Equal(new[] { 0.5, 0.0 }, v2);
        Assert.Equal(new[] { "c2" }, buffer.Stored(1).Select(x => x.Trajectory));
        Assert.Equal(new[] { "b1" }, buffer.Stored(2).Select(x => x.Trajectory));   // the replayed copy is not re-inserted

        // Batch 3: three successes for task 2 with capacity 2 → the oldest ("b1", then "e1") are evicted.
        buffer.Apply(new long[] { 2 }, new[] { new[] { "e1", "e2", "e3" } }, new[] { new[] { 1.0, 0.2, 0.9 } });
        Assert.Equal(new[] { "e2", "e3" }, buffer.Stored(2).Select(x => x.Trajectory));

        // A group with mean < 0.2 but std ≥ 0.05 is not "all failed": no replacement.
        var w = new[] { "f1", "f2", "f3", "f4", "f5", "f6" };
        var ws = new[] { 0.0, 0.0, 0.0, 0.0, 0.0, 0.6 };
        Assert.Equal(new[] { false }, buffer.Apply(new long[] { 1 }, new[] { w }, new[] { ws }));
        Assert.Equal("f1", w[0]);
    }

    [Fact]
    public void BadInputChangesNothing()
    {
        var buffer = new ArpoReplayBuffer<string>(new Random(1));
        buffer.Apply(new long[] { 1 }, new[] { new[] { "a", "b" } }, new[] { new[] { 1.0, 0.0 } });
        var t = new[] { "x", "y" };
        var s = new[] { 0.0, 0.0 };
        Assert.Throws<ArgumentException>(() => buffer.Apply(new long[] { 1, 3 }, new[] { t, new[] { "z" } }, new[] { s, new[] { 1.0 } }));   // G = 1
        Assert.Throws<ArgumentException>(() => buffer.Apply(new long[] { 1, 3 }, new[] { t, new[] { "z", "w" } }, new[] { s, new[] { 1.0, double.NaN } }));
        Assert.Throws<ArgumentException>(() => buffer.Apply(Array.Empty<long>(), Array.Empty<string[]>(), Array.Empty<double[]>()));
        Assert.Equal(new[] { "x", "y" }, t);
        Assert.Equal(1, buffer.Count);
    }
}
