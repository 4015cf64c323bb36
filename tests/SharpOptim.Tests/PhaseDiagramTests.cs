using SharpOptim.Analysis;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>The gradient-descent cubic map z ← (1 + a)z − a z³ and its five phases, checked against the boundaries
/// derived in <see cref="GradientDescentCubicMap"/>'s analysis (a = 1/2, 1, 2).</summary>
public class PhaseDiagramTests
{
    [Theory]
    [InlineData(0.1)]
    [InlineData(0.3)]
    [InlineData(0.5)]
    public void SmallStepsConvergeMonotonically(double a)
    {
        foreach (double z0 in new[] { 0.05, 0.3, 0.9, -0.4 })
            Assert.Equal(TrainingPhase.Monotonic, GradientDescentCubicMap.Classify(a, z0).Phase);
    }

    [Theory]
    [InlineData(0.55)]
    [InlineData(0.8)]
    [InlineData(0.99)]
    public void StepsBetweenHalfAndOneOvershootAndConverge(double a)
    {
        // f'(1) = 1 − 2a ∈ (−1, 0): attracting with overshoot. Started at z0 = 0.9, the first step already overshoots
        // 1 when a·z0(z0 + 1) > 1, i.e. a > 0.585; from z0 = 1.05 every a > 1/2 overshoots.
        Assert.Equal(TrainingPhase.Catapult, GradientDescentCubicMap.Classify(a, 1.05).Phase);
        Assert.True(Math.Abs(GradientDescentCubicMap.Derivative(a, 1)) < 1);
    }

    [Theory]
    [InlineData(1.05)]
    [InlineData(1.2)]
    public void PastTheFlipBoundaryTheIteratesSettleOnATwoCycle(double a)
    {
        Assert.Equal(-1.0, GradientDescentCubicMap.Derivative(GradientDescentCubicMap.FlipBoundary, 1), 15);
        var o = GradientDescentCubicMap.Classify(a, 0.3);
        Assert.Equal(TrainingPhase.Periodic, o.Phase);
        Assert.Equal(2, o.Period);
        double p = o.Tail[^1], q = GradientDescentCubicMap.Step(a, p);
        Assert.Equal(p, GradientDescentCubicMap.Step(a, q), 9);
        Assert.True(Math.Abs(p - q) > 1e-3);
        Assert.True(Math.Abs(GradientDescentCubicMap.Derivative(a, p) * GradientDescentCubicMap.Derivative(a, q)) < 1, "a stable 2-cycle");
        Assert.True(o.Lyapunov < 0);
    }

    [Theory]
    [InlineData(1.9)]
    [InlineData(1.95)]
    [InlineData(1.999)]
    public void NearTheEscapeBoundaryTheDynamicsAreChaoticButBounded(double a)
    {
        foreach (double z0 in new[] { 0.3, 0.9 })
        {
            var o = GradientDescentCubicMap.Classify(a, z0, iterations: 20000);
            Assert.Equal(TrainingPhase.Chaotic, o.Phase);
            Assert.True(o.Lyapunov > 0.2, $"a = {a}: Lyapunov exponent {o.Lyapunov}");
            Assert.All(o.Tail, z => Assert.True(Math.Abs(z) <= Math.Sqrt((2 + a) / a)));
        }
    }

    [Theory]
    [InlineData(2.01)]
    [InlineData(2.5)]
    public void PastTheEscapeBoundaryTheIteratesDiverge(double a)
    {
        // 4(1 + a)³ = 27(2 + a) exactly at a = 2: the invariant interval breaks.
        Assert.Equal(27 * (2 + GradientDescentCubicMap.EscapeBoundary), 4 * Math.Pow(1 + GradientDescentCubicMap.EscapeBoundary, 3));
        Assert.Equal(TrainingPhase.Divergent, GradientDescentCubicMap.Classify(a, 0.3, iterations: 20000).Phase);
    }

    [Fact]
    public void PhasesAppearInOrderWithTheAnalysedBoundaries()
    {
        var grid = Enumerable.Range(1, 440).Select(i => i * 0.005).ToArray();   // a ∈ (0, 2.2]
        var phases = grid.Select(a => GradientDescentCubicMap.Classify(a, 0.3).Phase).ToArray();
        double First(TrainingPhase p) => grid[Array.IndexOf(phases, p)];
        double Last(TrainingPhase p) => grid[Array.LastIndexOf(phases, p)];
        Assert.True(Last(TrainingPhase.Monotonic) <= 0.5 + 0.09, $"last monotonic a = {Last(TrainingPhase.Monotonic)}");
        Assert.True(First(TrainingPhase.Catapult) > 0.5, $"first catapult a = {First(TrainingPhase.Catapult)}");
        Assert.True(Last(TrainingPhase.Catapult) <= 1.0,   // a = 1 itself converges, slowly (neutral fixed point)
            $"last catapult a = {Last(TrainingPhase.Catapult)}");
        Assert.True(Math.Abs(First(TrainingPhase.Periodic) - 1.0) <= 0.01, $"first periodic a = {First(TrainingPhase.Periodic)}");
        Assert.True(First(TrainingPhase.Chaotic) > First(TrainingPhase.Periodic) && Last(TrainingPhase.Chaotic) <= 2.0, $"chaotic from {First(TrainingPhase.Chaotic)} to {Last(TrainingPhase.Chaotic)}");
        Assert.True(Math.Abs(First(TrainingPhase.Divergent) - 2.0) <= 0.01, $"first divergent a = {First(TrainingPhase.Divergent)}");
        Assert.True(phases.Zip(phases.Skip(1)).All(p => !(p.First == TrainingPhase.Divergent && p.Second != TrainingPhase.Divergent)));
    }

    [Fact]
    public void BadInputIsRejected()
    {
        Assert.Throws<ArgumentException>(() => GradientDescentCubicMap.Classify(0, 0.3));
        Assert.Throws<ArgumentException>(() => GradientDescentCubicMap.Classify(1, 0));
        Assert.Throws<ArgumentException>(() => GradientDescentCubicMap.Classify(1, double.NaN));
        Assert.Throws<ArgumentException>(() => GradientDescentCubicMap.Classify(1, 0.3, iterations: 10));
    }
}
