namespace SharpOptim.Online;

/// <summary>
/// Projected online gradient descent on a Euclidean ball: x_{t+1} = Π(x_t − η_t g_t), x_1 = 0 (or a given start).
/// Zinkevich, "Online Convex Programming and Generalized Infinitesimal Gradient Ascent", ICML 2003; textbook form in
/// Orabona, "A Modern Introduction to Online Learning", arXiv:1912.13213, and Hazan, "Introduction to Online Convex
/// Optimization", arXiv:1909.05207. It is online mirror descent with the Euclidean mirror map ψ = ½‖·‖².
/// Step sizes: <see cref="ConvexStepSize"/> η_t = D/(G√t) gives regret O(DG√T) for convex G-Lipschitz losses;
/// <see cref="StronglyConvexStepSize"/> η_t = 1/(λt) gives O((G²/λ) log T) for λ-strongly convex losses. Any other
/// schedule can be passed as a function of the 1-based round t.
/// </summary>
public sealed class OnlineGradientDescent : IOnlineLearner
{
    private readonly double[] _x;
    private readonly Func<long, double> _stepSize;

    /// <summary>Creates the learner.</summary>
    /// <param name="dimension">Dimension of x.</param>
    /// <param name="radius">Radius R of the ball (diameter D = 2R).</param>
    /// <param name="stepSize">η_t as a function of the 1-based round t; must return a positive finite number.</param>
    /// <param name="start">x_1 (default 0); projected onto the ball.</param>
    public OnlineGradientDescent(int dimension, double radius, Func<long, double> stepSize, ReadOnlySpan<double> start = default)
    {
        EuclideanBall.CheckDimension(dimension);
        EuclideanBall.CheckRadius(radius, nameof(radius));
        ArgumentNullException.ThrowIfNull(stepSize);
        if (!start.IsEmpty) EuclideanBall.CheckGradient(start, dimension, nameof(start));
        _x = new double[dimension];
        start.CopyTo(_x);
        EuclideanBall.Project(_x, radius);
        Radius = radius;
        _stepSize = stepSize;
    }

    /// <summary>η_t = D/(G√t): the classical step size for convex losses with ‖g‖ ≤ G on a set of diameter D.</summary>
    public static Func<long, double> ConvexStepSize(double diameter, double lipschitz)
    {
        EuclideanBall.CheckRadius(diameter, nameof(diameter));
        EuclideanBall.CheckRadius(lipschitz, nameof(lipschitz));
        return t => diameter / (lipschitz * Math.Sqrt(t));
    }

    /// <summary>η_t = 1/(λt): the step size for λ-strongly convex losses.</summary>
    public static Func<long, double> StronglyConvexStepSize(double strongConvexity)
    {
        EuclideanBall.CheckRadius(strongConvexity, nameof(strongConvexity));
        return t => 1.0 / (strongConvexity * t);
    }

    /// <summary>Radius R of the ball.</summary>
    public double Radius { get; }

    /// <inheritdoc/>
    public int Dimension => _x.Length;

    /// <inheritdoc/>
    public long Round { get; private set; }

    /// <inheritdoc/>
    public ReadOnlySpan<double> Point => _x;

    /// <inheritdoc/>
    public void Update(ReadOnlySpan<double> gradient)
    {
        EuclideanBall.CheckGradient(gradient, _x.Length);
        double eta = _stepSize(Round + 1);
        if (!(eta > 0) || !double.IsFinite(eta))
            throw new ArgumentException(FormattableString.Invariant($"stepSize({Round + 1}) returned {eta}; a step size must be positive and finite."), nameof(gradient));
        for (int i = 0; i < _x.Length; i++) _x[i] -= eta * gradient[i];
        EuclideanBall.Project(_x, Radius);
        Round++;
    }
}
