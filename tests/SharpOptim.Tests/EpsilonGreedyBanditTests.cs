using SharpOptim.Online;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>ε-greedy around greedy ridge regression: exact behaviour on recorded uniforms.</summary>
public class EpsilonGreedyBanditTests
{
    private static Func<double> Recorded(params double[] values)
    {
        int i = 0;
        return () => values[i++];
    }

    private static double[][] Same(double[] x, int arms) => Enumerable.Repeat(x, arms).ToArray();

    [Fact]
    public void WithEpsilonZeroItIsTheWrappedPolicyStepForStep()
    {
        var rng = new Random(5);
        var plain = new LinUcb(3, 4, 0.0);
        var wrapped = new EpsilonGreedyBandit(new LinUcb(3, 4, 0.0), 0.0, rng.NextDouble);
        var data = new Random(6);
        for (int t = 0; t < 200; t++)
        {
            var x = Enumerable.Range(0, 4).Select(_ => data.NextDouble()).ToArray();
            int a = plain.SelectArm(Same(x, 3));
            Assert.Equal(a, wrapped.SelectArm(Same(x, 3)));
            double r = (a == t % 3) ? 1 : 0;
            plain.Update(x, a, r);
            wrapped.Update(x, a, r);
            Assert.Equal(plain.Scores(Same(x, 3)), wrapped.Scores(Same(x, 3)));
        }
        Assert.Equal(0, wrapped.ExploredRounds);
    }

    [Fact]
    public void ExploresExactlyWhenTheFirstUniformIsBelowEpsilonAndPlaysFloorOfVK()
    {
        // Greedy on a zero model picks arm 0 (lowest index on ties). Rounds: u = 0.05 < 0.1 explores with v = 0.7 → arm
        // ⌊0.7·4⌋ = 2; u = 0.1 is not below ε → greedy arm 0; u = 0.0 explores with v = 0.999… → arm 3 (clamped range).
        var policy = new EpsilonGreedyBandit(new LinUcb(4, 2, 0.0), 0.1, Recorded(0.05, 0.7, 0.1, 0.0, 0.9999999999));
        var x = new[] { 1.0, 0.0 };
        Assert.Equal(2, policy.SelectArm(Same(x, 4)));
        Assert.Equal(0, policy.SelectArm(Same(x, 4)));
        Assert.Equal(3, policy.SelectArm(Same(x, 4)));
        Assert.Equal(2, policy.ExploredRounds);
    }

    [Fact]
    public void UpdatesReachTheWrappedPolicyWhateverArmWasPlayed()
    {
        var inner = new LinUcb(2, 2, 0.0);
        var policy = new EpsilonGreedyBandit(inner, 1.0, Recorded(0.5, 0.75));
        var x = new[] { 1.0, 2.0 };
        int arm = policy.SelectArm(Same(x, 2));
        Assert.Equal(1, arm);
        policy.Update(x, arm, 1.0);
        // Ridge (λ = 1) after one update of arm 1 with x = (1, 2), r = 1: θ = (I + xxᵀ)⁻¹x = x / (1 + ‖x‖²) = (1/6, 2/6).
        var scores = inner.Scores(Same(x, 2));
        Assert.Equal(0.0, scores[0], 15);
        Assert.Equal(5.0 / 6.0, scores[1], 14);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void RejectsAnEpsilonOutsideTheUnitInterval(double epsilon)
    {
        var e = Assert.Throws<ArgumentException>(() => new EpsilonGreedyBandit(new LinUcb(2, 2, 0.0), epsilon, () => 0.5));
        Assert.Contains("epsilon", e.Message);
    }

    [Fact]
    public void RejectsAContextOfTheWrongLengthBeforeDrawing()
    {
        int draws = 0;
        var policy = new EpsilonGreedyBandit(new LinUcb(2, 3, 0.0), 0.5, () => { draws++; return 0.1; });
        Assert.Throws<ArgumentException>(() => policy.SelectArm(Same(new[] { 1.0, 2.0 }, 2)));
        Assert.Equal(0, draws);
    }
}
