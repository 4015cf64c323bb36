using SharpOptim.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

public class SaSrrwTests
{
    // A ring of 8 agents plus two chords (irregular degrees, so P has a non-zero diagonal somewhere).
    private static readonly (int, int)[] Edges = { (0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 0), (0, 4), (2, 6) };

    // f_i(θ) = ½‖θ − c_i‖²: the minimiser of the uniform average is the mean of the c_i.
    private static readonly double[][] Centres = Enumerable.Range(0, 8).Select(i => new[] { Math.Cos(i), Math.Sin(2 * i) }).ToArray();

    private static void Gradient(int i, double[] theta, double[] into)
    {
        for (int k = 0; k < 2; k++) into[k] = theta[k] - Centres[i][k];
    }

    [Fact]
    public void KernelRowsAreDistributionsAndRepellenceZeroIsTheBaseChain()
    {
        var walk = new SaSrrw(8, Edges, new double[2], Gradient, new SaSrrwOptions { Repellence = 0 });
        var p = walk.BaseChain;
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(1.0, Enumerable.Range(0, 8).Sum(j => p[i, j]), 12);
            for (int j = 0; j < 8; j++) Assert.Equal(p[j, i], p[i, j], 15); // MH weights are symmetric: μ uniform
            var k = walk.KernelRow(i);
            for (int j = 0; j < 8; j++) Assert.Equal(p[i, j], k[j], 14);
        }
        for (int s = 0; s < 50; s++) walk.Step();
        for (int i = 0; i < 8; i++) Assert.Equal(p[i, 0], walk.KernelRow(i)[0], 14); // α = 0 ignores the visit measure
    }

    [Fact]
    public void RepellencePushesTowardsLessVisitedNeighboursWithoutOverflow()
    {
        var walk = new SaSrrw(8, Edges, new double[2], Gradient, new SaSrrwOptions { Repellence = 200, Seed = 1 });
        for (int s = 0; s < 30; s++) walk.Step();
        var x = walk.VisitMeasure;
        Assert.Equal(1.0, x.Sum(), 12);
        Assert.All(x, v => Assert.True(v > 0));
        var p = walk.BaseChain;
        for (int i = 0; i < 8; i++)
        {
            var k = walk.KernelRow(i);
            Assert.All(k, v => Assert.True(double.IsFinite(v)));
            Assert.Equal(1.0, k.Sum(), 12);
            // K_ij/P_ij is decreasing in x_j (the repellence factor (x_j/μ_j)^−α).
            var support = Enumerable.Range(0, 8).Where(j => p[i, j] > 0).ToArray();
            foreach (int a in support)
                foreach (int b in support)
                    if (x[a] < x[b]) Assert.True(k[a] / p[i, a] >= k[b] / p[i, b]);
        }
    }

    [Fact]
    public void VisitMeasureApproachesUniformAndThetaTheAverageMinimiser()
    {
        // The SRRW's measure converges to μ (uniform) and θ to argmin of the μ-average; with α = 5 the walk spreads its
        // visits evenly, so after 20000 steps both are close (bounds several times the observed errors).
        var walk = new SaSrrw(8, Edges, new double[2], Gradient, new SaSrrwOptions { Repellence = 5, Seed = 4 });
        for (int s = 0; s < 20_000; s++) walk.Step();
        Assert.All(walk.VisitMeasure, v => Assert.InRange(v, 0.125 - 0.03, 0.125 + 0.03));
        for (int k = 0; k < 2; k++) Assert.InRange(walk.Theta[k], Centres.Average(c => c[k]) - 0.1, Centres.Average(c => c[k]) + 0.1);
    }

    [Fact]
    public void BadInputIsRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SaSrrw(8, Edges, new double[2], Gradient, new SaSrrwOptions { MeasureExponent = 0.5 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SaSrrw(8, Edges, new double[2], Gradient, new SaSrrwOptions { Repellence = -1 }));
        Assert.Throws<ArgumentException>(() => SaSrrw.MetropolisHastings(3, new[] { (0, 1) })); // agent 2 isolated
    }
}
