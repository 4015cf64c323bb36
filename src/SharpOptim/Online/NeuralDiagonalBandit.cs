namespace SharpOptim.Online;

/// <summary>
/// The shared machinery of <see cref="NeuralUcb"/> and <see cref="NeuralTs"/> as their official code implements
/// them (uclaml/NeuralUCB and ZeroWeight/NeuralTS, learner_diag.py; read, not copied): a <see cref="BanditNetwork"/>
/// f, a diagonal U ∈ R^p initialized to λ, and a history of (chosen context, reward).
/// Select: for each arm μ_a = f(x_a), g_a = ∇_θ f(x_a), σ_a = √(Σ_k λ ν g_{a,k}² / U_k); the subclass turns (μ, σ)
/// into a score; play the argmax (lowest index on ties) and then U += g_{a_t}² — inside selection, before the reward
/// is seen, with the gradient at the pre-training weights.
/// Update: in a training round (<see cref="NeuralTrainingSchedule"/>) append the sample to the history and run SGD
/// (lr 0.01, weight decay λ) on single samples (f(x_i) − r_i)², iterating over the history in a once-shuffled order,
/// until the step limit or until an epoch's mean loss ≤ 1e-3, warm-started from the current weights.
/// Differences from the papers (Zhou, Li &amp; Gu, arXiv:1911.04462; Zhang, Zhou, Li &amp; Gu, arXiv:2010.00827) that
/// the official code makes and this class keeps: diagonal U instead of the full Z, no 1/m scaling, √(λν) in place of
/// γ_t, warm start instead of restarting from θ_0, L2 toward 0 instead of toward θ_0, no symmetric initialization.
/// Deviations from the official code: float64 throughout (the code uses float32); the reduced training schedule by
/// default (stated in <see cref="NeuralTrainingSchedule"/>); shuffling from a seeded System.Random (or none).
/// </summary>
public abstract class NeuralDiagonalBandit : IBanditPolicy
{
    private readonly double[] _u;
    private readonly List<double[]> _history = new();
    private readonly List<double> _rewards = new();
    private readonly Random _shuffle;
    private readonly List<int> _index = new();
    private readonly List<double> _value = new();

    /// <summary>Creates the bandit.</summary>
    /// <param name="arms">K.</param>
    /// <param name="network">The network (its input width is the context dimension).</param>
    /// <param name="lambda">λ: U's initial value and the weight decay (official default 0.001).</param>
    /// <param name="nu">ν: exploration scale (official default 1).</param>
    /// <param name="schedule">Training schedule (default <see cref="NeuralTrainingSchedule.Reduced"/>).</param>
    /// <param name="shuffleSeed">Seed of the history shuffle; null trains in history order (for parity tests).</param>
    /// <param name="learningRate">SGD learning rate (official 0.01).</param>
    protected NeuralDiagonalBandit(int arms, BanditNetwork network, double lambda, double nu, NeuralTrainingSchedule? schedule, int? shuffleSeed, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(network);
        BanditInput.CheckShape(arms, network.InputDimension);
        foreach (var (v, name) in new[] { (lambda, nameof(lambda)), (learningRate, nameof(learningRate)) })
            if (!(v > 0) || !double.IsFinite(v)) throw new ArgumentException(FormattableString.Invariant($"{name} must be positive and finite, got {v}."), name);
        if (!(nu >= 0) || !double.IsFinite(nu)) throw new ArgumentException(FormattableString.Invariant($"nu must be a finite number ≥ 0, got {nu}."), nameof(nu));
        Schedule = schedule ?? NeuralTrainingSchedule.Reduced;
        Schedule.Validate();
        Arms = arms;
        Network = network;
        Lambda = lambda;
        Nu = nu;
        LearningRate = learningRate;
        ShuffleHistory = shuffleSeed.HasValue;
        _shuffle = new Random(shuffleSeed ?? 0);
        _u = new double[network.ParameterCount];
        Array.Fill(_u, lambda);
    }

    /// <inheritdoc/>
    public int Arms { get; }
    /// <inheritdoc/>
    public int ContextDimension => Network.InputDimension;
    /// <summary>The network f.</summary>
    public BanditNetwork Network { get; }
    /// <summary>λ.</summary>
    public double Lambda { get; }
    /// <summary>ν.</summary>
    public double Nu { get; }
    /// <summary>SGD learning rate.</summary>
    public double LearningRate { get; }
    /// <summary>The training schedule.</summary>
    public NeuralTrainingSchedule Schedule { get; }
    /// <summary>Whether the history is shuffled before each training call.</summary>
    public bool ShuffleHistory { get; }
    /// <summary>Rounds completed.</summary>
    public long Round { get; private set; }
    /// <summary>The diagonal U.</summary>
    public ReadOnlySpan<double> U => _u;
    /// <summary>Samples in the training history.</summary>
    public int HistoryCount => _history.Count;
    /// <summary>The mean loss the last training call returned (NaN before any).</summary>
    public double LastTrainingLoss { get; private set; } = double.NaN;

    /// <summary>The mean μ_a and width σ_a of every arm (no state changes).</summary>
    public (double[] Mean, double[] Width) MeanAndWidth(IReadOnlyList<double[]> contexts)
    {
        BanditInput.CheckContexts(contexts, Arms, ContextDimension);
        var mu = new double[Arms];
        var sigma = new double[Arms];
        for (int a = 0; a < Arms; a++) (mu[a], sigma[a]) = Evaluate(contexts[a], _index, _value);
        return (mu, sigma);
    }

    private (double Mean, double Width) Evaluate(double[] x, List<int> index, List<double> value)
    {
        double mu = Network.Gradient(x, index, value);
        double s = 0;
        for (int k = 0; k < index.Count; k++)
        {
            double g = value[k];
            s += Lambda * Nu * g * g / _u[index[k]];
        }
        return (mu, Math.Sqrt(s));
    }

    /// <summary>The score of one arm from its mean and width (UCB: μ + σ; TS: a draw from N(μ, σ²)).</summary>
    protected abstract double Score(double mean, double width, bool draw);

    /// <inheritdoc/>
    public double[] Scores(IReadOnlyList<double[]> contexts)
    {
        var (mu, sigma) = MeanAndWidth(contexts);
        var p = new double[Arms];
        for (int a = 0; a < Arms; a++) p[a] = Score(mu[a], sigma[a], draw: false);
        return p;
    }

    /// <summary>Chooses the arm and, as the official code does inside selection, adds its squared gradient to U.</summary>
    public int SelectArm(IReadOnlyList<double[]> contexts)
    {
        BanditInput.CheckContexts(contexts, Arms, ContextDimension);
        var scores = new double[Arms];
        var grads = new (List<int>, List<double>)[Arms];
        for (int a = 0; a < Arms; a++)
        {
            var idx = new List<int>();
            var val = new List<double>();
            var (mu, sigma) = Evaluate(contexts[a], idx, val);
            scores[a] = Score(mu, sigma, draw: true);
            grads[a] = (idx, val);
        }
        int arm = BanditInput.ArgMax(scores);
        var (gi, gv) = grads[arm];
        for (int k = 0; k < gi.Count; k++) _u[gi[k]] += gv[k] * gv[k];
        return arm;
    }

    /// <inheritdoc/>
    public void Update(double[] context, int arm, double reward)
    {
        BanditInput.CheckUpdate(context, arm, reward, Arms, ContextDimension);
        int maxSteps = Schedule.MaxSteps(Round);
        Round++;
        if (maxSteps == 0 && !Schedule.RecordEverySample) return;
        _history.Add((double[])context.Clone());
        _rewards.Add(reward);
        if (maxSteps > 0) LastTrainingLoss = Train(maxSteps);
    }

    private double Train(int maxSteps)
    {
        int n = _history.Count;
        var order = Enumerable.Range(0, n).ToArray();
        if (ShuffleHistory) _shuffle.Shuffle(order);
        int count = 0;
        double total = 0;
        while (true)
        {
            double epoch = 0;
            foreach (int i in order)
            {
                double delta = Network.Forward(_history[i]) - _rewards[i];
                Network.SgdStep(_history[i], 2 * delta, LearningRate, Lambda, _index, _value);
                double loss = delta * delta;
                epoch += loss;
                total += loss;
                if (++count >= maxSteps) return total / maxSteps;
            }
            if (epoch / n <= Schedule.LossTolerance) return epoch / n;
        }
    }
}
