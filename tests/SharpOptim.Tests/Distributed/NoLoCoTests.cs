using SharpOptim.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

public class NoLoCoTests
{
    private static float[][] Run(int groupSize)
    {
        var s = StreamingDiLoCoGolden.Root.GetProperty("noloco");
        var options = new NoLoCoOptions { InnerSteps = s.GetProperty("h").GetInt32(), GroupSize = groupSize, Seed = s.GetProperty("seed").GetInt64(), OuterLr = 0.7, Momentum = 0.5 };
        return StreamingDiLoCoGolden.Run(StreamingDiLoCoGolden.Workers, 3, c =>
        {
            var p = StreamingDiLoCoGolden.Problem(c.Rank);
            return new NoLoCo(c, p, StreamingDiLoCoGolden.Adam(p), options);
        });
    }

    [Fact]
    public void RandomPairsMatchTheReferenceForEveryWorker()
    {
        var s = StreamingDiLoCoGolden.Root.GetProperty("noloco");
        // The groups come from the same SplitMix64 permutation as the script's.
        var permutations = s.GetProperty("permutations").EnumerateArray().Select(p => p.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        for (int t = 0; t < permutations.Length; t++)
        {
            var pi = permutations[t];
            var groups = NoLoCo.Groups(s.GetProperty("seed").GetInt64(), t, 4, 2);
            Assert.Equal(new[] { new[] { pi[0], pi[2] }, new[] { pi[1], pi[3] } }, groups);
        }
        var reported = Run(2);
        var expected = s.GetProperty("phi").EnumerateArray().Select(e => e.Floats()).ToArray();
        for (int i = 0; i < reported.Length; i++) StreamingDiLoCoGolden.AssertClose(expected[i], reported[i]);
        // Pairs, not the whole world: the workers' models differ after three outer steps.
        Assert.NotEqual(reported[0], reported[1]);
    }

    [Fact]
    public void GroupOfTheWholeWorldIsHeavyBallDiLoCo()
    {
        var expected = StreamingDiLoCoGolden.Root.GetProperty("diloco_heavy_ball").GetProperty("global").Floats();
        var reported = Run(StreamingDiLoCoGolden.Workers);
        foreach (var r in reported) StreamingDiLoCoGolden.AssertClose(expected, r);
        for (int i = 1; i < reported.Length; i++) Assert.Equal(reported[0], reported[i]); // consensus term is exactly 0
    }

    [Fact]
    public void GroupsPartitionTheRanksAndBadOptionsAreRejected()
    {
        for (int t = 0; t < 20; t++)
        {
            var groups = NoLoCo.Groups(3, t, 8, 2);
            Assert.Equal(Enumerable.Range(0, 8), groups.SelectMany(g => g).OrderBy(r => r));
            Assert.All(groups, g => Assert.Equal(2, g.Length));
        }
        InProcessWorld.Run(4, c =>
        {
            var p = StreamingDiLoCoGolden.Problem(0);
            var e = Assert.Throws<ArgumentException>(() => new NoLoCo(c, p, StreamingDiLoCoGolden.Adam(p), new NoLoCoOptions { GroupSize = 3 }));
            Assert.Contains("GroupSize 3", e.Message);
            Assert.Throws<ArgumentOutOfRangeException>(() => new NoLoCo(c, p, StreamingDiLoCoGolden.Adam(p), new NoLoCoOptions { Momentum = 1.0 }));
        });
    }
}
