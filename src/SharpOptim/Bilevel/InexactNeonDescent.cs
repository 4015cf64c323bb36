using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// iNEON — a RECONSTRUCTION. Huang, Chen, Ji, Ma and Lai, "Efficiently Escaping Saddle Points in Bilevel Optimization"
/// (arXiv 2202.03684) propose iNEON, a pure first-order method that escapes saddle points of stochastic bilevel
/// problems; only the abstract was read and no code was found, so the probe's radius, step, length and thresholds here
/// are NOT the paper's. What is implemented is a NEON-style curvature probe (Xu, Rong and Yang 2018) run on inexact
/// hypergradients ĥ (shared/papers/bilevel.md §5), inside hypergradient descent:
/// <list type="number">
/// <item>ĥ_k = ĥ(x_k) from the estimator (AID-CG, Neumann, stocBiO …; its inner loop warm-starts y).</item>
/// <item>If ‖ĥ_k‖ ≤ g_thres and at least t_thres iterations passed since the last probe (or none happened yet), probe
/// the curvature of Φ at x_k: ĥ(x_k) is taken once, u_0 is drawn uniformly on the sphere of radius r (seeded), and for
/// τ = 0 … 𝒯−1: u ← u − η(ĥ(x_k + u) − ĥ(x_k)), which is the power iteration u ← (I − η∇²Φ)u up to O(‖u‖²) terms, so
/// u grows only along directions of negative curvature. If ‖u‖ reaches the escape radius R the probe returns
/// e = u/‖u‖ and x_k ← x_k ± s·e (fair random sign, as NEON does: the quadratic model decreases both ways), then ĥ_k is
/// recomputed at the moved point. Otherwise it reports no negative curvature found
/// (<see cref="LastProbeFoundNegativeCurvature"/> false): x_k is then an approximate second-order stationary point and
/// is left where it is.</item>
/// <item>x_{k+1} = x_k − β_k ĥ_k.</item>
/// </list>
/// "Pure first order" is read as: the probe uses only hypergradient differences, never a Hessian-vector product of Φ.
/// The hypergradients themselves come from the estimator given (AID uses second-order products of g, as the paper's
/// inexact hypergradients do; that part of the paper was not read). The probe evaluates ĥ on a copy of y that follows
/// x_k + u (the problem's y is not moved by a probe), but the estimator's own warm-start state (AID-CG's v) is shared
/// with the outer loop. With stochastic streams each probe evaluation draws its own batches (the paper's sampling
/// scheme was not read). Treat as experimental until the paper is read.
/// </summary>
public sealed class InexactNeonDescent : BilevelSolver
{
    private readonly System.Random _random;
    private long _lastProbe = long.MinValue;

    /// <summary>Hypergradient descent with <paramref name="estimator"/>'s hypergradients and NEON probes (see the class remarks).</summary>
    /// <param name="problem">The bilevel problem.</param>
    /// <param name="estimator">ĥ's estimator.</param>
    /// <param name="outerLr">β_k.</param>
    /// <param name="gradientThreshold">g_thres: a probe is considered when ‖ĥ‖ is at most this.</param>
    /// <param name="probeRadius">r: the probe starts on the sphere of this radius.</param>
    /// <param name="probeLr">η: the probe's step.</param>
    /// <param name="probeSteps">𝒯: the most probe iterations.</param>
    /// <param name="escapeRadius">R: the probe reports negative curvature when ‖u‖ reaches this (greater than r).</param>
    /// <param name="escapeStep">s: how far x moves along a returned direction.</param>
    /// <param name="minInterval">t_thres: the fewest iterations between two probes.</param>
    /// <param name="seed">Seeds the probe's start and the escape sign.</param>
    public InexactNeonDescent(BilevelProblem problem, IHypergradientEstimator estimator, StepSchedule outerLr,
        double gradientThreshold = 1e-3, double probeRadius = 1e-2, double probeLr = 0.2, int probeSteps = 50,
        double escapeRadius = 0.1, double escapeStep = 0.1, int minInterval = 10, int seed = 0) : base(problem)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        GradientThreshold = Positive(gradientThreshold, nameof(gradientThreshold));
        ProbeRadius = Positive(probeRadius, nameof(probeRadius));
        ProbeLr = Positive(probeLr, nameof(probeLr));
        ProbeSteps = Count(probeSteps, nameof(probeSteps));
        EscapeRadius = Positive(escapeRadius, nameof(escapeRadius));
        if (!(escapeRadius > probeRadius))
            throw new ArgumentException($"escapeRadius must exceed probeRadius ({probeRadius}), got {escapeRadius}.", nameof(escapeRadius));
        EscapeStep = Positive(escapeStep, nameof(escapeStep));
        MinInterval = Count(minInterval, nameof(minInterval), allowZero: true);
        Estimator = estimator;
        OuterLr = outerLr;
        _random = new System.Random(seed);
    }

    /// <summary>The hypergradient estimator.</summary>
    public IHypergradientEstimator Estimator { get; }
    /// <summary>β_k.</summary>
    public StepSchedule OuterLr { get; }
    /// <summary>g_thres.</summary>
    public double GradientThreshold { get; }
    /// <summary>r.</summary>
    public double ProbeRadius { get; }
    /// <summary>η.</summary>
    public double ProbeLr { get; }
    /// <summary>𝒯.</summary>
    public int ProbeSteps { get; }
    /// <summary>R.</summary>
    public double EscapeRadius { get; }
    /// <summary>s.</summary>
    public double EscapeStep { get; }
    /// <summary>t_thres.</summary>
    public int MinInterval { get; }
    /// <summary>Probes run so far.</summary>
    public int Probes { get; private set; }
    /// <summary>Probes that found negative curvature (and moved x).</summary>
    public int Escapes { get; private set; }
    /// <summary>Whether the last probe found negative curvature (null before the first probe).</summary>
    public bool? LastProbeFoundNegativeCurvature { get; private set; }
    /// <summary>Hypergradient evaluations spent in probes (each one a full estimator call).</summary>
    public long ProbeEvaluations { get; private set; }

    /// <inheritdoc />
    protected override Tensor StepCore(long t)
    {
        var x = Problem.X;
        var h = Estimator.Estimate(Oracle, x, Problem.Y, Problem.UpperBatches, Problem.LowerBatches);
        if (TensorMath.Norm(h) <= GradientThreshold && (_lastProbe == long.MinValue || t - _lastProbe >= MinInterval))
        {
            _lastProbe = t;
            Probes++;
            var direction = Probe(x);
            LastProbeFoundNegativeCurvature = direction is not null;
            if (direction is not null)
            {
                Escapes++;
                double sign = _random.NextDouble() < 0.5 ? -1.0 : 1.0;
                TensorMath.Axpy(x, sign * EscapeStep, direction);
                h = Estimator.Estimate(Oracle, x, Problem.Y, Problem.UpperBatches, Problem.LowerBatches);
            }
        }
        TensorMath.Axpy(x, -OuterLr.At(t), h);
        return h;
    }

    /// <summary>The NEON probe at <paramref name="x"/>: a unit direction of negative curvature, or null.</summary>
    private Tensor? Probe(Tensor x)
    {
        var yRef = Problem.Y.detach().clone();
        var h0 = Estimator.Estimate(Oracle, x, yRef, Problem.UpperBatches, Problem.LowerBatches);
        ProbeEvaluations++;
        var u = SphereSample(x);
        var yProbe = Problem.Y.detach().clone();
        for (int tau = 0; tau < ProbeSteps; tau++)
        {
            var point = TensorMath.Combine(x.detach(), 1.0, u);
            var hu = Estimator.Estimate(Oracle, point, yProbe, Problem.UpperBatches, Problem.LowerBatches);
            ProbeEvaluations++;
            TensorMath.Axpy(u, -ProbeLr, hu);
            TensorMath.Axpy(u, ProbeLr, h0);
            double n = TensorMath.Norm(u);
            if (!double.IsFinite(n)) return null;
            if (n >= EscapeRadius)
            {
                using var s = new SharpOptim.Optimizers.ScalarHold();
                return u.div(s[n]);
            }
        }
        return null;
    }

    /// <summary>A point uniform on the sphere of radius r: a Gaussian direction scaled to r.</summary>
    private Tensor SphereSample(Tensor like)
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
        double scale = ProbeRadius / Math.Sqrt(norm2);
        for (int i = 0; i < d; i++) v[i] *= scale;
        return tensor(v).to(like.dtype, like.device).reshape(like.shape);
    }
}
