namespace SharpOptim.Online;

/// <summary>
/// Linearized follow-the-regularized-leader (dual averaging) with an L2 regularizer on a Euclidean ball:
/// x_{t+1} = argmin_{‖x‖≤R} ⟨Σ_{s≤t} g_s + M_{t+1}, x⟩ + ‖x‖²/(2η) = Π(−η (Σ_{s≤t} g_s + M_{t+1})) (lazy projection).
/// Shalev-Shwartz, "Online Learning and Online Convex Optimization", 2012; Xiao, "Dual Averaging Methods for
/// Regularized Stochastic Learning and Online Optimization", JMLR 2010; textbook form in Orabona, arXiv:1912.13213,
/// §7. The optional hint M_{t+1} gives optimistic FTRL (the form Sachs et al., NeurIPS 2022, analyse in the SEA
/// model): with <see cref="OptimisticHint.LastGradient"/> the hint is g_t; <see cref="OptimisticHint.Zero"/> is plain
/// FTRL; <see cref="OptimisticHint.External"/> takes it from <see cref="SetHint"/>. State: the gradient sum and the hint.
/// </summary>
public sealed class FollowTheRegularizedLeader : IOnlineLearner
{
    private readonly double[] _sum;
    private readonly double[] _hint;
    private readonly double[] _x;

    /// <summary>Creates the learner with regularization 1/(2η) and a ball of radius R.</summary>
    public FollowTheRegularizedLeader(int dimension, double radius, double learningRate, OptimisticHint hint = OptimisticHint.Zero)
    {
        EuclideanBall.CheckDimension(dimension);
        EuclideanBall.CheckRadius(radius, nameof(radius));
        EuclideanBall.CheckRadius(learningRate, nameof(learningRate));
        if (!Enum.IsDefined(hint)) throw new ArgumentException(FormattableString.Invariant($"hint {(int)hint} is not an OptimisticHint."), nameof(hint));
        Radius = radius;
        LearningRate = learningRate;
        Hint = hint;
        _sum = new double[dimension];
        _hint = new double[dimension];
        _x = new double[dimension];
    }

    /// <summary>Radius R of the ball.</summary>
    public double Radius { get; }

    /// <summary>η: the regularizer is ‖x‖²/(2η).</summary>
    public double LearningRate { get; }

    /// <summary>Where the optimistic hint comes from.</summary>
    public OptimisticHint Hint { get; }

    /// <inheritdoc/>
    public int Dimension => _x.Length;

    /// <inheritdoc/>
    public long Round { get; private set; }

    /// <inheritdoc/>
    public ReadOnlySpan<double> Point => _x;

    /// <summary>Sets the hint M for the current round (only with <see cref="OptimisticHint.External"/>) and moves the
    /// played point accordingly.</summary>
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
        for (int i = 0; i < _x.Length; i++) _sum[i] += gradient[i];
        if (Hint == OptimisticHint.LastGradient) gradient.CopyTo(_hint);
        else if (Hint == OptimisticHint.External) Array.Clear(_hint);
        Round++;
        Play();
    }

    private void Play()
    {
        for (int i = 0; i < _x.Length; i++) _x[i] = -LearningRate * (_sum[i] + _hint[i]);
        EuclideanBall.Project(_x, Radius);
    }
}
