namespace SharpOptim.MultiTask;

/// <summary>
/// The minimum-norm point of the convex hull of T vectors, from their Gram matrix M (M_st = ⟨g_s, g_t⟩):
/// w* = argmin_{w ∈ Δ} wᵀMw, Δ the probability simplex. This is the sub-problem of MGDA (Désidéri 2012) as
/// Sener &amp; Koltun solve it in "Multi-Task Learning as Multi-Objective Optimization" (NeurIPS 2018,
/// arXiv:1810.04650), Algorithms 1 and 2:
/// <list type="bullet">
/// <item>two vectors a, b (Algorithm 1): γ* = argmin_{γ∈[0,1]} ‖γa + (1−γ)b‖² is 1 if ⟨a,b⟩ ≥ ‖a‖², 0 if
/// ⟨a,b⟩ ≥ ‖b‖², else (‖b‖² − ⟨a,b⟩)/‖a − b‖²; for T = 2 this is the exact answer (closed form);</item>
/// <item>T ≥ 3 (Algorithm 2, Frank–Wolfe with exact line search): t̂ = argmin_t (Mw)_t, then the two-vector rule
/// between the current combination and vertex t̂ (aa = wᵀMw, ab = (Mw)_t̂, bb = M_t̂t̂) gives γ and
/// w ← γw + (1−γ)e_t̂; stop when Σ|Δw| &lt; tolerance (official default 1e-5) or after maxIterations (250).</item>
/// </list>
/// Deviations from the official code (isl-org/MultiObjectiveOptimization, <c>min_norm_solvers.py</c>): the endpoints
/// of the two-vector rule are exact 0 and 1 (the code returns 0.001 and 0.999, which keeps every task in the
/// combination with weight ≥ 0.001 and is not in the paper); the start is the paper's uniform point by default, the
/// code's best pair on request (<see cref="MinNormStart.BestPair"/>). Only the T×T matrix is touched, in float64.
/// </summary>
public static class MinNormSolver
{
    /// <summary>The official code's stopping tolerance on the L1 change of w.</summary>
    public const double DefaultTolerance = 1e-5;
    /// <summary>The official code's iteration cap.</summary>
    public const int DefaultMaxIterations = 250;

    /// <summary>The two-vector rule (Algorithm 1): the γ ∈ [0, 1] minimising ‖γa + (1−γ)b‖², and that squared norm,
    /// from aa = ‖a‖², ab = ⟨a, b⟩, bb = ‖b‖².</summary>
    public static (double Gamma, double SquaredNorm) LineSearch(double aa, double ab, double bb)
    {
        if (ab >= aa) return (1.0, aa);
        if (ab >= bb) return (0.0, bb);
        // aa + bb − 2ab = ‖a − b‖² > 0 here, since ab < aa and ab < bb.
        double gamma = (bb - ab) / (aa + bb - 2 * ab);
        return (gamma, bb + gamma * (ab - bb));
    }

    /// <summary>
    /// Solves min_{w∈Δ} wᵀMw. <paramref name="gram"/> must be square, finite and symmetric (relative tolerance 1e-9);
    /// positive semi-definiteness is assumed (a Gram matrix is). One task returns w = [1]; two tasks use the closed
    /// form; more use Frank–Wolfe from <paramref name="start"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An empty, non-square, non-finite or asymmetric matrix, or a bad
    /// <paramref name="maxIterations"/> / <paramref name="tolerance"/>.</exception>
    public static MinNormResult Solve(double[,] gram, int maxIterations = DefaultMaxIterations, double tolerance = DefaultTolerance,
        MinNormStart start = MinNormStart.Uniform)
    {
        ArgumentNullException.ThrowIfNull(gram);
        int t = gram.GetLength(0);
        if (t == 0 || gram.GetLength(1) != t)
            throw new ArgumentException(FormattableString.Invariant($"The Gram matrix must be square with at least one row; got {gram.GetLength(0)}x{gram.GetLength(1)}."), nameof(gram));
        if (maxIterations < 1)
            throw new ArgumentException(FormattableString.Invariant($"maxIterations must be at least 1; got {maxIterations}."), nameof(maxIterations));
        if (!(tolerance >= 0) || double.IsInfinity(tolerance))
            throw new ArgumentException(FormattableString.Invariant($"tolerance must be finite and non-negative; got {tolerance}."), nameof(tolerance));
        double scale = 0;
        for (int i = 0; i < t; i++)
            for (int j = 0; j < t; j++)
            {
                if (!double.IsFinite(gram[i, j]))
                    throw new ArgumentException(FormattableString.Invariant($"The Gram matrix has a non-finite entry {gram[i, j]} at ({i}, {j})."), nameof(gram));
                scale = Math.Max(scale, Math.Abs(gram[i, j]));
            }
        for (int i = 0; i < t; i++)
            for (int j = i + 1; j < t; j++)
                if (Math.Abs(gram[i, j] - gram[j, i]) > 1e-9 * scale)
                    throw new ArgumentException(FormattableString.Invariant($"The Gram matrix is not symmetric: M[{i},{j}] = {gram[i, j]} but M[{j},{i}] = {gram[j, i]}."), nameof(gram));

        if (t == 1) return new MinNormResult(new[] { 1.0 }, gram[0, 0], 0, 0);
        if (t == 2)
        {
            var (g, cost) = LineSearch(gram[0, 0], gram[0, 1], gram[1, 1]);
            var w2 = new[] { g, 1 - g };
            return new MinNormResult(w2, Quadratic(gram, w2), Gap(gram, w2), 0);
        }

        var w = start == MinNormStart.BestPair ? BestPair(gram) : Enumerable.Repeat(1.0 / t, t).ToArray();
        var mw = new double[t];
        int it = 0;
        while (it < maxIterations)
        {
            it++;
            Multiply(gram, w, mw);
            int best = 0;
            for (int i = 1; i < t; i++)
                if (mw[i] < mw[best]) best = i;
            double aa = Dot(w, mw), ab = mw[best], bb = gram[best, best];
            var (gamma, _) = LineSearch(aa, ab, bb);
            double change = 0;
            for (int i = 0; i < t; i++)
            {
                double next = gamma * w[i] + (i == best ? 1 - gamma : 0);
                change += Math.Abs(next - w[i]);
                w[i] = next;
            }
            if (change < tolerance) break;
        }
        return new MinNormResult(w, Quadratic(gram, w), Gap(gram, w), it);
    }

    /// <summary>The Euclidean projection of <paramref name="v"/> onto the probability simplex (sort-based: Held, Wolfe
    /// &amp; Crowder 1974; Duchi et al. 2008): w_i = max(v_i − τ, 0) with τ chosen so that Σw = 1.</summary>
    public static double[] ProjectOntoSimplex(IReadOnlyList<double> v)
    {
        ArgumentNullException.ThrowIfNull(v);
        if (v.Count == 0) throw new ArgumentException("Cannot project an empty vector onto the simplex.", nameof(v));
        for (int i = 0; i < v.Count; i++)
            if (!double.IsFinite(v[i]))
                throw new ArgumentException(FormattableString.Invariant($"Cannot project a vector with a non-finite entry {v[i]} at {i} onto the simplex."), nameof(v));
        var u = v.OrderByDescending(x => x).ToArray();
        double cumulative = 0, tau = 0;
        for (int k = 0; k < u.Length; k++)
        {
            cumulative += u[k];
            double candidate = (cumulative - 1) / (k + 1);
            if (u[k] - candidate > 0) tau = candidate;
        }
        return v.Select(x => Math.Max(x - tau, 0)).ToArray();
    }

    private static double[] BestPair(double[,] m)
    {
        int t = m.GetLength(0);
        double bestCost = double.PositiveInfinity;
        int bi = 0, bj = 1;
        double bg = 1;
        for (int i = 0; i < t; i++)
            for (int j = i + 1; j < t; j++)
            {
                var (g, cost) = LineSearch(m[i, i], m[i, j], m[j, j]);
                if (cost < bestCost)
                {
                    bestCost = cost;
                    (bi, bj, bg) = (i, j, g);
                }
            }
        var w = new double[t];
        w[bi] = bg;
        w[bj] = 1 - bg;
        return w;
    }

    private static void Multiply(double[,] m, double[] w, double[] into)
    {
        int t = w.Length;
        for (int i = 0; i < t; i++)
        {
            double s = 0;
            for (int j = 0; j < t; j++) s += m[i, j] * w[j];
            into[i] = s;
        }
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private static double Quadratic(double[,] m, double[] w)
    {
        var mw = new double[w.Length];
        Multiply(m, w, mw);
        return Dot(w, mw);
    }

    private static double Gap(double[,] m, double[] w)
    {
        var mw = new double[w.Length];
        Multiply(m, w, mw);
        return Math.Max(0, Dot(w, mw) - mw.Min());
    }
}
