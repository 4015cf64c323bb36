namespace SharpOptim.Online;

/// <summary>
/// Hedge (exponentiated gradient on the probability simplex): online mirror descent with the negative-entropy mirror
/// map, x_{t+1,i} = x_{t,i} exp(−η g_{t,i}) / Σ_j x_{t,j} exp(−η g_{t,j}), x_1 uniform. Freund &amp; Schapire, "A
/// decision-theoretic generalization of on-line learning and an application to boosting", 1997; as online mirror
/// descent in Orabona, arXiv:1912.13213, §6. With losses in [0, G∞], η = √(2 ln n / T)/G∞ gives regret
/// O(G∞ √(T ln n)) (<see cref="TunedLearningRate"/>).
/// Computed in log space: the learner keeps log-weights (shifted so that their maximum is 0 after every update) and
/// forms x = exp(w − max w)/Σ exp(w − max w), so that no exponent overflows however large η Σ g grows.
/// </summary>
public sealed class Hedge : IOnlineLearner
{
    private readonly double[] _logWeights;
    private readonly double[] _x;

    /// <summary>Creates Hedge over <paramref name="experts"/> experts with learning rate η.</summary>
    public Hedge(int experts, double learningRate)
    {
        if (experts < 1) throw new ArgumentException(FormattableString.Invariant($"experts must be at least 1, got {experts}."), nameof(experts));
        EuclideanBall.CheckRadius(learningRate, nameof(learningRate));
        LearningRate = learningRate;
        _logWeights = new double[experts];
        _x = new double[experts];
        Normalize();
    }

    /// <summary>η = √(2 ln n / T)/G∞, the fixed-horizon tuning for losses bounded by G∞.</summary>
    public static double TunedLearningRate(int experts, long horizon, double lossBound) =>
        Math.Sqrt(2 * Math.Log(Math.Max(experts, 2)) / horizon) / lossBound;

    /// <summary>The learning rate η.</summary>
    public double LearningRate { get; }

    /// <inheritdoc/>
    public int Dimension => _x.Length;

    /// <inheritdoc/>
    public long Round { get; private set; }

    /// <summary>The distribution over experts played this round.</summary>
    public ReadOnlySpan<double> Point => _x;

    /// <summary>Receives the experts' losses (the gradient of the linear loss ⟨g, x⟩).</summary>
    public void Update(ReadOnlySpan<double> gradient)
    {
        EuclideanBall.CheckGradient(gradient, _x.Length);
        for (int i = 0; i < _x.Length; i++) _logWeights[i] -= LearningRate * gradient[i];
        Normalize();
        Round++;
    }

    private void Normalize()
    {
        double max = double.NegativeInfinity;
        foreach (double w in _logWeights) max = Math.Max(max, w);
        double z = 0;
        for (int i = 0; i < _x.Length; i++)
        {
            _logWeights[i] -= max;
            _x[i] = Math.Exp(_logWeights[i]);
            z += _x[i];
        }
        for (int i = 0; i < _x.Length; i++) _x[i] /= z;
    }
}
