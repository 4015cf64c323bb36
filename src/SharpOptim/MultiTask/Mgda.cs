namespace SharpOptim.MultiTask;

/// <summary>
/// MGDA — Sener &amp; Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018, arXiv:1810.04650
/// (multiple-gradient descent, Désidéri 2012). Each step the shared update is the minimum-norm point of the convex hull
/// of the task gradients: w = argmin_{w∈Δ} ‖Σ_t w_t g_t‖² (<see cref="MinNormSolver"/>: closed form for two tasks,
/// Frank–Wolfe with exact line search otherwise), direction d = Σ_t w_t g_t; task-specific parameters take their own
/// plain gradients (Algorithm 2). d is a common descent direction for every task, or zero at a Pareto-stationary point.
/// <para>Per step: T backward passes through the model (shared-parameter mode) and T×|θ_shared| floats. Optional
/// gradient normalisation (<see cref="GradientNormalization"/>) follows the official code
/// (isl-org/MultiObjectiveOptimization): the weights are solved on the normalised gradients and applied to the raw
/// ones. Deviations: gradients are gathered by one backward per task (gradient reset, as LibMTL does) rather than the
/// official script's extra scaled-loss backward, so heads get unweighted gradients (the paper's Algorithm 2); the
/// solver's endpoints are exact 0/1 rather than 0.001/0.999 (see <see cref="MinNormSolver"/>). State: none.</para>
/// <para>On the shared representation this is MGDA-UB (<see cref="MgdaUb"/>).</para>
/// </summary>
public class Mgda : TaskGradientBalancer
{
    /// <summary>MGDA on the shared parameters.</summary>
    /// <exception cref="ArgumentException">maxIterations below 1 or a negative or non-finite tolerance.</exception>
    public Mgda(GradientNormalization normalization = GradientNormalization.None, int maxIterations = MinNormSolver.DefaultMaxIterations,
        double tolerance = MinNormSolver.DefaultTolerance, MinNormStart start = MinNormStart.Uniform)
        : this(BalancingMode.SharedParameters, normalization, maxIterations, tolerance, start)
    {
    }

    /// <summary>For <see cref="MgdaUb"/> and other modes.</summary>
    protected Mgda(BalancingMode mode, GradientNormalization normalization, int maxIterations, double tolerance, MinNormStart start)
        : base(mode, bothModes: false)
    {
        if (maxIterations < 1)
            throw new ArgumentException(FormattableString.Invariant($"maxIterations must be at least 1; got {maxIterations}."), nameof(maxIterations));
        if (!(tolerance >= 0) || double.IsInfinity(tolerance))
            throw new ArgumentException(FormattableString.Invariant($"tolerance must be finite and non-negative; got {tolerance}."), nameof(tolerance));
        if (!Enum.IsDefined(normalization))
            throw new ArgumentException(FormattableString.Invariant($"Unknown normalization {normalization}."), nameof(normalization));
        Normalization = normalization;
        MaxIterations = maxIterations;
        Tolerance = tolerance;
        Start = start;
    }

    /// <inheritdoc />
    public override string Name => "mgda";
    /// <summary>The gradient normalisation used for solving.</summary>
    public GradientNormalization Normalization { get; }
    /// <summary>Frank–Wolfe's iteration cap.</summary>
    public int MaxIterations { get; }
    /// <summary>Frank–Wolfe's tolerance on the L1 change of w.</summary>
    public double Tolerance { get; }
    /// <summary>Frank–Wolfe's starting point.</summary>
    public MinNormStart Start { get; }
    /// <summary>The last solve's result (duality gap and iterations included).</summary>
    public MinNormResult? LastSolve { get; private set; }

    /// <inheritdoc />
    protected override void CheckLossValues(double[] values)
    {
        if (Normalization is GradientNormalization.Loss or GradientNormalization.LossPlus)
            for (int t = 0; t < values.Length; t++)
                if (!(values[t] > 0))
                    throw new ArgumentException(FormattableString.Invariant($"{Normalization} normalisation needs positive losses; task {t}'s is {values[t]}."), "losses");
    }

    /// <inheritdoc />
    protected override (TorchSharp.torch.Tensor Direction, double[]? Weights) Combine(TorchSharp.torch.Tensor gradients, double[] losses)
    {
        var m = Gram(gradients);
        var scale = Scales(m, losses);
        int n = losses.Length;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                m[i, j] /= scale[i] * scale[j];
        var solve = MinNormSolver.Solve(m, MaxIterations, Tolerance, Start);
        LastSolve = solve;
        return (Weighted(gradients, solve.Weights), solve.Weights);
    }

    private double[] Scales(double[,] m, double[] losses)
    {
        var s = new double[losses.Length];
        for (int t = 0; t < s.Length; t++)
        {
            double norm = Math.Sqrt(m[t, t]);
            s[t] = Normalization switch
            {
                GradientNormalization.L2 => norm,
                GradientNormalization.Loss => losses[t],
                GradientNormalization.LossPlus => losses[t] * norm,
                _ => 1,
            };
            if (!(s[t] > 0)) s[t] = 1;   // a zero gradient stays zero whatever it is divided by
        }
        return s;
    }
}
