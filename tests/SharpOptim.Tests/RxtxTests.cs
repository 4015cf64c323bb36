using SharpOptim.Analysis;
using SharpOptim.Optimizers;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// RXTX (arXiv:2505.09814) against X·Xᵀ: exact on integer matrices (every partial sum is an integer far below 2²⁴, so
/// float32 and float64 arithmetic make no rounding error and any wrong sign or index in the 26 products shows up as
/// a nonzero difference), within a stated forward-error bound on Gaussian matrices, and with the paper's count of
/// products per level.
/// </summary>
public class RxtxTests
{
    private static Tensor IntegerMatrix(long n, long m, ScalarType dtype, long seed)
    {
        var g = new Generator((ulong)seed);
        return randint(-3, 4, new[] { n, m }, dtype: ScalarType.Int64, generator: g).to_type(dtype);
    }

    [Theory]
    [InlineData(16, 16, 4)]     // one level, 4 × 4 blocks of 4 × 4
    [InlineData(8, 12, 4)]      // one level, rectangular blocks of 2 × 3
    [InlineData(64, 64, 4)]     // three levels
    [InlineData(37, 53, 8)]     // padding at every level (37 → 40, 53 → 56; 10 → 12, 14 → 16)
    [InlineData(4, 4, 4)]       // 1 × 1 blocks: the scalar identity of Algorithm 1
    public void IsExactOnIntegerMatricesInFloat64AndFloat32(long n, long m, long cutoff)
    {
        foreach (var dtype in new[] { ScalarType.Float64, ScalarType.Float32 })
        {
            using var x = IntegerMatrix(n, m, dtype, seed: n * 1000 + m);
            using var expected = x.matmul(x.mT);
            using var actual = Rxtx.Gram(x, cutoff);
            Assert.Equal(new[] { n, n }, actual.shape);
            Assert.Equal(dtype, actual.dtype);
            Assert.True(actual.eq(expected).all().item<bool>(), $"RXTX differs from X·Xᵀ on an integer {n}x{m} matrix in {dtype}");
        }
    }

    [Fact]
    public void EveryOneOfTheSixteenBlocksMatters()
    {
        // A single nonzero block at a time: each of the 16 blocks must reach exactly the entries X·Xᵀ puts it in.
        for (int k = 0; k < 16; k++)
        {
            using var x = zeros(8, 8, dtype: ScalarType.Float64);
            using (var g = IntegerMatrix(2, 2, ScalarType.Float64, seed: k + 1))
                x.narrow(0, k / 4 * 2, 2).narrow(1, k % 4 * 2, 2).copy_(g);
            using var expected = x.matmul(x.mT);
            using var actual = Rxtx.Gram(x, cutoff: 8);
            Assert.True(actual.eq(expected).all().item<bool>(), $"block X{k + 1} alone gives a wrong product");
        }
    }

    [Theory]
    [InlineData(256, 256, 64, ScalarType.Float64)]
    [InlineData(128, 512, 32, ScalarType.Float64)]
    [InlineData(256, 256, 16, ScalarType.Float32)]
    [InlineData(256, 1024, 64, ScalarType.Float32)]
    [InlineData(131, 200, 32, ScalarType.Float32)]
    public void AgreesWithTheFloat64ProductWithinTheForwardErrorBound(long n, long m, long cutoff, ScalarType dtype)
    {
        using var x64 = randn(new[] { n, m }, dtype: ScalarType.Float64, generator: new Generator(7));
        using var x = x64.to_type(dtype);
        using var exact = x.to_type(ScalarType.Float64).matmul(x.to_type(ScalarType.Float64).mT);
        using var actual = Rxtx.Gram(x, cutoff).to_type(ScalarType.Float64);
        // Bound: a length-m dot product errs by at most m·u·(|x||y|) (Higham, γ_m); RXTX first adds up to 7 blocks on
        // each side and then up to 10 products, each level, so its error is a constant multiple of that: 32·(levels)
        // covers 7 + 7 + 10 additions per level with room. Scale: the largest entry of |X||X|ᵀ.
        using var absX = x.to_type(ScalarType.Float64).abs();
        double scale = absX.matmul(absX.mT).max().item<double>();
        double u = dtype == ScalarType.Float64 ? Math.Pow(2, -53) : Math.Pow(2, -24);
        int levels = 0;
        for (long r = n, c = m; r >= cutoff && c >= cutoff; r = (r + 3) / 4, c = (c + 3) / 4) levels++;
        Assert.True(levels >= 1, "the case must recurse at least once");
        double bound = 32.0 * levels * m * u * scale;
        double error = actual.sub(exact).abs().max().item<double>();
        Assert.True(error <= bound, $"max error {error:E3} exceeds the bound {bound:E3} ({n}x{m}, {dtype}, {levels} levels)");
    }

    [Fact]
    public void UsesTwentySixGeneralProductsAndEightRecursiveCallsPerLevel()
    {
        using var x = randn(64, 96, dtype: ScalarType.Float64);
        var one = new Rxtx.ProductCounter();
        Rxtx.Gram(x, cutoff: 32, one).Dispose();          // 64 → 16: one split
        Assert.Equal((1L, 26L, 8L), (one.Splits, one.GeneralProducts, one.BaseGrams));
        var two = new Rxtx.ProductCounter();
        Rxtx.Gram(x, cutoff: 16, two).Dispose();          // 64 → 16 → 4: the 8 recursive calls split again
        Assert.Equal((1L + 8L, 26L + 8 * 26L, 64L), (two.Splits, two.GeneralProducts, two.BaseGrams));
        var none = new Rxtx.ProductCounter();
        Rxtx.Gram(x, cutoff: 65, none).Dispose();         // below the cutoff: one plain product
        Assert.Equal((0L, 0L, 1L), (none.Splits, none.GeneralProducts, none.BaseGrams));
    }

    [Fact]
    public void RejectsBadInputBeforeComputing()
    {
        using var v = ones(5);
        Assert.Contains("shape [5]", Assert.Throws<ArgumentException>(() => Rxtx.Gram(v)).Message);
        using var i = ones(new long[] { 4, 4 }, dtype: ScalarType.Int64);
        Assert.Contains("Int64", Assert.Throws<ArgumentException>(() => Rxtx.Gram(i)).Message);
        using var x = ones(8, 8);
        Assert.Contains("cutoff: 3", Assert.Throws<ArgumentException>(() => Rxtx.Gram(x, 3)).Message);
    }

    [Fact]
    public void DoesNotTouchItsInputAndReturnsAContiguousSymmetricProduct()
    {
        using var x = randn(64, 80, dtype: ScalarType.Float64, generator: new Generator(3));
        using var before = x.clone();
        using var c = Rxtx.Gram(x, cutoff: 16);
        Assert.True(x.eq(before).all().item<bool>());
        Assert.True(c.is_contiguous());
        // The off-diagonal blocks are stored as exact transposes; the diagonal blocks C11, C44 come from recursive
        // calls and C22, C33 from sums of products, so symmetry there holds to rounding only.
        using var sym = c.sub(c.mT).abs().max();
        Assert.True(sym.item<double>() < 1e-10);
    }
}
