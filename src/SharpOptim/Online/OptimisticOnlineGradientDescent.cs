namespace SharpOptim.Online;

/// <summary>
/// Optimistic online mirror descent with the Euclidean mirror map on a ball (optimistic OGD), the method of Chen,
/// Zhang, Tu, Zhao &amp; Zhang, "Optimistic Online Mirror Descent for Bridging Stochastic and Adversarial Online Convex
/// Optimization", arXiv:2302.04552 (ICML 2023), in the SEA model of Sachs, Hadiji, van Erven &amp; Guzmán (NeurIPS 2022).
/// Two-step update with auxiliary point x̂ and hint M (x̂_1 = 0, M_1 = 0):
/// <list type="number">
/// <item>play x_t = Π(x̂_t − η_t M_t);</item>
/// <item>observe g_t = ∇f_t(x_t) (at the played point x_t, not at x̂_t);</item>
/// <item>x̂_{t+1} = Π(x̂_t − η_t g_t);</item>
/// <item>M_{t+1} = g_t (<see cref="OptimisticHint.LastGradient"/>), or 0, or a caller-supplied hint.</item>
/// </list>
/// Step size (default, "adaptive"): η_t = min{ D/√(δ + Σ_{s&lt;t} ‖g_s − M_s‖²), 1/(cL) }, D = 2R, which yields the
/// data-dependent regret bound D√(δ + Σ_t ‖g_t − M_t‖²) on linear losses (without the cap); Σ‖g_t − M_t‖² is what
/// the paper's O(√σ²_{1:T} + √Σ²_{1:T}) bound controls. For λ-strongly convex losses a schedule such as c/(λt) can be
/// passed instead (<see cref="WithSchedule"/>).
/// <b>Reconstruction:</b> the paper's algorithm box and step-size constants could not be read; the two-step update is
/// the standard optimistic OMD its title and abstract name, and the adaptive step size with its 1/(cL) smoothness cap
/// (c = 4 by default) and the c/(λt) schedule are this library's reconstruction, not the paper's stated constants.
/// The exp-concave (optimistic online Newton step) variant is not implemented.
/// With <see cref="OptimisticHint.Zero"/> the learner is projected OGD with the same η_t, bit for bit.
/// </summary>
public sealed class OptimisticOnlineGradientDescent : IOnlineLearner
{
    private readonly double[] _xHat;
    private readonly double[] _hint;
    private readonly double[] _x;
    private readonly Func<long, double>? _schedule;

    /// <summary>Creates the learner with the adaptive step size.</summary>
    /// <param name="dimension">Dimension of x.</param>
    /// <param name="radius">Radius R of the ball; D = 2R.</param>
    /// <param name="hint">Where M_t comes from (default: the last gradient).</param>
    /// <param name="delta">δ &gt; 0 in the adaptive step size (the data-dependent bound uses δ = (2 max‖g‖)²).</param>
    /// <param name="smoothness">L of the expected losses for the 1/(cL) cap; +∞ (default) for no cap.</param>
    /// <param name="capConstant">c in the cap 1/(cL) (default 4; reconstruction).</param>
    public OptimisticOnlineGradientDescent(int dimension, double radius, OptimisticHint hint = OptimisticHint.LastGradient,
        double delta = 1.0, double smoothness = double.PositiveInfinity, double capConstant = 4.0)
        : this(dimension, radius, hint, null)
    {
        EuclideanBall.CheckRadius(delta, nameof(delta));
        if (!(smoothness > 0) || double.IsNaN(smoothness))
            throw new ArgumentException(FormattableString.Invariant($"smoothness must be positive (or +∞ for no cap), got {smoothness}."), nameof(smoothness));
        EuclideanBall.CheckRadius(capConstant, nameof(capConstant));
        Delta = delta;
        Smoothness = smoothness;
        CapConstant = capConstant;
        StepSize = ComputeStepSize();
        Play();
    }

    private OptimisticOnlineGradientDescent(int dimension, double radius, OptimisticHint hint, Func<long, double>? schedule)
    {
        EuclideanBall.CheckDimension(dimension);
        EuclideanBall.CheckRadius(radius, nameof(radius));
        if (!Enum.IsDefined(hint)) throw new ArgumentException(FormattableString.Invariant($"hint {(int)hint} is not an OptimisticHint."), nameof(hint));
        Radius = radius;
        Hint = hint;
        _schedule = schedule;
        _xHat = new double[dimension];
        _hint = new double[dimension];
        _x = new double[dimension];
    }

    /// <summary>Creates the learner with a fixed schedule η_t (function of the 1-based round), e.g. c/(λt) for
    /// λ-strongly convex losses.</summary>
    public static OptimisticOnlineGradientDescent WithSchedule(int dimension, double radius, OptimisticHint hint, Func<long, double> stepSize)
    {
        ArgumentNullException.ThrowIfNull(stepSize);
        var learner = new OptimisticOnlineGradientDescent(dimension, radius, hint, stepSize);
        learner.StepSize = learner.ComputeStepSize();
        learner.Play();
        return learner;
    }

    /// <summary>Radius R of the ball.</summary>
    public double Radius { get; }
    /// <summary>Where the hint comes from.</summary>
    public OptimisticHint Hint { get; }
    /// <summary>δ of the adaptive step size (NaN with a fixed schedule).</summary>
    public double Delta { get; } = double.NaN;
    /// <summary>L of the cap (NaN with a fixed schedule).</summary>
    public double Smoothness { get; } = double.NaN;
    /// <summary>c of the cap (NaN with a fixed schedule).</summary>
    public double CapConstant { get; } = double.NaN;

    /// <summary>η_t of the current round.</summary>
    public double StepSize { get; private set; }

    /// <summary>Σ_{s&lt;t} ‖g_s − M_s‖² over the completed rounds (the term the regret bound depends on).</summary>
    public double HintErrorSum { get; private set; }

    /// <inheritdoc/>
    public int Dimension => _x.Length;

    /// <inheritdoc/>
    public long Round { get; private set; }

    /// <inheritdoc/>
    public ReadOnlySpan<double> Point => _x;

    /// <summary>The hint M_t of the current round.</summary>
    public ReadOnlySpan<double> CurrentHint => _hint;

    /// <summary>Sets M_t for the current round (only with <see cref="OptimisticHint.External"/>) and recomputes x_t.</summary>
    public void SetHint(ReadOnlySpan<double> hint)
    {
        if (Hint != OptimisticHint.External) throw new InvalidOperationException("SetHint needs OptimisticHint.External.");
        EuclideanBall.CheckGradient(hint, _x.Length, nameof(hint));
        hint.CopyTo(_hint);
        Play();
    }

    /// <inheritdoc/>
    public void Update(ReadOnlySpan<double> gradient)
    {
        EuclideanBall.CheckGradient(gradient, _x.Length);
        double err = 0;
        for (int i = 0; i < _x.Length; i++)
        {
            double d = gradient[i] - _hint[i];
            err += d * d;
        }
        double eta = StepSize;
        for (int i = 0; i < _x.Length; i++) _xHat[i] -= eta * gradient[i];
        EuclideanBall.Project(_xHat, Radius);
        HintErrorSum += err;
        Round++;
        if (Hint == OptimisticHint.LastGradient) gradient.CopyTo(_hint);
        else Array.Clear(_hint);
        StepSize = ComputeStepSize();
        Play();
    }

    private double ComputeStepSize()
    {
        double eta = _schedule is not null
            ? _schedule(Round + 1)
            : Math.Min(2 * Radius / Math.Sqrt(Delta + HintErrorSum), double.IsPositiveInfinity(Smoothness) ? double.PositiveInfinity : 1.0 / (CapConstant * Smoothness));
        if (!(eta > 0) || !double.IsFinite(eta))
            throw new InvalidOperationException(FormattableString.Invariant($"step size for round {Round + 1} is {eta}; it must be positive and finite."));
        return eta;
    }

    private void Play()
    {
        for (int i = 0; i < _x.Length; i++) _x[i] = _xHat[i] - StepSize * _hint[i];
        EuclideanBall.Project(_x, Radius);
    }
}
