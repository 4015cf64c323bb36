using SharpOptim.Tasks.Bandits;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>PCA for the bandit contexts: exact on data lying in a known subspace.</summary>
public class PrincipalComponentsTests
{
    [Fact]
    public void RecoversAPlaneAndItsCoordinatesUpToSign()
    {
        // Rows μ + 3a·e₁ + b·e₃ in R⁵ (a, b centred ±1 patterns): the covariance has eigenvalues 9·var(a) and var(b) on
        // e₁ and e₃ and 0 elsewhere, so two components keep all the variance and project x to ±(3a, b)/‖(3a, b)‖.
        var mu = new[] { 1.0, -2.0, 0.5, 4.0, 0.0 };
        var coords = new List<(double A, double B)>();
        var rows = new List<double[]>();
        foreach (double a in new[] { -1.0, 1.0 })
            foreach (double b in new[] { -1.0, 1.0 })
            {
                coords.Add((a, b));
                rows.Add(new[] { mu[0] + 3 * a, mu[1], mu[2] + b, mu[3], mu[4] });
            }
        var pca = PrincipalComponents.Fit(rows, 2);
        Assert.Equal(2, pca.Components);
        Assert.Equal(1.0, pca.ExplainedVarianceFraction, 12);
        double n = Math.Sqrt(10);
        var first = pca.Project(rows[0]);
        double s0 = Math.Sign(first[0] * coords[0].A), s1 = Math.Sign(first[1] * coords[0].B);   // one sign per component
        for (int r = 0; r < rows.Count; r++)
        {
            var y = pca.Project(rows[r]);
            Assert.Equal(s0 * 3 * coords[r].A / n, y[0], 12);
            Assert.Equal(s1 * coords[r].B / n, y[1], 12);
        }
        // One component keeps 9/10 of the variance.
        Assert.Equal(0.9, PrincipalComponents.Fit(rows, 1).ExplainedVarianceFraction, 12);
    }

    [Fact]
    public void RejectsBadInput()
    {
        var rows = new[] { new[] { 1.0, 2.0 }, new[] { 0.0, 1.0 } };
        Assert.Contains("components: 3", Assert.Throws<ArgumentException>(() => PrincipalComponents.Fit(rows, 3)).Message);
        Assert.Contains("got 1", Assert.Throws<ArgumentException>(() => PrincipalComponents.Fit(rows[..1], 1)).Message);
        Assert.Contains("row 1 has 3", Assert.Throws<ArgumentException>(() => PrincipalComponents.Fit(new[] { new[] { 1.0, 2.0 }, new[] { 1.0, 2.0, 3.0 } }, 1)).Message);
        Assert.Contains("length 3", Assert.Throws<ArgumentException>(() => PrincipalComponents.Fit(rows, 1).Project(new[] { 1.0, 2.0, 3.0 })).Message);
    }
}
