using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// Perturbed AID — a RECONSTRUCTION. Huang, Chen, Ji, Ma and Lai, "Efficiently Escaping Saddle Points in Bilevel
/// Optimization" (arXiv 2202.03684) show that perturbed AID with warm starts finds an ε-approximate local minimum of a
/// nonconvex–strongly-convex bilevel problem in Õ(ε⁻²) iterations; only the abstract was read and no code was found, so
/// the thresholds, radius and schedule here are NOT the paper's. What is implemented is perturbed gradient descent in
/// the style of Jin et al. (2017) driven by a warm-started hypergradient estimator (shared/papers/bilevel.md §5):
/// <list type="number">
/// <item>ĥ_k from the estimator (AID-CG, Neumann, ITD …; its inner loop warm-starts y);</item>
/// <item>if ‖ĥ_k‖ ≤ g_thres and at least t_thres iterations passed since the last perturbation (or none happened yet):
/// x_k ← x_k + ξ, ξ uniform in the ball of radius r (seeded), and ĥ_k is recomputed at the perturbed point;</item>
/// <item>x_{k+1} = x_k − β_k ĥ_k.</item>
/// </list>
/// Parameters g_thres, r, t_thres are this library's (defaults chosen on the saddle toy of the brief, where plain AID
/// descent converges to a strict saddle and this method escapes it; see the tests). Treat as experimental.
/// </summary>
public sealed class PerturbedHypergradientDescent : BilevelSolver
{
    private readonly System.Random _random;
    private long _lastPerturbation = long.MinValue;

    /// <summary>Perturbed descent with <paramref name="estimator"/>'s hypergradients (see the class remarks).</summary>
    public PerturbedHypergradientDescent(BilevelProblem problem, IHypergradientEstimator estimator, StepSchedule outerLr,
        double gradientThreshold = 1e-3, double radius = 1e-2, int minInterval = 10, int seed = 0) : base(problem)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        Estimator = estimator;
        OuterLr = outerLr;
        GradientThreshold = Positive(gradientThreshold, nameof(gradientThreshold));
        Radius = Positive(radius, nameof(radius));
        MinInterval = Count(minInterval, nameof(minInterval), allowZero: true);
        _random = new System.Random(seed);
    }

    /// <summary>The hypergradient estimator.</summary>
    public IHypergradientEstimator Estimator { get; }
    /// <summary>β_k.</summary>
    public StepSchedule OuterLr { get; }
    /// <summary>g_thres: a perturbation is considered when ‖ĥ‖ is at most this.</summary>
    public double GradientThreshold { get; }
    /// <summary>r, the perturbation ball's radius.</summary>
    public double Radius { get; }
    /// <summary>t_thres, the fewest iterations between two perturbations.</summary>
    public int MinInterval { get; }
    /// <summary>Perturbations made so far.</summary>
    public int Perturbations { get; private set; }

    /// <inheritdoc />
    protected override Tensor StepCore(long t)
    {
        var x = Problem.X;
        var h = Estimator.Estimate(Oracle, x, Problem.Y, Problem.UpperBatches, Problem.LowerBatches);
        if (TensorMath.Norm(h) <= GradientThreshold && (_lastPerturbation == long.MinValue || t - _lastPerturbation >= MinInterval))
        {
            TensorMath.Axpy(x, 1.0, BallSample(x));
            _lastPerturbation = t;
            Perturbations++;
            h = Estimator.Estimate(Oracle, x, Problem.Y, Problem.UpperBatches, Problem.LowerBatches);
        }
        TensorMath.Axpy(x, -OuterLr.At(t), h);
        return h;
    }

    /// <summary>A point uniform in the ball of radius r: a Gaussian direction scaled to r·U^{1/d}.</summary>
    private Tensor BallSample(Tensor like)
    {
        int d = (int)like.numel();
        var v = new double[d];
        double norm2 = 0;
        for (int i = 0; i < d; i++)
        {
            double u1 = 1 - _random.NextDouble(), u2 = _random.NextDouble();
            v[i] = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            norm2 += v[i] * v[i];
        }
        double scale = Radius * Math.Pow(_random.NextDouble(), 1.0 / d) / Math.Sqrt(norm2);
        for (int i = 0; i < d; i++) v[i] *= scale;
        return tensor(v).to(like.dtype, like.device).reshape(like.shape);
    }
}
