using SharpOptim.Analysis;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// <see cref="HessianSpectrum"/> on a tiny tanh MLP in float64 (8 inputs of 4 features, 5 hidden units, 3 classes,
/// cross-entropy), checked against the block's exact Hessian built independently: row i is the autograd gradient of
/// the i-th gradient entry, and its eigenvalues come from LAPACK (<c>torch.linalg.eigvalsh</c>).
/// </summary>
public class HessianSpectrumTests
{
    private sealed class TinyMlp
    {
        public readonly Tensor W1, B1, W2, X, Y;

        public TinyMlp()
        {
            var g = new Generator(20_241_130);
            X = torch.randn(8, 4, dtype: ScalarType.Float64, generator: g);
            Y = torch.tensor(new long[] { 0, 1, 2, 0, 1, 2, 1, 0 });
            W1 = torch.randn(5, 4, dtype: ScalarType.Float64, generator: g).requires_grad_(true);
            B1 = torch.randn(5, dtype: ScalarType.Float64, generator: g).requires_grad_(true);
            W2 = torch.randn(3, 5, dtype: ScalarType.Float64, generator: g).requires_grad_(true);
        }

        public Tensor Loss() =>
            nn.functional.cross_entropy(torch.tanh(X.matmul(W1.t()) + B1).matmul(W2.t()), Y);
    }

    private static double[,] ExactHessian(Tensor loss, Tensor block)
    {
        int n = (int)block.numel();
        var g = torch.autograd.grad(new[] { loss }, new[] { block }, create_graph: true, retain_graph: true)[0].reshape(-1);
        var h = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            var row = torch.autograd.grad(new[] { g[i] }, new[] { block }, retain_graph: true)[0].reshape(-1).data<double>().ToArray();
            for (int j = 0; j < n; j++) h[i, j] = row[j];
        }
        return h;
    }

    private static double[] Eigenvalues(double[,] h)
    {
        int n = h.GetLength(0);
        var flat = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) flat[i * n + j] = 0.5 * (h[i, j] + h[j, i]);
        return torch.linalg.eigvalsh(torch.tensor(flat, dtype: ScalarType.Float64).reshape(n, n)).data<double>().ToArray();
    }

    [Theory]
    [InlineData("W1")]
    [InlineData("W2")]
    public void FullDimensionLanczosGivesTheExactTopEigenvalues(string name)
    {
        var m = new TinyMlp();
        var block = name == "W1" ? m.W1 : m.W2;
        var loss = m.Loss();
        var exact = Eigenvalues(ExactHessian(loss, block));
        var spectrum = new HessianSpectrum(loss, block);
        var start = Enumerable.Range(0, spectrum.Dimension).Select(i => 1.0 + 0.1 * Math.Sin(i + 1)).ToArray();
        var ritz = spectrum.Lanczos(start, spectrum.Dimension);
        double scale = exact.Max(Math.Abs);
        for (int k = 1; k <= 3; k++)
            Assert.True(Math.Abs(ritz.Values[^k] - exact[^k]) <= 1e-8 * scale,
                $"{name}: Ritz value {k} from the top {ritz.Values[^k]:R}, exact {exact[^k]:R}");
        Assert.True(Math.Abs(ritz.Values[0] - exact[0]) <= 1e-8 * scale, $"{name}: lowest Ritz {ritz.Values[0]:R}, exact {exact[0]:R}");
        // The weights are the squared first components of an orthonormal eigenbasis of T: they sum to 1.
        Assert.Equal(1.0, ritz.Weights.Sum(), 12);
    }

    [Fact]
    public void HessianVectorProductMatchesTheExactHessianColumn()
    {
        var m = new TinyMlp();
        var loss = m.Loss();
        var h = ExactHessian(loss, m.W1);
        var spectrum = new HessianSpectrum(loss, m.W1);
        var e = new double[spectrum.Dimension];
        e[7] = 1;
        var hv = spectrum.HessianVectorProduct(e);
        for (int i = 0; i < hv.Length; i++) Assert.Equal(h[i, 7], hv[i], 12);
    }

    [Fact]
    public void SlqDensityIntegratesToOneAndItsMeanIsTheHutchinsonTrace()
    {
        var m = new TinyMlp();
        var loss = m.Loss();
        var h = ExactHessian(loss, m.W1);
        int n = h.GetLength(0);
        var spectrum = new HessianSpectrum(loss, m.W1);
        const int probes = 30, seed = 7;
        var runs = spectrum.StochasticLanczosQuadrature(probes, steps: 8, seed);
        double sigma = 0.01;
        double lo = runs.Min(r => r.Values.Min()) - 12 * sigma, hi = runs.Max(r => r.Values.Max()) + 12 * sigma;
        int points = 20_001;
        var grid = Enumerable.Range(0, points).Select(i => lo + (hi - lo) * i / (points - 1)).ToArray();
        var phi = HessianSpectrum.Density(runs, grid, sigma);
        double dx = grid[1] - grid[0], mass = 0, mean = 0;
        for (int i = 0; i + 1 < points; i++)
        {
            mass += 0.5 * dx * (phi[i] + phi[i + 1]);
            mean += 0.5 * dx * (grid[i] * phi[i] + grid[i + 1] * phi[i + 1]);
        }
        Assert.True(Math.Abs(mass - 1) < 1e-9, $"density integrates to {mass:R}");

        // Exact invariant: Σ_k τ_k θ_k = e₁ᵀ T e₁ = qᵀ H q with q = z/√n, so the mean is the Hutchinson estimate on the
        // same Rademacher probes (drawn as documented: new Random(seed), Next(2) per entry).
        var rng = new Random(seed);
        double hutchinson = 0, trace = 0, offDiagonal2 = 0;
        for (int p = 0; p < probes; p++)
        {
            var z = new double[n];
            for (int i = 0; i < n; i++) z[i] = rng.Next(2) == 0 ? -1.0 : 1.0;
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) hutchinson += z[i] * h[i, j] * z[j];
        }
        hutchinson /= probes * (double)n;
        for (int i = 0; i < n; i++)
        {
            trace += h[i, i];
            for (int j = 0; j < n; j++) if (i != j) offDiagonal2 += h[i, j] * h[i, j];
        }
        Assert.True(Math.Abs(mean - hutchinson) < 1e-9, $"SLQ mean {mean:R}, Hutchinson estimate {hutchinson:R}");
        // Statistical bound: Var(zᵀHz) = 2 Σ_{i≠j} H_ij² for Rademacher z, so the mean over P probes is within 4 standard
        // deviations, sqrt(2 Σ_{i≠j} H_ij² / P) / n, of trace(H)/n (Chebyshev: fails for at most 1/16 of seeds; the seed is fixed).
        double bound = 4 * Math.Sqrt(2 * offDiagonal2 / probes) / n;
        Assert.True(Math.Abs(mean - trace / n) <= bound, $"SLQ mean {mean:R}, trace/n {trace / n:R}, bound {bound:R}");
    }

    [Fact]
    public void JensenShannonDistanceIsZeroForEqualAndMaximalForDisjointDensities()
    {
        var p = new double[] { 0, 1, 2, 1, 0, 0, 0 };
        var q = new double[] { 0, 0, 0, 0, 0, 3, 1 };
        Assert.Equal(0.0, HessianSpectrum.JensenShannonDistance(p, p.Select(x => 5 * x).ToArray()), 12);
        Assert.Equal(Math.Sqrt(Math.Log(2)), HessianSpectrum.JensenShannonDistance(p, q), 12);
    }

    [Fact]
    public void BadInputIsRejected()
    {
        var m = new TinyMlp();
        var perSample = nn.functional.cross_entropy(torch.tanh(m.X.matmul(m.W1.t()) + m.B1).matmul(m.W2.t()), m.Y, reduction: nn.Reduction.None);
        var e1 = Assert.Throws<ArgumentException>(() => new HessianSpectrum(perSample, m.W1));
        Assert.Contains("scalar", e1.Message);
        var frozen = torch.randn(5, 4, dtype: ScalarType.Float64);
        var e2 = Assert.Throws<ArgumentException>(() => new HessianSpectrum(m.Loss(), frozen));
        Assert.Contains("does not require grad", e2.Message);
        var spectrum = new HessianSpectrum(m.Loss(), m.W1);
        var e3 = Assert.Throws<ArgumentException>(() => spectrum.Lanczos(new double[spectrum.Dimension].Select(_ => 1.0).ToArray(), 0));
        Assert.Contains("got 0", e3.Message);
        Assert.Throws<ArgumentException>(() => spectrum.StochasticLanczosQuadrature(0, 5, 1));
        Assert.Throws<ArgumentException>(() => spectrum.Lanczos(new double[spectrum.Dimension], 3));
        Assert.Throws<ArgumentException>(() => HessianSpectrum.Density(spectrum.StochasticLanczosQuadrature(1, 3, 1), new[] { 0.0 }, 0));
    }
}
