using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// Newton–Schulz orthogonalization as in Muon (Jordan et al., 2024; official code KellerJordan/Muon,
/// <c>zeropower_via_newtonschulz5</c>): the quintic iteration X ← aX + (bA + cA²)X with A = XXᵀ and
/// (a, b, c) = (3.4445, −4.7750, 2.0315), after normalising X = G / (‖G‖_F + 1e-7), on the wide orientation
/// (tall matrices are transposed first and back after).
/// <para>
/// Each singular value σ of G becomes p⁵(σ / ‖G‖_F) with p(x) = ax + bx³ + cx⁵: for σ / ‖G‖_F ≥ 3·10⁻³ the result
/// lies in about [0.68, 1.21] — the official "US′Vᵀ with S′ near 1" rather than exactly UVᵀ. Deviation: the
/// official code iterates in bfloat16 on the GPU; here the iteration runs in the input's dtype (float32 on the CPU,
/// where bfloat16 matrix products are slower and less accurate).
/// </para>
/// </summary>
public static class NewtonSchulz
{
    /// <summary>The quintic coefficients (a, b, c).</summary>
    public static readonly (double A, double B, double C) Coefficients = (3.4445, -4.7750, 2.0315);

    /// <summary>Orthogonalizes the last two dimensions of <paramref name="g"/> (rank ≥ 2) with <paramref name="steps"/> iterations,
    /// evaluating c·A·A as (c·A)·A, as the official Muon code does (Python's <c>c * A @ A</c>).</summary>
    public static Tensor Orthogonalize(Tensor g, int steps = 5) => Orthogonalize(g, steps, muonOrder: true);

    /// <summary>As <see cref="Orthogonalize(Tensor, int)"/>; <paramref name="muonOrder"/> = false evaluates c·(A·A), as the
    /// official AuON code does (the two differ only in float rounding).</summary>
    internal static Tensor Orthogonalize(Tensor g, int steps, bool muonOrder)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (g.ndim < 2) throw new ArgumentException(FormattableString.Invariant($"Newton–Schulz needs a matrix; got shape [{string.Join(", ", g.shape)}]."), nameof(g));
        if (steps < 0) throw new ArgumentException(FormattableString.Invariant($"Invalid steps: {steps} (must be >= 0)."), nameof(steps));
        var (a, b, c) = Coefficients;
        bool tall = g.shape[^2] > g.shape[^1];
        using var scope = NewDisposeScope();
        using var s = new ScalarHold();
        Scalar sa = s[a], sb = s[b], sc = s[c], one = s[1];
        var x = tall ? g.mT : g;
        // Half types: the Frobenius norm is taken in float32 and the normalised X cast back. In float16 the squares of
        // entries below 2.4e-4 underflow, so a small gradient had norm 0, X = G / 1e-7 had entries near 1e3, and the
        // first products overflowed to inf/NaN (found by the fuzz matrix). The iteration itself stays in the dtype.
        var dtype = x.dtype;
        if (dtype is ScalarType.Float16 or ScalarType.BFloat16) x = x.to_type(ScalarType.Float32);
        x = x.div(x.pow(s[2]).sum(new long[] { -2, -1 }, keepdim: true).sqrt().add(s[1e-7], s[1]));
        if (x.dtype != dtype) x = x.to_type(dtype);
        for (int i = 0; i < steps; i++)
        {
            var am = x.matmul(x.mT);
            var bm = am.mul(sb).add(muonOrder ? am.mul(sc).matmul(am) : am.matmul(am).mul(sc), one);
            x = x.mul(sa).add(bm.matmul(x), one);
        }
        if (tall) x = x.mT;
        return x.contiguous().MoveToOuterDisposeScope();
    }
}
