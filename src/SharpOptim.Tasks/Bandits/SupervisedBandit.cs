using SharpOptim.Online;

namespace SharpOptim.Tasks.Bandits;

/// <summary>
/// The supervised-to-bandit conversion (official NeuralUCB code, data_multi.py): a stream of labelled rows, K = classes
/// arms, context of arm a from the row (<see cref="ArmEncoding"/>), reward 1 when the chosen arm is the label, else 0,
/// only the chosen arm's reward revealed. The label is always reachable with reward 1, so the pseudo-regret is the
/// number of mistakes. Also: the policies of the <c>sharpoptim bandit</c> comparison by name, and the class-best
/// comparator (per-arm ridge regression fitted on the whole stream with full labels, acting greedily).
/// </summary>
public static class SupervisedBandit
{
    /// <summary>Policy names the comparison knows.</summary>
    public static readonly string[] PolicyNames = { "linucb", "diag-linucb", "neuralucb", "neuralts", "squarecb", "fastcb", "random", "greedy", "epsilon-greedy" };

    /// <summary>Settings of the policies (defaults as documented in the report).</summary>
    /// <param name="Alpha">LinUCB exploration α.</param>
    /// <param name="DiagAlpha">Diag-LinUCB exploration α.</param>
    /// <param name="Hidden">Hidden width of the neural policies (official 100).</param>
    /// <param name="Clusters">k-means clusters for Diag-LinUCB's context.</param>
    /// <param name="Nearest">Non-zero cluster weights per context.</param>
    /// <param name="Temperature">Softmax temperature of the cluster weights, on −‖x − μ_c‖² (0.05: of {0.3, 0.05} with
    /// α ∈ {0.1, 0.3, 1} tried on digits seed 1, 0.3 leaves the weights nearly uniform over the 5 clusters and
    /// Diag-LinUCB barely learns; not the paper's values, which are unknown).</param>
    /// <param name="Gamma">SquareCB/FastCB γ (NaN: √(KT)).</param>
    /// <param name="Epsilon">ε-greedy's exploration probability (around greedy ridge regression).</param>
    public sealed record Settings(double Alpha = 0.3, double DiagAlpha = 1.0, int Hidden = 100, int Clusters = 32, int Nearest = 5, double Temperature = 0.05, double Gamma = double.NaN, double Epsilon = 0.05);

    /// <summary>Whether the policy needs Diag-LinUCB's cluster weights as its context.</summary>
    public static bool UsesClusters(string policy) => policy == "diag-linucb";

    /// <summary>The arm encoding a policy uses.</summary>
    public static ArmEncoding EncodingOf(string policy) => policy is "neuralucb" or "neuralts" or "squarecb" or "fastcb" ? ArmEncoding.Disjoint : ArmEncoding.Shared;

    /// <summary>Builds a policy by name for contexts of dimension d (the raw d, or C for Diag-LinUCB), K arms, T rounds.</summary>
    public static IBanditPolicy Create(string policy, int d, int arms, int rounds, int seed, Settings s)
    {
        double gamma = double.IsNaN(s.Gamma) ? Math.Sqrt((double)arms * rounds) : s.Gamma;
        return policy switch
        {
            "linucb" => new LinUcb(arms, d, s.Alpha),
            "greedy" => new LinUcb(arms, d, 0.0),
            "epsilon-greedy" => new EpsilonGreedyBandit(new LinUcb(arms, d, 0.0), s.Epsilon, new Random(seed + 1).NextDouble),
            "diag-linucb" => new DiagLinUcb(arms, d, s.DiagAlpha),
            "neuralucb" => new NeuralUcb(arms, new BanditNetwork(d * arms, s.Hidden, seed), shuffleSeed: seed),
            "neuralts" => new NeuralTs(arms, new BanditNetwork(d * arms, s.Hidden, seed), NeuralTs.GaussianSource(seed + 1), shuffleSeed: seed),
            "squarecb" => new NeuralRegressionBandit(arms, new BanditNetwork(d * arms, s.Hidden, seed), RegressionLoss.Square, gamma, new Random(seed + 1).NextDouble, replaySeed: seed),
            "fastcb" => new NeuralRegressionBandit(arms, new BanditNetwork(d * arms, s.Hidden, seed), RegressionLoss.CrossEntropy, gamma, new Random(seed + 1).NextDouble, replaySeed: seed),
            "random" => new UniformRandomBandit(arms, d, new Random(seed + 1).NextDouble),
            _ => throw new ArgumentException(FormattableString.Invariant($"unknown policy '{policy}'; known: {string.Join(", ", PolicyNames)}."), nameof(policy)),
        };
    }

    /// <summary>Per-arm contexts of one row.</summary>
    public static double[][] Contexts(double[] x, int arms, ArmEncoding encoding)
    {
        if (encoding == ArmEncoding.Shared) return Enumerable.Repeat(x, arms).ToArray();
        var rows = new double[arms][];
        for (int a = 0; a < arms; a++)
        {
            rows[a] = new double[x.Length * arms];
            Array.Copy(x, 0, rows[a], a * x.Length, x.Length);
        }
        return rows;
    }

    /// <summary>Runs <paramref name="policy"/> over the rows in order; returns R_t after every round.</summary>
    public static int[] Run(IBanditPolicy policy, IReadOnlyList<double[]> rows, IReadOnlyList<int> labels, ArmEncoding encoding, Action<int>? progress = null)
    {
        if (rows.Count != labels.Count) throw new ArgumentException(FormattableString.Invariant($"{rows.Count} rows but {labels.Count} labels."), nameof(labels));
        var regret = new int[rows.Count];
        int mistakes = 0;
        for (int t = 0; t < rows.Count; t++)
        {
            var ctx = Contexts(rows[t], policy.Arms, encoding);
            int arm = policy.SelectArm(ctx);
            double r = arm == labels[t] ? 1 : 0;
            if (r == 0) mistakes++;
            policy.Update(ctx[arm], arm, r);
            regret[t] = mistakes;
            progress?.Invoke(t + 1);
        }
        return regret;
    }

    /// <summary>The class-best comparator: per-arm ridge regression (λ = 1) of the one-hot label on the rows, fitted on
    /// the whole stream with full labels, acting greedily on the same stream; its mistakes after every round.</summary>
    public static int[] ClassBest(IReadOnlyList<double[]> rows, IReadOnlyList<int> labels, int arms)
    {
        var model = new LinUcb(arms, rows[0].Length, 0.0);
        for (int t = 0; t < rows.Count; t++)
            for (int a = 0; a < arms; a++) model.Update(rows[t], a, labels[t] == a ? 1 : 0);
        var curve = new int[rows.Count];
        int m = 0;
        for (int t = 0; t < rows.Count; t++)
        {
            if (model.SelectArm(Contexts(rows[t], arms, ArmEncoding.Shared)) != labels[t]) m++;
            curve[t] = m;
        }
        return curve;
    }
}
