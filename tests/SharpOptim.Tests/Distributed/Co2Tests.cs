using SharpOptim.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

public class Co2Tests
{
    private static float[][] Run(Co2Options options) =>
        StreamingDiLoCoGolden.Run(StreamingDiLoCoGolden.Workers, 3, c =>
        {
            var p = StreamingDiLoCoGolden.Problem(c.Rank);
            return new Co2(c, p, StreamingDiLoCoGolden.AdamW(p), options);
        });

    [Fact]
    public void SynchronousModeMatchesTheReferenceWithAnActiveClip()
    {
        var s = StreamingDiLoCoGolden.Root.GetProperty("co2");
        var reported = Run(new Co2Options
        {
            InnerSteps = s.GetProperty("tau").GetInt32(), OuterLr = s.GetProperty("lr").GetDouble(), OuterMomentum = s.GetProperty("beta").GetDouble(),
            GapPenalty = s.GetProperty("penalty").GetDouble(), MomentumClip = s.GetProperty("clip").GetDouble(),
        });
        var expected = s.GetProperty("global").Floats();
        foreach (var r in reported) StreamingDiLoCoGolden.AssertClose(expected, r);
        // The clip (0.02) binds: with the code's no-op clamp the result would be the unclipped one.
        var unclipped = Run(new Co2Options
        {
            InnerSteps = 4, OuterLr = 0.8, OuterMomentum = 0.2, GapPenalty = 1.5, MomentumClip = double.PositiveInfinity,
        });
        Assert.True(unclipped[0].Zip(expected).Max(t => Math.Abs(t.First - t.Second)) > 1e-3);
    }

    [Fact]
    public void NoMomentumUnitLrNoPenaltyIsPeriodicAveraging()
    {
        var reported = Run(new Co2Options { InnerSteps = 4, OuterLr = 1, OuterMomentum = 0, GapPenalty = 1, MomentumClip = double.PositiveInfinity });
        var expected = StreamingDiLoCoGolden.Root.GetProperty("periodic_averaging").GetProperty("global").Floats();
        foreach (var r in reported) StreamingDiLoCoGolden.AssertClose(expected, r);
    }

    [Fact]
    public void OneStepStaleModeAppliesTheAverageOneRoundLate()
    {
        // Exact invariant of the experimental mode: after the first round nothing has been applied yet (the
        // all-reduce is in flight), so every worker reports the initial anchor; after the second round all workers
        // report the same anchor (the average of round 1 went through one outer step).
        var init = StreamingDiLoCoGolden.Initial();
        var afterOne = StreamingDiLoCoGolden.Run(4, 1, c => { var p = StreamingDiLoCoGolden.Problem(c.Rank); return new Co2(c, p, StreamingDiLoCoGolden.AdamW(p), new Co2Options { InnerSteps = 4, Mode = Co2Mode.OneStepStale }); });
        Assert.All(afterOne, r => Assert.Equal(init, r));
        var afterTwo = StreamingDiLoCoGolden.Run(4, 2, c => { var p = StreamingDiLoCoGolden.Problem(c.Rank); return new Co2(c, p, StreamingDiLoCoGolden.AdamW(p), new Co2Options { InnerSteps = 4, Mode = Co2Mode.OneStepStale, OuterMomentum = 0, OuterLr = 1, MomentumClip = double.PositiveInfinity }); });
        Assert.All(afterTwo, r => Assert.Equal(afterTwo[0], r));
        // With β = 0, η = 1 the anchor is the average of the round-1 models = the periodic-averaging run after one round.
        var averagedOnce = StreamingDiLoCoGolden.Run(4, 1, c => { var p = StreamingDiLoCoGolden.Problem(c.Rank); return new Co2(c, p, StreamingDiLoCoGolden.AdamW(p), new Co2Options { InnerSteps = 4, OuterMomentum = 0, OuterLr = 1, MomentumClip = double.PositiveInfinity }); });
        StreamingDiLoCoGolden.AssertClose(averagedOnce[0], afterTwo[0], 1e-6, 1e-7);
    }

    [Fact]
    public void DefaultsAndBadInput()
    {
        Assert.Equal(0.0, Co2.DefaultMomentum(4));
        Assert.Equal(0.2, Co2.DefaultMomentum(32));
        Assert.Equal(0.5, Co2.DefaultMomentum(64));
        Assert.Equal(0.6, Co2.DefaultMomentum(65));
        InProcessWorld.Run(1, c =>
        {
            var p = StreamingDiLoCoGolden.Problem(0);
            Assert.Throws<ArgumentOutOfRangeException>(() => new Co2(c, p, StreamingDiLoCoGolden.AdamW(p), new Co2Options { GapPenalty = 0 }));
            Assert.Throws<ArgumentOutOfRangeException>(() => new Co2(c, p, StreamingDiLoCoGolden.AdamW(p), new Co2Options { InnerSteps = 0 }));
        });
    }
}
