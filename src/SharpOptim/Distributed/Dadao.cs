namespace SharpOptim.Distributed;

/// <summary>
/// DADAO: Nabli, Oyallon, "DADAO: Decoupled Accelerated Decentralized Asynchronous Optimization", ICML 2023
/// (PMLR 202:25604–25626), arXiv 2208.00779; implemented from the official code (AdelNabli/DADAO
/// <c>optimizers.py</c> <c>DADAO_optimizer</c>, <c>utils.py</c>) as summarised in ../shared/papers/distributed.md §5.
/// Minimises Σ_i f_i(x) over a connected graph, each f_i L-smooth and μ-strongly convex (f_i includes its own
/// μ/2‖x‖², as the code's logistic regression does), with a primal gradient oracle; fully asynchronous: it is driven by
/// an event list (<see cref="EventSimulator.PoissonClocks"/>; gradient rate n, communication rate √(2χ₁χ₂)).
/// <para>Each node i holds six float64 vectors x, x̃, y, ỹ, z, z̃ (all 0 except x = x⁰) and the time t_i of its last
/// event. Between events they follow the linear ODE <c>ẋ = η(x̃ − x)</c>, <c>x̃̇ = η̃(x − x̃)</c>, <c>ẏ = α(ỹ − y)</c>,
/// <c>ỹ̇ = −θ(νx̃ + y + z)</c>, <c>ż = α(z̃ − z)</c>, <c>z̃̇ = α̃(z − z̃)</c>, applied lazily as <c>S ← exp(M(t − t_i))S</c>
/// when the node next takes part in an event. Gradient event at i: <c>r = ∇f_i(x_i) − νx_i − ỹ_i</c>;
/// <c>x_i −= γr</c>; <c>x̃_i −= γ̃r</c>; <c>ỹ_i += (δ + δ̃)r</c>. Communication on edge (i, j):
/// <c>m = (y_i + z_i) − (y_j + z_j)</c>; <c>z_i −= βm</c>, <c>z̃_i −= β̃m</c>, <c>z_j += βm</c>, <c>z̃_j += β̃m</c>.</para>
/// <para>Constants (ν = μ/2): α = ¼√(ν/L), α̃ = ⅛√(ν/L), η = η̃ = ⅛√(ν/L), θ = ½√(L/ν), β = ½, β̃ = 2χ₁*√(L/ν),
/// δ = ¼√(ν/L), δ̃ = 1, γ = 1/(4L), γ̃ = 1/(4√(Lν)); graph: L_norm = Laplacian/|E|, χ₁ = 1/λ₂⁺(L_norm),
/// χ₂ = max over edges of ½(e_i − e_j)ᵀL_norm⁺(e_i − e_j), λ_mix = √(2χ₁χ₂), χ₁* = χ₁/λ_mix.</para>
/// Deviations: the ODE matrix is built in float64 (the official code fills a float32 matrix and then converts it, so
/// its constants are rounded to float32); a fixed graph (the code can cycle over 50 random graphs); the stochastic
/// mode's running average of x is not implemented (deterministic gradients only); this is the event-driven simulator
/// form (no MPI version, as the brief allows).
/// </summary>
public sealed class Dadao
{
    private readonly int _nodes;
    private readonly int _dimension;
    private readonly Action<int, double[], double[]> _gradient;
    private readonly double[][,] _state; // per node: 6 × d
    private readonly double[] _lastEvent;
    private readonly double[,] _ode = new double[6, 6];
    private readonly double _nu, _beta, _betaTilde, _delta, _deltaTilde, _gamma, _gammaTilde;
    private readonly double[] _x;
    private readonly double[] _g;
    private readonly HashSet<(int, int)> _edgeSet;

    /// <summary>
    /// DADAO over <paramref name="nodes"/> nodes joined by the undirected <paramref name="edges"/> (a connected graph),
    /// all starting at <paramref name="initial"/>; <paramref name="gradient"/>(i, x, into) writes ∇f_i(x) into
    /// <c>into</c>; <paramref name="smoothness"/> L and <paramref name="strongConvexity"/> μ are the worst local
    /// constants.
    /// </summary>
    public Dadao(int nodes, IReadOnlyList<(int I, int J)> edges, double[] initial, Action<int, double[], double[]> gradient, double smoothness, double strongConvexity)
    {
        ArgumentNullException.ThrowIfNull(edges);
        ArgumentNullException.ThrowIfNull(initial);
        ArgumentNullException.ThrowIfNull(gradient);
        if (nodes < 2) throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "DADAO needs at least two nodes.");
        if (initial.Length == 0) throw new ArgumentException("the initial point is empty.", nameof(initial));
        if (!double.IsFinite(smoothness) || smoothness <= 0) throw new ArgumentOutOfRangeException(nameof(smoothness), smoothness, "L must be positive and finite.");
        if (!double.IsFinite(strongConvexity) || strongConvexity <= 0 || strongConvexity > smoothness)
            throw new ArgumentOutOfRangeException(nameof(strongConvexity), strongConvexity, "μ must lie in (0, L].");
        (Chi1, Chi2) = GraphConstants(nodes, edges);
        _nodes = nodes;
        _dimension = initial.Length;
        _gradient = gradient;
        Edges = edges.ToArray();
        _edgeSet = edges.Select(e => (Math.Min(e.I, e.J), Math.Max(e.I, e.J))).ToHashSet();
        double l = smoothness, mu = strongConvexity, nu = mu / 2;
        _nu = nu;
        CommunicationRate = Math.Sqrt(2 * Chi1 * Chi2);
        GradientRate = nodes;
        double chi1Star = Chi1 / CommunicationRate;
        double alpha = 0.25 * Math.Sqrt(nu / l), alphaTilde = 0.125 * Math.Sqrt(nu / l), eta = 0.125 * Math.Sqrt(nu / l), etaTilde = eta, theta = 0.5 * Math.Sqrt(l / nu);
        _beta = 0.5;
        _betaTilde = 2 * chi1Star * Math.Sqrt(l / nu);
        _delta = 0.25 * Math.Sqrt(nu / l);
        _deltaTilde = 1;
        _gamma = 1 / (4 * l);
        _gammaTilde = 1 / (4 * Math.Sqrt(l * nu));
        _ode[0, 0] = -eta; _ode[0, 1] = eta;
        _ode[1, 0] = etaTilde; _ode[1, 1] = -etaTilde;
        _ode[2, 2] = -alpha; _ode[2, 3] = alpha;
        _ode[3, 1] = -theta * nu; _ode[3, 2] = -theta; _ode[3, 4] = -theta;
        _ode[4, 4] = -alpha; _ode[4, 5] = alpha;
        _ode[5, 4] = alphaTilde; _ode[5, 5] = -alphaTilde;
        _state = new double[nodes][,];
        for (int i = 0; i < nodes; i++)
        {
            _state[i] = new double[6, _dimension];
            for (int k = 0; k < _dimension; k++) _state[i][0, k] = initial[k];
        }
        _lastEvent = new double[nodes];
        _x = new double[_dimension];
        _g = new double[_dimension];
    }

    /// <summary>χ₁ = 1/λ₂⁺ of the edge-probability Laplacian (Laplacian/|E|).</summary>
    public double Chi1 { get; }

    /// <summary>χ₂ = the largest effective resistance of an edge in the edge-probability Laplacian.</summary>
    public double Chi2 { get; }

    /// <summary>Rate of the communication clock, √(2χ₁χ₂).</summary>
    public double CommunicationRate { get; }

    /// <summary>Rate of the gradient clock, n.</summary>
    public double GradientRate { get; }

    /// <summary>The graph's edges.</summary>
    public IReadOnlyList<(int I, int J)> Edges { get; }

    /// <summary>Gradient events processed.</summary>
    public long GradientEvents { get; private set; }

    /// <summary>Communication events processed (each sends d floats each way).</summary>
    public long CommunicationEvents { get; private set; }

    /// <summary>Time of the last event processed.</summary>
    public double Time { get; private set; }

    /// <summary>Block <paramref name="block"/> (0 x, 1 x̃, 2 y, 3 ỹ, 4 z, 5 z̃) of node <paramref name="node"/>, as of its last event.</summary>
    public double[] Block(int node, int block)
    {
        if (node < 0 || node >= _nodes) throw new ArgumentOutOfRangeException(nameof(node), node, FormattableString.Invariant($"node must lie in [0, {_nodes})."));
        if (block < 0 || block >= 6) throw new ArgumentOutOfRangeException(nameof(block), block, "block must lie in [0, 6).");
        return Enumerable.Range(0, _dimension).Select(k => _state[node][block, k]).ToArray();
    }

    /// <summary>Node <paramref name="node"/>'s primal iterate x_i.</summary>
    public double[] X(int node) => Block(node, 0);

    /// <summary>Processes <paramref name="events"/> in order.</summary>
    public void Run(IEnumerable<EventSimulatorEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        foreach (var e in events) Apply(e);
    }

    /// <summary>Processes one event; events must come in non-decreasing time order.</summary>
    public void Apply(EventSimulatorEvent e)
    {
        if (!double.IsFinite(e.Time) || e.Time < Time)
            throw new ArgumentException(FormattableString.Invariant($"event at time {e.Time} comes after time {Time}: events must be processed in time order."), nameof(e));
        if (e.Node < 0 || e.Node >= _nodes) throw new ArgumentException(FormattableString.Invariant($"event node {e.Node} is not in [0, {_nodes})."), nameof(e));
        if (e.IsGradient)
        {
            int i = e.Node;
            Integrate(i, e.Time);
            var s = _state[i];
            for (int k = 0; k < _dimension; k++) _x[k] = s[0, k];
            _gradient(i, _x, _g);
            for (int k = 0; k < _dimension; k++)
            {
                double r = _g[k] - _nu * s[0, k] - s[3, k];
                s[0, k] -= _gamma * r;
                s[1, k] -= _gammaTilde * r;
                s[3, k] += (_delta + _deltaTilde) * r;
            }
            GradientEvents++;
        }
        else
        {
            int i = e.Node, j = e.Peer;
            if (j < 0 || j >= _nodes || j == i || !_edgeSet.Contains((Math.Min(i, j), Math.Max(i, j))))
                throw new ArgumentException(FormattableString.Invariant($"communication event on ({i}, {j}), which is not an edge of the graph."), nameof(e));
            Integrate(i, e.Time);
            Integrate(j, e.Time);
            var si = _state[i];
            var sj = _state[j];
            for (int k = 0; k < _dimension; k++)
            {
                double m = (si[2, k] + si[4, k]) - (sj[2, k] + sj[4, k]);
                si[4, k] -= _beta * m; si[5, k] -= _betaTilde * m;
                sj[4, k] += _beta * m; sj[5, k] += _betaTilde * m;
            }
            CommunicationEvents++;
        }
        Time = e.Time;
    }

    private void Integrate(int node, double t)
    {
        double dt = t - _lastEvent[node];
        if (dt > 0)
        {
            var e = MatrixExponential(_ode, dt);
            var s = _state[node];
            var column = new double[6];
            for (int k = 0; k < _dimension; k++)
            {
                for (int a = 0; a < 6; a++)
                {
                    double sum = 0;
                    for (int b = 0; b < 6; b++) sum += e[a, b] * s[b, k];
                    column[a] = sum;
                }
                for (int a = 0; a < 6; a++) s[a, k] = column[a];
            }
        }
        _lastEvent[node] = t;
    }

    /// <summary>exp(<paramref name="m"/>·<paramref name="t"/>) for a small square matrix: scaling and squaring with a degree-18 Taylor series (float64).</summary>
    internal static double[,] MatrixExponential(double[,] m, double t)
    {
        int n = m.GetLength(0);
        double norm = 0;
        for (int a = 0; a < n; a++)
        {
            double row = 0;
            for (int b = 0; b < n; b++) row += Math.Abs(m[a, b] * t);
            norm = Math.Max(norm, row);
        }
        int squarings = norm > 0.5 ? (int)Math.Ceiling(Math.Log2(norm / 0.5)) : 0;
        double scale = t / Math.Pow(2, squarings);
        var a1 = new double[n, n];
        for (int a = 0; a < n; a++) for (int b = 0; b < n; b++) a1[a, b] = m[a, b] * scale;
        var result = Identity(n);
        var term = Identity(n);
        for (int k = 1; k <= 18; k++)
        {
            term = Multiply(term, a1);
            for (int a = 0; a < n; a++) for (int b = 0; b < n; b++) { term[a, b] /= k; result[a, b] += term[a, b]; }
        }
        for (int s = 0; s < squarings; s++) result = Multiply(result, result);
        return result;
    }

    private static double[,] Identity(int n)
    {
        var i = new double[n, n];
        for (int a = 0; a < n; a++) i[a, a] = 1;
        return i;
    }

    private static double[,] Multiply(double[,] x, double[,] y)
    {
        int n = x.GetLength(0);
        var r = new double[n, n];
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
            {
                double sum = 0;
                for (int c = 0; c < n; c++) sum += x[a, c] * y[c, b];
                r[a, b] = sum;
            }
        return r;
    }

    /// <summary>χ₁ and χ₂ of the edge-probability Laplacian; rejects a graph that is not connected.</summary>
    public static (double Chi1, double Chi2) GraphConstants(int nodes, IReadOnlyList<(int I, int J)> edges)
    {
        ArgumentNullException.ThrowIfNull(edges);
        if (edges.Count == 0) throw new ArgumentException("the graph has no edges.", nameof(edges));
        var lap = new double[nodes, nodes];
        foreach (var (i, j) in edges)
        {
            if (i < 0 || j < 0 || i >= nodes || j >= nodes || i == j)
                throw new ArgumentException(FormattableString.Invariant($"edge ({i}, {j}) is not a pair of distinct nodes in [0, {nodes})."), nameof(edges));
            lap[i, i] += 1; lap[j, j] += 1; lap[i, j] -= 1; lap[j, i] -= 1;
        }
        for (int a = 0; a < nodes; a++) for (int b = 0; b < nodes; b++) lap[a, b] /= edges.Count;
        var eigen = SymmetricEigen.Eigenvalues(lap);
        double threshold = 1e-10 * eigen.Max(Math.Abs);
        if (eigen.Count(v => Math.Abs(v) <= threshold) != 1)
            throw new ArgumentException("the graph is not connected (its Laplacian has more than one zero eigenvalue).", nameof(edges));
        double chi1 = 1 / eigen.Where(v => v > threshold).Min();
        // Pseudo-inverse of a connected graph's Laplacian: (L + 11ᵀ/n)⁻¹ − 11ᵀ/n.
        var shifted = new double[nodes, nodes];
        for (int a = 0; a < nodes; a++) for (int b = 0; b < nodes; b++) shifted[a, b] = lap[a, b] + 1.0 / nodes;
        var inverse = Invert(shifted);
        double chi2 = 0;
        foreach (var (i, j) in edges)
        {
            // The 11ᵀ/n terms cancel in (e_i − e_j)ᵀ · (e_i − e_j).
            double resistance = 0.5 * (inverse[i, i] + inverse[j, j] - inverse[i, j] - inverse[j, i]);
            chi2 = Math.Max(chi2, resistance);
        }
        return (chi1, chi2);
    }

    private static double[,] Invert(double[,] matrix)
    {
        int n = matrix.GetLength(0);
        var a = (double[,])matrix.Clone();
        var inv = Identity(n);
        for (int c = 0; c < n; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(a[r, c]) > Math.Abs(a[pivot, c])) pivot = r;
            if (Math.Abs(a[pivot, c]) < 1e-14) throw new InvalidOperationException("singular matrix.");
            for (int k = 0; k < n; k++) { (a[c, k], a[pivot, k]) = (a[pivot, k], a[c, k]); (inv[c, k], inv[pivot, k]) = (inv[pivot, k], inv[c, k]); }
            double d = a[c, c];
            for (int k = 0; k < n; k++) { a[c, k] /= d; inv[c, k] /= d; }
            for (int r = 0; r < n; r++)
            {
                if (r == c) continue;
                double f = a[r, c];
                if (f == 0) continue;
                for (int k = 0; k < n; k++) { a[r, k] -= f * a[c, k]; inv[r, k] -= f * inv[c, k]; }
            }
        }
        return inv;
    }
}
