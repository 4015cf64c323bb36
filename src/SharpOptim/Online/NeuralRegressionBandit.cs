namespace SharpOptim.Online;

/// <summary>
/// SquareCB / FastCB with a neural online regressor, after Deb, Ban, Zuo, He &amp; Banerjee, "Contextual Bandits with
/// Online Neural Regression", ICLR 2024, arXiv:2312.07145 (NeuSquareCB with <see cref="RegressionLoss.Square"/>,
/// NeuFastCB with <see cref="RegressionLoss.CrossEntropy"/>). Per round: predict ŷ_a for every arm with the
/// <see cref="BanditNetwork"/> (a sigmoid output for cross-entropy); turn ŷ into action probabilities with
/// <see cref="RegressionOracleExploration.SquareCb"/> or <see cref="RegressionOracleExploration.FastCb"/> (rewards in
/// [0, 1]); sample the arm from a uniform draw; after the reward, take online regression steps: one SGD step on the
/// new sample, then <c>replaySteps</c> steps on samples drawn uniformly from the history (seeded).
/// <b>Reconstruction:</b> the paper's own modifications (the random perturbation of the network's predictions, its
/// width and step sizes) could not be read, and no official code exists; this is "SquareCB/FastCB with a neural
/// regressor", not a faithful NeuSquareCB/NeuFastCB. The replay steps and default learning rate are this library's
/// choices.
/// </summary>
public sealed class NeuralRegressionBandit : IBanditPolicy
{
    private readonly Func<double> _uniform;
    private readonly Random _replay;
    private readonly List<double[]> _history = new();
    private readonly List<double> _rewards = new();
    private readonly List<int> _index = new();
    private readonly List<double> _value = new();

    /// <summary>Creates the policy.</summary>
    /// <param name="arms">K.</param>
    /// <param name="network">The regressor (its input width is the context dimension).</param>
    /// <param name="loss">Square (SquareCB) or cross-entropy (FastCB).</param>
    /// <param name="gamma">γ ≥ 0 (larger exploits more; theory √(KT/Reg_oracle)).</param>
    /// <param name="uniform">Uniform [0, 1) draws for sampling the arm (one per round).</param>
    /// <param name="learningRate">SGD learning rate of the regressor.</param>
    /// <param name="replaySteps">Extra SGD steps per round on past samples.</param>
    /// <param name="replaySeed">Seed of the replay draws.</param>
    public NeuralRegressionBandit(int arms, BanditNetwork network, RegressionLoss loss, double gamma, Func<double> uniform,
        double learningRate = 0.05, int replaySteps = 7, int replaySeed = 0)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(uniform);
        BanditInput.CheckShape(arms, network.InputDimension);
        if (!Enum.IsDefined(loss)) throw new ArgumentException(FormattableString.Invariant($"loss {(int)loss} is not a RegressionLoss."), nameof(loss));
        if (!(gamma >= 0) || !double.IsFinite(gamma)) throw new ArgumentException(FormattableString.Invariant($"gamma must be a finite number ≥ 0, got {gamma}."), nameof(gamma));
        if (!(learningRate > 0) || !double.IsFinite(learningRate)) throw new ArgumentException(FormattableString.Invariant($"learningRate must be positive and finite, got {learningRate}."), nameof(learningRate));
        if (replaySteps < 0) throw new ArgumentException(FormattableString.Invariant($"replaySteps must be ≥ 0, got {replaySteps}."), nameof(replaySteps));
        Arms = arms;
        Network = network;
        Loss = loss;
        Gamma = gamma;
        LearningRate = learningRate;
        ReplaySteps = replaySteps;
        _uniform = uniform;
        _replay = new Random(replaySeed);
    }

    /// <inheritdoc/>
    public int Arms { get; }
    /// <inheritdoc/>
    public int ContextDimension => Network.InputDimension;
    /// <summary>The regressor.</summary>
    public BanditNetwork Network { get; }
    /// <summary>The regression loss (and with it the selection rule).</summary>
    public RegressionLoss Loss { get; }
    /// <summary>γ.</summary>
    public double Gamma { get; }
    /// <summary>SGD learning rate.</summary>
    public double LearningRate { get; }
    /// <summary>Replay steps per round.</summary>
    public int ReplaySteps { get; }

    /// <summary>The predicted rewards ŷ (no state changes).</summary>
    public double[] Scores(IReadOnlyList<double[]> contexts)
    {
        BanditInput.CheckContexts(contexts, Arms, ContextDimension);
        var y = new double[Arms];
        for (int a = 0; a < Arms; a++)
        {
            double f = Network.Forward(contexts[a]);
            y[a] = Loss == RegressionLoss.Square ? f : 1 / (1 + Math.Exp(-f));
        }
        return y;
    }

    /// <summary>The action probabilities for these contexts.</summary>
    public double[] Probabilities(IReadOnlyList<double[]> contexts)
    {
        var y = Scores(contexts);
        return Loss == RegressionLoss.Square ? RegressionOracleExploration.SquareCb(y, Gamma) : RegressionOracleExploration.FastCb(y, Gamma);
    }

    /// <inheritdoc/>
    public int SelectArm(IReadOnlyList<double[]> contexts) => BanditInput.Sample(Probabilities(contexts), _uniform());

    /// <inheritdoc/>
    public void Update(double[] context, int arm, double reward)
    {
        BanditInput.CheckUpdate(context, arm, reward, Arms, ContextDimension);
        var x = (double[])context.Clone();
        _history.Add(x);
        _rewards.Add(reward);
        Step(x, reward);
        for (int s = 0; s < ReplaySteps && _history.Count > 1; s++)
        {
            int i = _replay.Next(_history.Count);
            Step(_history[i], _rewards[i]);
        }
    }

    private void Step(double[] x, double r)
    {
        double f = Network.Forward(x);
        double slope = Loss == RegressionLoss.Square ? 2 * (f - r) : 1 / (1 + Math.Exp(-f)) - r;
        Network.SgdStep(x, slope, LearningRate, 0, _index, _value);
    }
}
