using SharpOptim.Optimizers;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Analysis;

/// <summary>
/// RXTX: X·Xᵀ by recursive 4 × 4 block multiplication, from Rybin, Zhang &amp; Luo, "XXᵗ Can Be Faster"
/// (arXiv:2505.09814, Algorithm 1). X (n × m) is split into 4 × 4 blocks X₁ … X₁₆ (row-major, each n/4 × m/4); the
/// product uses 8 recursive calls s₁ … s₈ = XᵢXᵢᵀ for i ∈ {1, 2, 3, 4, 13, 14, 15, 16} and 26 general block products
/// m₁ … m₂₆ of block sums, e.g. m₁ = (−X₂ + X₃ − X₄ + X₈)(X₈ + X₁₁)ᵀ, then assembles the upper blocks
/// C₁₁ = s₁ + s₂ + s₃ + s₄, C₄₄ = s₅ + s₆ + s₇ + s₈, C₁₂ = m₂ − m₅ − m₇ + m₁₁ + m₁₂ + m₁₃ + m₁₉, … (the paper's
/// Algorithm 1, written out in <see cref="Gram(Tensor, long)"/>) and fills the lower ones as Cⱼᵢ = Cᵢⱼᵀ. The number
/// of multiplications is R(n) = 8R(n/4) + 26M(n/4) against 16R(n/4) + 24M(n/4) for the previous best
/// (asymptotic constant 26/41 ≈ 0.634 of Strassen's count instead of 2/3).
/// <para>
/// The general products m₁ … m₂₆ are libtorch matmuls (the paper uses Strassen–Winograd or BLAS for them; here
/// BLAS, i.e. the <c>M</c> above is the classical count). Recursion continues while both dimensions are at least
/// <c>cutoff</c>; below it X·Xᵀ is one libtorch matmul. Deviation: dimensions that are not multiples of 4 are
/// zero-padded to the next multiple at each level (zero rows and columns change nothing in the kept block of the
/// result, so the product stays exact up to rounding); the paper states the algorithm for divisible sizes only.
/// </para>
/// <para>
/// Rounding: the block sums add up to 7 blocks before a product and up to 10 products after it, so the result equals
/// X·Xᵀ only up to rounding (not bit for bit); on integer-valued matrices whose partial sums are exactly
/// representable it is exact.
/// </para>
/// </summary>
public static class Rxtx
{
    /// <summary>The default recursion cutoff: blocks smaller than this in either dimension are one matmul.</summary>
    public const long DefaultCutoff = 256;

    /// <summary>The number of general block products per recursion level (the paper's 26).</summary>
    public const int GeneralProductsPerLevel = 26;

    /// <summary>The number of recursive calls per recursion level (the paper's 8).</summary>
    public const int RecursiveCallsPerLevel = 8;

    /// <summary>X·Xᵀ of a floating-point matrix <paramref name="x"/> ([n, m]) by RXTX, recursing while both dimensions
    /// are at least <paramref name="cutoff"/> (≥ 4). Returns a new contiguous [n, n] tensor in x's dtype and device.</summary>
    public static Tensor Gram(Tensor x, long cutoff = DefaultCutoff) => Gram(x, cutoff, counter: null);

    /// <summary>As <see cref="Gram(Tensor, long)"/>, counting the products it performs (for the tests of the paper's
    /// multiplication count).</summary>
    internal static Tensor Gram(Tensor x, long cutoff, ProductCounter? counter)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.ndim != 2) throw new ArgumentException(FormattableString.Invariant($"RXTX needs a matrix; got shape [{string.Join(", ", x.shape)}]."), nameof(x));
        if (!x.is_floating_point()) throw new ArgumentException(FormattableString.Invariant($"RXTX needs a floating-point matrix; got dtype {x.dtype}."), nameof(x));
        if (cutoff < 4) throw new ArgumentException(FormattableString.Invariant($"Invalid cutoff: {cutoff} (must be >= 4, the block count per dimension)."), nameof(cutoff));
        using var scope = NewDisposeScope();
        using var s = new ScalarHold();
        var result = Recurse(x, cutoff, s[1], s[-1], counter).contiguous();
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Counts of the products one <see cref="Gram(Tensor, long, ProductCounter?)"/> call performed.</summary>
    internal sealed class ProductCounter
    {
        /// <summary>General block products (the m's of every level).</summary>
        public long GeneralProducts;
        /// <summary>Plain X·Xᵀ matmuls at the bottom of the recursion.</summary>
        public long BaseGrams;
        /// <summary>Recursion levels entered (one per RXTX split).</summary>
        public long Splits;
    }

    private static Tensor Recurse(Tensor x, long cutoff, Scalar one, Scalar minusOne, ProductCounter? counter)
    {
        long n = x.shape[0], m = x.shape[1];
        if (n < cutoff || m < cutoff)
        {
            if (counter is not null) counter.BaseGrams++;
            return x.matmul(x.mT);
        }
        if (counter is not null) counter.Splits++;
        // Each level frees its block sums and products as soon as its result is assembled.
        using var level = NewDisposeScope();
        long n4 = (n + 3) / 4 * 4, m4 = (m + 3) / 4 * 4;
        var padded = x;
        if (n4 != n || m4 != m)
        {
            padded = zeros(new[] { n4, m4 }, dtype: x.dtype, device: x.device);
            padded.narrow(0, 0, n).narrow(1, 0, m).copy_(x);
        }
        long b = n4 / 4, c = m4 / 4;
        // X[1..16], row-major as in the paper; index 0 unused so that the code reads like Algorithm 1.
        var X = new Tensor[17];
        for (int r = 0; r < 4; r++)
            for (int col = 0; col < 4; col++)
                X[1 + 4 * r + col] = padded.narrow(0, r * b, b).narrow(1, col * c, c);

        // Σ ± X[i] for signed 1-based indices (a negative index subtracts that block).
        Tensor L(Tensor[] terms, params int[] signed)
        {
            int first = signed[0];
            var acc = first > 0 ? terms[first] : terms[-first].neg();
            for (int k = 1; k < signed.Length; k++)
                acc = acc.add(terms[Math.Abs(signed[k])], signed[k] > 0 ? one : minusOne);
            return acc;
        }
        Tensor P(Tensor left, Tensor right)
        {
            if (counter is not null) counter.GeneralProducts++;
            return left.matmul(right.mT);
        }

        var M = new Tensor[27];
        M[1] = P(L(X, -2, 3, -4, 8), L(X, 8, 11));
        M[2] = P(L(X, 1, -5, -6, 7), L(X, 15, 5));
        M[3] = P(L(X, -2, 12), L(X, -10, 16, 12));
        M[4] = P(L(X, 9, -6), L(X, 13, 9, -14));
        M[5] = P(L(X, 2, 11), L(X, -6, 15, -7));
        M[6] = P(L(X, 6, 11), L(X, 6, 7, -11));
        M[7] = P(X[11], L(X, 6, 7));
        M[8] = P(X[2], L(X, -14, -10, 6, -15, 7, 16, 12));
        M[9] = P(X[6], L(X, 13, 9, -14, -10, 6, 7, -11));
        M[10] = P(L(X, 2, -3, 7, 11, 4, -8), X[11]);
        M[11] = P(L(X, 5, 6, -7), X[5]);
        M[12] = P(L(X, 2, -3, 4), X[8]);
        M[13] = P(L(X, -1, 5, 6, 3, -7, 11), X[15]);
        M[14] = P(L(X, -1, 5, 6), L(X, 13, 9, 15));
        M[15] = P(L(X, 2, 4, -8), L(X, 11, 16, 12));
        M[16] = P(L(X, 1, -8), L(X, 9, -16));
        M[17] = P(X[12], L(X, 10, -12));
        M[18] = P(X[9], L(X, 13, -14));
        M[19] = P(L(X, -2, 3), L(X, -15, 7, 8));
        M[20] = P(L(X, 5, 9, -8), X[9]);
        M[21] = P(X[8], L(X, 9, -8, 12));
        M[22] = P(L(X, -6, 7), L(X, 5, 7, -11));
        M[23] = P(X[1], L(X, 13, -5, 16));
        M[24] = P(L(X, -1, 4, 12), X[16]);
        M[25] = P(L(X, 9, 2, 10), X[14]);
        M[26] = P(L(X, 6, 10, 12), X[10]);

        Tensor S(int i) => Recurse(X[i], cutoff, one, minusOne, counter);
        var C11 = S(1).add(S(2), one).add(S(3), one).add(S(4), one);
        var C44 = S(13).add(S(14), one).add(S(15), one).add(S(16), one);
        var C12 = L(M, 2, -5, -7, 11, 12, 13, 19);
        var C13 = L(M, 1, 3, 12, 15, 16, 17, 21, -24);
        var C14 = L(M, 2, -3, -5, -7, -8, 11, 13, -17, 23, 24);
        var C22 = L(M, 1, 6, -7, 10, 11, 12, 22);
        var C23 = L(M, 1, -4, 6, -7, -9, 10, 12, 18, 20, 21);
        var C24 = L(M, 2, 4, 11, 14, 16, -18, -20, 23);
        var C33 = L(M, 4, -6, 7, 9, -17, -18, 26);
        var C34 = L(M, 3, 5, 7, 8, 17, 18, 25);

        var upper = new[,] { { C11, C12, C13, C14 }, { null!, C22, C23, C24 }, { null!, null!, C33, C34 }, { null!, null!, null!, C44 } };
        var result = empty(new[] { n4, n4 }, dtype: x.dtype, device: x.device);
        for (int i = 0; i < 4; i++)
            for (int j = i; j < 4; j++)
            {
                result.narrow(0, i * b, b).narrow(1, j * b, b).copy_(upper[i, j]);
                if (j != i) result.narrow(0, j * b, b).narrow(1, i * b, b).copy_(upper[i, j].mT);
            }
        return (n4 == n ? result : result.narrow(0, 0, n).narrow(1, 0, n)).MoveToOuterDisposeScope();
    }
}
