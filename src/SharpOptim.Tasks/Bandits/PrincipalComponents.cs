using SharpOptim.Optimizers;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Bandits;

/// <summary>
/// Principal-component projection for the linear bandit policies on high-dimensional contexts (mnist10k's 784
/// pixels make LinUCB's per-arm d × d inverse cost 784² per arm and round). Fitted on contexts only (no labels): the
/// rows the bandit comparison holds out of the stream; a context x becomes Vₖᵀ(x − μ), L2-normalized, where μ is the
/// fitted rows' mean and Vₖ the top k eigenvectors of their covariance (float64 symmetric eigendecomposition).
/// </summary>
public sealed class PrincipalComponents
{
    private readonly double[] _mean;
    private readonly double[][] _components;

    private PrincipalComponents(double[] mean, double[][] components, double explained)
    {
        _mean = mean;
        _components = components;
        ExplainedVarianceFraction = explained;
    }

    /// <summary>Number of components k.</summary>
    public int Components => _components.Length;

    /// <summary>The share of the fitted rows' total variance the k components keep.</summary>
    public double ExplainedVarianceFraction { get; }

    /// <summary>Fits k components to <paramref name="rows"/> (at least two rows of one length d ≥ k).</summary>
    public static PrincipalComponents Fit(IReadOnlyList<double[]> rows, int components)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count < 2) throw new ArgumentException(FormattableString.Invariant($"PCA needs at least 2 rows; got {rows.Count}."), nameof(rows));
        int d = rows[0].Length;
        if (components < 1 || components > d)
            throw new ArgumentException(FormattableString.Invariant($"Invalid components: {components} (must be in [1, {d}])."), nameof(components));
        var flat = new double[rows.Count * d];
        for (int r = 0; r < rows.Count; r++)
        {
            if (rows[r].Length != d) throw new ArgumentException(FormattableString.Invariant($"PCA rows must share one length; row {r} has {rows[r].Length}, row 0 has {d}."), nameof(rows));
            rows[r].CopyTo(flat, r * d);
        }
        using var scope = NewDisposeScope();
        using var s = new ScalarHold();
        var x = tensor(flat, new long[] { rows.Count, d }, ScalarType.Float64);
        var mean = x.mean(new long[] { 0 }, keepdim: true);
        var centered = x.add(mean, s[-1]);
        var cov = centered.mT.matmul(centered).div(s[rows.Count - 1]);
        var (values, vectors) = linalg.eigh(cov);           // ascending eigenvalues, orthonormal columns
        var top = vectors.narrow(1, d - components, components).flip(1).mT.contiguous();   // [k, d], largest first
        var v = top.data<double>().ToArray();
        var all = values.data<double>().ToArray();
        double total = all.Sum(), kept = all[(d - components)..].Sum();
        var comps = new double[components][];
        for (int k = 0; k < components; k++) comps[k] = v.AsSpan(k * d, d).ToArray();
        return new PrincipalComponents(mean.data<double>().ToArray(), comps, total > 0 ? kept / total : 0);
    }

    /// <summary>Vₖᵀ(x − μ), L2-normalized (left as is when its norm is 0).</summary>
    public double[] Project(double[] x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Length != _mean.Length) throw new ArgumentException(FormattableString.Invariant($"Context of length {x.Length}; the projection was fitted on length {_mean.Length}."), nameof(x));
        var y = new double[_components.Length];
        for (int k = 0; k < y.Length; k++)
        {
            double acc = 0;
            var c = _components[k];
            for (int i = 0; i < x.Length; i++) acc += c[i] * (x[i] - _mean[i]);
            y[k] = acc;
        }
        double norm = Math.Sqrt(y.Sum(v => v * v));
        if (norm > 0) for (int k = 0; k < y.Length; k++) y[k] /= norm;
        return y;
    }
}
