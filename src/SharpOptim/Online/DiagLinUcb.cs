namespace SharpOptim.Online;

/// <summary>
/// Diag-LinUCB, the bandit of "Online Matching: A Real-time Bandit System for Large-scale Recommendations" (Yi, Wang,
/// He, Chandrasekaran, Wu, Heldt, Hong, Chen &amp; Chi, RecSys 2023, arXiv:2307.15893): LinUCB with each arm's design
/// matrix replaced by its diagonal. The context is a sparse weight vector w over C user clusters; each (arm j,
/// cluster c) edge keeps d_{j,c} (starts at the ridge λ) and b_{j,c} (starts at 0).
/// Score: UCB_j = Σ_{c: w_c≠0} w_c b_{j,c}/d_{j,c} + α √(Σ_{c: w_c≠0} w_c²/d_{j,c}).
/// Update after reward r on arm j: d_{j,c} += w_c², b_{j,c} += w_c r for every c with w_c ≠ 0.
/// No inverse, O(nnz(w)) per score and update, and updates are plain additions that commute: feedback can be
/// aggregated by workers and applied in any order (<see cref="Merge"/>).
/// <b>Reconstruction</b> (second-hand equations): the paper body was not available; the equations are as stated, consistently, by two third-party
/// write-ups (labelled there as the paper's Eqs. 7–10). Hyperparameters (α, λ, the number of clusters, the top-k and
/// temperature of the context weights) are <b>not the paper's</b>: its values are unknown; the defaults here
/// (λ = 1) are the re-implementation's. For one-hot contexts the design matrix is diagonal, so Diag-LinUCB equals
/// <see cref="LinUcb"/> exactly (up to rounding).
/// </summary>
public sealed class DiagLinUcb : IBanditPolicy
{
    private readonly double[][] _d;
    private readonly double[][] _b;

    /// <summary>Creates the policy.</summary>
    /// <param name="arms">Number of arms (items).</param>
    /// <param name="contextDimension">Number of clusters C.</param>
    /// <param name="alpha">Exploration weight α ≥ 0.</param>
    /// <param name="ridge">Initial d_{j,c} = λ &gt; 0.</param>
    public DiagLinUcb(int arms, int contextDimension, double alpha, double ridge = 1.0)
    {
        BanditInput.CheckShape(arms, contextDimension);
        if (!(alpha >= 0) || !double.IsFinite(alpha)) throw new ArgumentException(FormattableString.Invariant($"alpha must be a finite number ≥ 0, got {alpha}."), nameof(alpha));
        if (!(ridge > 0) || !double.IsFinite(ridge)) throw new ArgumentException(FormattableString.Invariant($"ridge must be positive and finite, got {ridge}."), nameof(ridge));
        Arms = arms;
        ContextDimension = contextDimension;
        Alpha = alpha;
        Ridge = ridge;
        _d = new double[arms][];
        _b = new double[arms][];
        for (int a = 0; a < arms; a++)
        {
            _d[a] = new double[contextDimension];
            Array.Fill(_d[a], ridge);
            _b[a] = new double[contextDimension];
        }
    }

    /// <inheritdoc/>
    public int Arms { get; }
    /// <inheritdoc/>
    public int ContextDimension { get; }
    /// <summary>α.</summary>
    public double Alpha { get; }
    /// <summary>λ.</summary>
    public double Ridge { get; }

    /// <summary>The diagonal d_{j,·} of one arm.</summary>
    public ReadOnlySpan<double> Precision(int arm) => _d[arm];

    /// <summary>b_{j,·} of one arm.</summary>
    public ReadOnlySpan<double> Response(int arm) => _b[arm];

    /// <inheritdoc/>
    public double[] Scores(IReadOnlyList<double[]> contexts)
    {
        BanditInput.CheckContexts(contexts, Arms, ContextDimension);
        var p = new double[Arms];
        for (int a = 0; a < Arms; a++)
        {
            var w = contexts[a];
            double mean = 0, q = 0;
            for (int c = 0; c < w.Length; c++)
            {
                if (w[c] == 0) continue;
                mean += w[c] * _b[a][c] / _d[a][c];
                q += w[c] * w[c] / _d[a][c];
            }
            p[a] = mean + Alpha * Math.Sqrt(q);
        }
        return p;
    }

    /// <inheritdoc/>
    public int SelectArm(IReadOnlyList<double[]> contexts) => BanditInput.ArgMax(Scores(contexts));

    /// <inheritdoc/>
    public void Update(double[] context, int arm, double reward)
    {
        BanditInput.CheckUpdate(context, arm, reward, Arms, ContextDimension);
        for (int c = 0; c < context.Length; c++)
        {
            if (context[c] == 0) continue;
            _d[arm][c] += context[c] * context[c];
            _b[arm][c] += context[c] * reward;
        }
    }

    /// <summary>Adds the feedback a worker accumulated (its d − λ and b) to this policy: how the system aggregates
    /// feedback from many servers. The worker must have the same arms, clusters and ridge.</summary>
    public void Merge(DiagLinUcb worker)
    {
        ArgumentNullException.ThrowIfNull(worker);
        if (worker.Arms != Arms || worker.ContextDimension != ContextDimension || worker.Ridge != Ridge)
            throw new ArgumentException(FormattableString.Invariant($"worker has {worker.Arms} arms, {worker.ContextDimension} clusters, ridge {worker.Ridge}; this policy has {Arms}, {ContextDimension}, {Ridge}."), nameof(worker));
        for (int a = 0; a < Arms; a++)
            for (int c = 0; c < ContextDimension; c++)
            {
                _d[a][c] += worker._d[a][c] - worker.Ridge;
                _b[a][c] += worker._b[a][c];
            }
    }
}
