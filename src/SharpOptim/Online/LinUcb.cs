namespace SharpOptim.Online;

/// <summary>
/// LinUCB with disjoint linear models (Li, Chu, Langford &amp; Schapire, "A Contextual-Bandit Approach to Personalized
/// News Article Recommendation", WWW 2010, arXiv:1003.0146, Algorithm 1). Per arm a: A_a = λI, b_a = 0. Round t:
/// θ_a = A_a⁻¹ b_a, p_a = θ_aᵀ x_{t,a} + α √(x_{t,a}ᵀ A_a⁻¹ x_{t,a}); play argmax p_a (lowest index on ties);
/// then A_{a_t} += x xᵀ, b_{a_t} += r x.
/// Numerics: A_a⁻¹ is maintained in float64 by Sherman–Morrison, A⁻¹ ← A⁻¹ − (A⁻¹x)(A⁻¹x)ᵀ/(1 + xᵀA⁻¹x), and the
/// quadratic form is clamped at 0 before the square root. α = 0 is the greedy ridge-regression policy.
/// Per-arm models over the raw context are the same policy as one model over the "disjoint" K·d encoding (x in block
/// a, zeros elsewhere), whose design matrix is block diagonal. State: K matrices d×d and K vectors of length d.
/// </summary>
public sealed class LinUcb : IBanditPolicy
{
    private readonly double[][] _aInv;
    private readonly double[][] _b;
    private readonly double[] _u;

    /// <summary>Creates the policy.</summary>
    /// <param name="arms">K.</param>
    /// <param name="contextDimension">d.</param>
    /// <param name="alpha">Exploration weight α ≥ 0 (paper: 1 + √(ln(2/δ)/2); tuned in practice).</param>
    /// <param name="ridge">λ &gt; 0 (paper: 1).</param>
    public LinUcb(int arms, int contextDimension, double alpha, double ridge = 1.0)
    {
        BanditInput.CheckShape(arms, contextDimension);
        if (!(alpha >= 0) || !double.IsFinite(alpha)) throw new ArgumentException(FormattableString.Invariant($"alpha must be a finite number ≥ 0, got {alpha}."), nameof(alpha));
        if (!(ridge > 0) || !double.IsFinite(ridge)) throw new ArgumentException(FormattableString.Invariant($"ridge must be positive and finite, got {ridge}."), nameof(ridge));
        Arms = arms;
        ContextDimension = contextDimension;
        Alpha = alpha;
        Ridge = ridge;
        int d = contextDimension;
        _aInv = new double[arms][];
        _b = new double[arms][];
        for (int a = 0; a < arms; a++)
        {
            _aInv[a] = new double[d * d];
            for (int i = 0; i < d; i++) _aInv[a][i * d + i] = 1.0 / ridge;
            _b[a] = new double[d];
        }
        _u = new double[d];
    }

    /// <inheritdoc/>
    public int Arms { get; }
    /// <inheritdoc/>
    public int ContextDimension { get; }
    /// <summary>α.</summary>
    public double Alpha { get; }
    /// <summary>λ.</summary>
    public double Ridge { get; }

    /// <summary>A_a⁻¹ of one arm, row-major d×d.</summary>
    public ReadOnlySpan<double> InverseDesign(int arm) => _aInv[arm];

    /// <summary>b_a of one arm.</summary>
    public ReadOnlySpan<double> Response(int arm) => _b[arm];

    /// <inheritdoc/>
    public double[] Scores(IReadOnlyList<double[]> contexts)
    {
        BanditInput.CheckContexts(contexts, Arms, ContextDimension);
        var p = new double[Arms];
        for (int a = 0; a < Arms; a++) p[a] = Score(a, contexts[a]);
        return p;
    }

    /// <inheritdoc/>
    public int SelectArm(IReadOnlyList<double[]> contexts) => BanditInput.ArgMax(Scores(contexts));

    /// <inheritdoc/>
    public void Update(double[] context, int arm, double reward)
    {
        BanditInput.CheckUpdate(context, arm, reward, Arms, ContextDimension);
        int d = ContextDimension;
        var m = _aInv[arm];
        MatVec(m, context, _u);
        double q = 0;
        for (int i = 0; i < d; i++) q += context[i] * _u[i];
        double denom = 1 + q;
        for (int i = 0; i < d; i++)
        {
            double ui = _u[i] / denom;
            int row = i * d;
            for (int j = 0; j < d; j++) m[row + j] -= ui * _u[j];
        }
        var b = _b[arm];
        for (int i = 0; i < d; i++) b[i] += reward * context[i];
    }

    private double Score(int a, double[] x)
    {
        int d = ContextDimension;
        var m = _aInv[a];
        var u = new double[d];
        MatVec(m, x, u);
        double mean = 0, q = 0;
        var b = _b[a];
        // θᵀx = bᵀ A⁻¹ x (A⁻¹ symmetric), so one product A⁻¹x serves the mean and the width.
        for (int i = 0; i < d; i++) { mean += b[i] * u[i]; q += x[i] * u[i]; }
        return mean + Alpha * Math.Sqrt(Math.Max(q, 0));
    }

    private void MatVec(double[] m, double[] x, double[] y)
    {
        int d = ContextDimension;
        for (int i = 0; i < d; i++)
        {
            double s = 0;
            int row = i * d;
            for (int j = 0; j < d; j++) s += m[row + j] * x[j];
            y[i] = s;
        }
    }
}
