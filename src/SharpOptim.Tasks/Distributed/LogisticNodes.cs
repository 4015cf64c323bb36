using SharpOptim.Tasks.Data;

namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// The convex task of the event-driven distributed runs (DADAO, SA-SRRW; ../shared/papers/distributed.md §5.4, §6.4):
/// ℓ2-regularised logistic regression on scikit-learn's standardised breast_cancer (the 455 training rows of
/// <see cref="BreastCancer"/>, 30 features, no intercept), in float64, split over <see cref="Nodes"/> nodes by a
/// seeded permutation dealt round-robin. Node i's loss is
/// <c>f_i(x) = (1/m_i) Σ_{r∈i} log(1 + exp(−s_r a_rᵀx)) + (μ/2)‖x‖²</c> with s_r = ±1 (each node carries its own ℓ2
/// term, as the official DADAO code's logistic regression does), so every f_i is μ-strongly convex and
/// <see cref="Smoothness"/>-smooth, and the network objective Σ_i f_i has the unique minimiser <see cref="Minimizer"/>
/// (Newton's method to a gradient norm below 1e-13).
/// </summary>
public sealed class LogisticNodes
{
    private readonly double[][] _rows;   // a_r, standardised features
    private readonly double[] _signs;    // s_r = 2y − 1
    private readonly int[][] _nodeRows;

    /// <summary>The task over <paramref name="nodes"/> nodes with ℓ2 weight <paramref name="mu"/>; rows are dealt by a permutation seeded by <paramref name="seed"/>.</summary>
    public LogisticNodes(int nodes, double mu, int seed = 0)
    {
        if (nodes < 1) throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "at least one node is needed.");
        if (!double.IsFinite(mu) || mu <= 0) throw new ArgumentOutOfRangeException(nameof(mu), mu, "μ must be positive and finite (the nodes' losses must be strongly convex).");
        using var data = BreastCancer.Load();
        var x = data.TrainX.data<float>().ToArray();
        var y = data.TrainY.data<long>().ToArray();
        int count = y.Length, d = (int)data.TrainX.shape[1];
        if (nodes > count) throw new ArgumentOutOfRangeException(nameof(nodes), nodes, FormattableString.Invariant($"at most {count} nodes (one row each)."));
        _rows = Enumerable.Range(0, count).Select(r => Enumerable.Range(0, d).Select(c => (double)x[r * d + c]).ToArray()).ToArray();
        _signs = y.Select(v => v == 1 ? 1.0 : -1.0).ToArray();
        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        _nodeRows = Enumerable.Range(0, nodes).Select(i => order.Where((_, k) => k % nodes == i).ToArray()).ToArray();
        Nodes = nodes;
        Dimension = d;
        StrongConvexity = mu;
        Smoothness = _nodeRows.Max(LocalCurvature) / 4 + mu;
        Minimizer = Newton();
    }

    /// <summary>Number of nodes n.</summary>
    public int Nodes { get; }

    /// <summary>Dimension d (30).</summary>
    public int Dimension { get; }

    /// <summary>μ: the ℓ2 weight, a lower bound on every f_i's strong convexity.</summary>
    public double StrongConvexity { get; }

    /// <summary>L: the largest local smoothness, max_i λ_max((1/m_i)A_iᵀA_i)/4 + μ.</summary>
    public double Smoothness { get; }

    /// <summary>x* = argmin Σ_i f_i.</summary>
    public double[] Minimizer { get; }

    /// <summary>Rows held by node <paramref name="node"/>.</summary>
    public int RowsOf(int node) => _nodeRows[node].Length;

    /// <summary>Writes ∇f_<paramref name="node"/>(<paramref name="x"/>) into <paramref name="into"/>.</summary>
    public void Gradient(int node, double[] x, double[] into)
    {
        var rows = _nodeRows[node];
        Array.Clear(into);
        foreach (int r in rows)
        {
            var a = _rows[r];
            double margin = 0;
            for (int k = 0; k < a.Length; k++) margin += a[k] * x[k];
            double weight = -_signs[r] * Sigmoid(-_signs[r] * margin);
            for (int k = 0; k < a.Length; k++) into[k] += weight * a[k];
        }
        double inverse = 1.0 / rows.Length;
        for (int k = 0; k < into.Length; k++) into[k] = into[k] * inverse + StrongConvexity * x[k];
    }

    /// <summary>The mean objective (1/n) Σ_i f_i(<paramref name="x"/>).</summary>
    public double Loss(double[] x)
    {
        double total = 0;
        foreach (var rows in _nodeRows)
        {
            double sum = 0;
            foreach (int r in rows)
            {
                double margin = 0;
                for (int k = 0; k < x.Length; k++) margin += _rows[r][k] * x[k];
                double z = -_signs[r] * margin;
                sum += z > 0 ? z + Math.Log(1 + Math.Exp(-z)) : Math.Log(1 + Math.Exp(z));
            }
            total += sum / rows.Length;
        }
        return total / _nodeRows.Length + 0.5 * StrongConvexity * x.Sum(v => v * v);
    }

    private static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));

    // λ_max((1/m) AᵀA) by power iteration (the matrix is 30 × 30, symmetric positive semi-definite).
    private double LocalCurvature(int[] rows)
    {
        int d = _rows[0].Length;
        var gram = new double[d, d];
        foreach (int r in rows)
            for (int a = 0; a < d; a++)
                for (int b = 0; b < d; b++) gram[a, b] += _rows[r][a] * _rows[r][b] / rows.Length;
        var v = Enumerable.Repeat(1.0 / Math.Sqrt(d), d).ToArray();
        double lambda = 0;
        for (int it = 0; it < 1000; it++)
        {
            var w = new double[d];
            for (int a = 0; a < d; a++) for (int b = 0; b < d; b++) w[a] += gram[a, b] * v[b];
            double norm = Math.Sqrt(w.Sum(t => t * t));
            if (norm == 0) return 0;
            for (int a = 0; a < d; a++) v[a] = w[a] / norm;
            if (Math.Abs(norm - lambda) <= 1e-14 * norm) return norm;
            lambda = norm;
        }
        return lambda;
    }

    // Newton's method on (1/n) Σ_i f_i, whose minimiser is that of Σ_i f_i.
    private double[] Newton()
    {
        int d = Dimension;
        var x = new double[d];
        var g = new double[d];
        var gi = new double[d];
        for (int it = 0; it < 100; it++)
        {
            Array.Clear(g);
            var h = new double[d, d];
            for (int i = 0; i < Nodes; i++)
            {
                Gradient(i, x, gi);
                for (int k = 0; k < d; k++) g[k] += gi[k] / Nodes;
                foreach (int r in _nodeRows[i])
                {
                    var a = _rows[r];
                    double margin = 0;
                    for (int k = 0; k < d; k++) margin += a[k] * x[k];
                    double s = Sigmoid(margin), w = s * (1 - s) / (_nodeRows[i].Length * (double)Nodes);
                    for (int p = 0; p < d; p++) for (int q = 0; q < d; q++) h[p, q] += w * a[p] * a[q];
                }
            }
            for (int k = 0; k < d; k++) h[k, k] += StrongConvexity;
            if (Math.Sqrt(g.Sum(v => v * v)) < 1e-13) return x;
            var step = Solve(h, g);
            for (int k = 0; k < d; k++) x[k] -= step[k];
        }
        throw new InvalidOperationException("Newton's method did not reach a gradient norm of 1e-13 in 100 iterations.");
    }

    // Solves h·s = g (h symmetric positive definite) by Cholesky.
    private static double[] Solve(double[,] h, double[] g)
    {
        int d = g.Length;
        var l = new double[d, d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++)
            {
                double sum = h[i, j];
                for (int k = 0; k < j; k++) sum -= l[i, k] * l[j, k];
                l[i, j] = i == j ? Math.Sqrt(sum) : sum / l[j, j];
            }
        var z = new double[d];
        for (int i = 0; i < d; i++)
        {
            double sum = g[i];
            for (int k = 0; k < i; k++) sum -= l[i, k] * z[k];
            z[i] = sum / l[i, i];
        }
        var s = new double[d];
        for (int i = d - 1; i >= 0; i--)
        {
            double sum = z[i];
            for (int k = i + 1; k < d; k++) sum -= l[k, i] * s[k];
            s[i] = sum / l[i, i];
        }
        return s;
    }
}
