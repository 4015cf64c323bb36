using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Analysis;

/// <summary>
/// The Hessian spectrum of a scalar loss with respect to one parameter block, estimated by Lanczos iterations on
/// Hessian-vector products, as in Zhang, Chen, Ding, Li, Sun &amp; Luo, "Why Transformers Need Adam: A Hessian
/// Perspective" (arXiv:2402.16788) and its official code (zyushun/hessian-spectrum): for each block W, Lanczos
/// started from a random unit probe q₁ builds the tridiagonal T = Qᵀ H_WW Q; its eigenpairs (θ_k, u_k) give Ritz
/// values θ_k and quadrature weights τ_k = u_k[0]²; stochastic Lanczos quadrature (SLQ; Ubaru, Chen &amp; Saad 2017;
/// Ghorbani, Krishnan &amp; Xiao, arXiv:1901.10159) averages the Gaussian-smoothed measures Σ_k τ_k N(t; θ_k, σ²) over
/// probes to estimate the spectral density φ(t) = (1/n) Σ_i δ(t − λ_i).
/// <para>
/// The Hessian-vector product is the double-backward H v = ∂(gᵀv)/∂W with g = ∂ℓ/∂W taken once with
/// <c>create_graph</c> (and <c>retain_graph</c>, which libtorch needs alongside it); the loss graph is kept alive for all
/// products. Lanczos runs in float64 on the host whatever the block's dtype (the products themselves are in the
/// block's dtype).
/// </para>
/// <para>
/// Deviations from the official code, and why: (1) full reorthogonalisation (two Gram–Schmidt passes against every
/// previous Lanczos vector) instead of the plain three-term recurrence, so that with as many steps as the block's
/// dimension the Ritz values are the exact eigenvalues (checkable) and no spurious copies appear; (2) Rademacher
/// probes (seeded <see cref="Random"/>) instead of Gaussian ones (both give unbiased quadrature; Rademacher has the
/// smaller variance of the Hutchinson trace); (3) an invariant subspace (β below 1e-12 of the largest coefficient)
/// stops the iteration instead of dividing by 1e-8; (4) the density is smoothed on a grid the caller chooses (so that
/// blocks share one grid for the Jensen–Shannon distance) and is not renormalised: its integral is Σ τ = 1 when the
/// grid covers the Ritz values by several σ.
/// </para>
/// </summary>
public sealed class HessianSpectrum
{
    private readonly Tensor _block;
    private readonly Tensor? _gradient;

    /// <summary>Ritz values and quadrature weights of one Lanczos run (weights sum to 1).</summary>
    public sealed record RitzPairs(double[] Values, double[] Weights);

    /// <summary>
    /// Prepares Hessian-vector products of <paramref name="loss"/> with respect to <paramref name="block"/>. The loss
    /// must be a scalar with a graph that reaches the block; both stay referenced (the graph is retained) until this
    /// object is dropped.
    /// </summary>
    public HessianSpectrum(Tensor loss, Tensor block)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(block);
        if (loss.numel() != 1)
            throw new ArgumentException($"the loss must be a scalar; got shape [{string.Join(", ", loss.shape)}].", nameof(loss));
        if (!block.requires_grad)
            throw new ArgumentException($"the parameter block (shape [{string.Join(", ", block.shape)}]) does not require grad, so the loss has no Hessian with respect to it.", nameof(block));
        if (!loss.requires_grad)
            throw new ArgumentException("the loss does not require grad: it has no graph to differentiate (was it computed under no_grad?).", nameof(loss));
        _block = block;
        Dimension = checked((int)block.numel());
        var g = torch.autograd.grad(new[] { loss.reshape(Array.Empty<long>()) }, new[] { block }, create_graph: true, retain_graph: true, allow_unused: true)[0];
        // A gradient that does not depend on the block (the loss is affine in it) means H = 0 for this block.
        _gradient = g is null || g.IsInvalid || !g.requires_grad ? null : g;
        if (g is null || g.IsInvalid)
            throw new ArgumentException($"the loss does not depend on the parameter block (shape [{string.Join(", ", block.shape)}]).", nameof(block));
    }

    /// <summary>Number of entries of the block: the Hessian is Dimension × Dimension.</summary>
    public int Dimension { get; }

    /// <summary>H v for a vector of <see cref="Dimension"/> entries (the block flattened in row-major order).</summary>
    public double[] HessianVectorProduct(double[] v)
    {
        ArgumentNullException.ThrowIfNull(v);
        if (v.Length != Dimension)
            throw new ArgumentException($"vector has {v.Length} entries; the block has {Dimension}.", nameof(v));
        if (_gradient is null) return new double[Dimension];
        using var scope = torch.NewDisposeScope();
        var vt = torch.tensor(v, dtype: ScalarType.Float64).reshape(_block.shape).to(_block.dtype, _block.device);
        var dot = (_gradient * vt).sum();
        var hv = torch.autograd.grad(new[] { dot }, new[] { _block }, retain_graph: true, allow_unused: true)[0];
        if (hv is null || hv.IsInvalid) return new double[Dimension];
        return hv.detach().to(ScalarType.Float64).cpu().contiguous().reshape(-1).data<double>().ToArray();
    }

    /// <summary>
    /// Lanczos with full reorthogonalisation from <paramref name="start"/> (any non-zero vector; normalised here) for
    /// <paramref name="steps"/> steps (at most <see cref="Dimension"/>; fewer if the Krylov space becomes invariant):
    /// the eigenpairs of the tridiagonal T, as Ritz values (ascending) and weights u_k[0]².
    /// </summary>
    public RitzPairs Lanczos(double[] start, int steps)
    {
        ArgumentNullException.ThrowIfNull(start);
        if (steps < 1) throw new ArgumentException($"Lanczos needs at least one step; got {steps}.", nameof(steps));
        if (start.Length != Dimension)
            throw new ArgumentException($"start vector has {start.Length} entries; the block has {Dimension}.", nameof(start));
        double norm = Math.Sqrt(Dot(start, start));
        if (!(norm > 0) || !double.IsFinite(norm)) throw new ArgumentException($"start vector must be finite and non-zero; its norm is {norm}.", nameof(start));
        int m = Math.Min(steps, Dimension);
        var q = new List<double[]> { start.Select(x => x / norm).ToArray() };
        var alpha = new List<double>();
        var beta = new List<double>();
        double scale = 0;
        for (int j = 0; j < m; j++)
        {
            var w = HessianVectorProduct(q[j]);
            double a = Dot(w, q[j]);
            alpha.Add(a);
            scale = Math.Max(scale, Math.Abs(a));
            if (j == m - 1) break;
            for (int pass = 0; pass < 2; pass++)
                foreach (var qi in q)
                {
                    double c = Dot(w, qi);
                    for (int i = 0; i < w.Length; i++) w[i] -= c * qi[i];
                }
            double b = Math.Sqrt(Dot(w, w));
            if (!(b > 1e-12 * Math.Max(scale, double.Epsilon))) break;
            scale = Math.Max(scale, b);
            beta.Add(b);
            for (int i = 0; i < w.Length; i++) w[i] /= b;
            q.Add(w);
        }
        return TridiagonalEigen(alpha.ToArray(), beta.ToArray());
    }

    /// <summary>
    /// Stochastic Lanczos quadrature: <paramref name="probes"/> Lanczos runs of <paramref name="steps"/> steps from
    /// Rademacher vectors drawn from <c>new Random(seed)</c> (entry i of probe p is −1 or +1 by <c>Next(2)</c>).
    /// </summary>
    public IReadOnlyList<RitzPairs> StochasticLanczosQuadrature(int probes, int steps, int seed)
    {
        if (probes < 1) throw new ArgumentException($"SLQ needs at least one probe; got {probes}.", nameof(probes));
        if (steps < 1) throw new ArgumentException($"Lanczos needs at least one step; got {steps}.", nameof(steps));
        var rng = new Random(seed);
        var result = new List<RitzPairs>(probes);
        for (int p = 0; p < probes; p++)
        {
            var z = new double[Dimension];
            for (int i = 0; i < z.Length; i++) z[i] = rng.Next(2) == 0 ? -1.0 : 1.0;
            result.Add(Lanczos(z, steps));
        }
        return result;
    }

    /// <summary>
    /// The SLQ density on <paramref name="grid"/>: φ(t) = (1/P) Σ_p Σ_k τ_pk exp(−(t − θ_pk)²/(2σ²)) / (σ√(2π)),
    /// with each Gaussian cut at 30σ (its tail there is below 1e-195).
    /// Integrates to 1 when the grid covers every Ritz value by several σ.
    /// </summary>
    public static double[] Density(IReadOnlyList<RitzPairs> runs, double[] grid, double sigma)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(grid);
        if (runs.Count == 0) throw new ArgumentException("no Lanczos runs to smooth.", nameof(runs));
        if (!(sigma > 0) || !double.IsFinite(sigma)) throw new ArgumentException($"sigma must be positive and finite; got {sigma}.", nameof(sigma));
        var d = new double[grid.Length];
        double c = 1.0 / (sigma * Math.Sqrt(2 * Math.PI) * runs.Count);
        foreach (var r in runs)
            for (int k = 0; k < r.Values.Length; k++)
                for (int i = 0; i < grid.Length; i++)
                {
                    double u = (grid[i] - r.Values[k]) / sigma;
                    if (Math.Abs(u) < 30) d[i] += c * r.Weights[k] * Math.Exp(-0.5 * u * u);
                }
        return d;
    }

    /// <summary>
    /// Jensen–Shannon distance (square root of the divergence, natural log, so in [0, √ln 2]) between two densities on
    /// the same uniform grid, each renormalised to a probability vector over the grid points.
    /// </summary>
    public static double JensenShannonDistance(double[] p, double[] q)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(q);
        if (p.Length != q.Length || p.Length == 0) throw new ArgumentException($"densities must share one non-empty grid; got {p.Length} and {q.Length} points.", nameof(q));
        double sp = p.Sum(), sq = q.Sum();
        if (!(sp > 0) || !(sq > 0)) throw new ArgumentException("densities must have positive mass on the grid.", nameof(p));
        double js = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double a = p[i] / sp, b = q[i] / sq, mid = 0.5 * (a + b);
            // Entries below 1e-300 are dropped: each would add at most 1e-300·ln 2, and halving a subnormal in mid
            // underflows to 0 (a/mid = ∞).
            if (a > 1e-300) js += 0.5 * a * Math.Log(a / mid);
            if (b > 1e-300) js += 0.5 * b * Math.Log(b / mid);
        }
        return Math.Sqrt(Math.Max(js, 0));
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>Eigenpairs of the symmetric tridiagonal (alpha on the diagonal, beta beside it) by cyclic Jacobi
    /// rotations on the dense matrix (m is at most a few hundred): values ascending, weights = first eigenvector
    /// components squared.</summary>
    private static RitzPairs TridiagonalEigen(double[] alpha, double[] beta)
    {
        int m = alpha.Length;
        var a = new double[m, m];
        var v = new double[m, m];
        for (int i = 0; i < m; i++) { a[i, i] = alpha[i]; v[i, i] = 1; }
        for (int i = 0; i + 1 < m; i++) { a[i, i + 1] = beta[i]; a[i + 1, i] = beta[i]; }
        // a[p, r] == 0 is the only value below double.Epsilon (the smallest subnormal) in magnitude.
        JacobiEigen.Diagonalize(a, v, (off, diag) => off <= 1e-34 * Math.Max(diag, double.Epsilon), skipBelow: double.Epsilon);
        var order = Enumerable.Range(0, m).OrderBy(i => a[i, i]).ToArray();
        return new RitzPairs(order.Select(i => a[i, i]).ToArray(), order.Select(i => v[0, i] * v[0, i]).ToArray());
    }
}
