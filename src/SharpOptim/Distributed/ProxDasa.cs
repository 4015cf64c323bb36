namespace SharpOptim.Distributed;

/// <summary>
/// Prox-DASA and Prox-DASA-GT, one worker's side. Paper: Tesi Xiao, Xuxing Chen, Krishnakumar Balasubramanian, Saeed
/// Ghadimi, "A One-Sample Decentralized Proximal Algorithm for Non-Convex Stochastic Composite Optimization", arXiv
/// 2302.09766 (2023). Algorithm as the official code xuxingc/ProxDASA writes it (<c>methods/proxdasa.py</c>,
/// <c>methods/proxdasagt.py</c>), for min_x (1/n) Σ_i f_i(x) + Ψ(x) with Ψ = l1‖x‖₁, one mini-batch per worker per
/// iteration. Iteration k of worker i (this order matters):
/// <list type="number">
/// <item>y_i = prox_{lr·Ψ}(x_i − lr·z_i) (soft-threshold at lr·l1; z⁰ = 0, so iteration 0 thresholds x⁰ itself);</item>
/// <item>g_i = ∇F_i(x_i; ξ_i) at the pre-update x_i;</item>
/// <item>GT variants: u_i ← u_i + g_i − g_i^old, g_i^old ← g_i (u⁰ = g^old = ∇F_i(x⁰; ξ) on one batch, the first round);</item>
/// <item>x_i ← (1 − α_k) x_i + α_k y_i;</item>
/// <item>z_i ← (1 − α_k) z_i + α_k g_i (Prox-DASA and GT as coded) or α_k u_i (GT, recommended);</item>
/// <item><c>commRounds</c> times: gossip x and z (and u for GT) with W.</item>
/// </list>
/// α_k: see <see cref="ProxDasaStepSize"/>. The output is x̄.
/// <para>Deviations and choices, each named: (a) the official Prox-DASA-GT never uses its tracker (u is updated and
/// gossiped, but step 5 uses g_i): the default <see cref="ProxDasaVariant.GradientTracking"/> uses u_i in step 5 — a
/// reconstruction of the paper's intent from the brief (../shared/papers/distributed.md §4), not read in the paper's
/// body; <see cref="ProxDasaVariant.GradientTrackingAsCoded"/> keeps the official behaviour. (b) The official code
/// scales every local loss by 1/n; <c>scaleLossByOneOverN</c> (default true, for parity) does the same by scaling
/// g_i, so the effective step on the unscaled average loss is lr/n while the threshold stays lr·l1. (c) The official
/// constructor's default number of gossip rounds from the spectral gap is dead code there (the scripts pass 1); here
/// it is an explicit argument with default 1.</para>
/// </summary>
public sealed class ProxDasa : IDistributedAlgorithm
{
    private const int TagX = 301, TagZ = 302, TagU = 303;
    private readonly WorkerProblem _problem;
    private readonly ICommunicator _comm;
    private readonly Topology _topology;
    private readonly double _lr, _alphaBase, _l1, _gradientScale;
    private readonly ProxDasaVariant _variant;
    private readonly ProxDasaStepSize _stepSize;
    private readonly int _iterations, _commRounds;
    private readonly float[] _x, _z, _y, _g, _u, _gOld;
    private float[]? _scratch;
    private int _k;
    private bool _initialised;

    /// <summary>
    /// Worker <c>comm.Rank</c>'s side; all workers start from rank 0's parameters (broadcast here, a collective call).
    /// <paramref name="iterations"/> (K) is needed only by <see cref="ProxDasaStepSize.Constant"/>.
    /// </summary>
    public ProxDasa(WorkerProblem problem, ICommunicator comm, Topology topology, double lr, double alphaBase, double l1,
        ProxDasaVariant variant = ProxDasaVariant.ProxDasa, ProxDasaStepSize stepSize = ProxDasaStepSize.Diminishing,
        int iterations = 0, int commRounds = 1, bool scaleLossByOneOverN = true)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(topology);
        DistributedKernels.CheckWorld(comm, topology, "Prox-DASA");
        DistributedKernels.CheckPositive(lr, nameof(lr), "Prox-DASA");
        DistributedKernels.CheckPositive(alphaBase, nameof(alphaBase), "Prox-DASA");
        DistributedKernels.CheckNonNegative(l1, nameof(l1), "Prox-DASA");
        if (commRounds < 1) throw new ArgumentOutOfRangeException(nameof(commRounds), commRounds, "Prox-DASA: commRounds must be at least 1.");
        if (stepSize == ProxDasaStepSize.Constant && iterations < 1)
            throw new ArgumentOutOfRangeException(nameof(iterations), iterations, "Prox-DASA: the constant step size α₀·√(n/K) needs the number of iterations K ≥ 1.");
        if (!Enum.IsDefined(variant)) throw new ArgumentOutOfRangeException(nameof(variant), variant, "Prox-DASA: unknown variant.");
        topology.RequireDoublyStochastic(nameof(topology), "Prox-DASA");
        _problem = problem;
        _comm = comm;
        _topology = topology;
        _lr = lr;
        _alphaBase = alphaBase;
        _l1 = l1;
        _variant = variant;
        _stepSize = stepSize;
        _iterations = iterations;
        _commRounds = commRounds;
        _gradientScale = scaleLossByOneOverN ? 1.0 / comm.Size : 1.0;
        int d = problem.Length;
        _z = new float[d];
        _y = new float[d];
        _g = new float[d];
        _u = new float[d];
        _gOld = new float[d];
        _x = DistributedKernels.CommonStart(problem, comm);
    }

    /// <inheritdoc />
    public string Name => _variant == ProxDasaVariant.ProxDasa ? "prox-dasa" : _variant == ProxDasaVariant.GradientTracking ? "prox-dasa-gt" : "prox-dasa-gt-as-coded";

    /// <summary>α_k of iteration k (0-based).</summary>
    public double Alpha(int k)
    {
        int n = _comm.Size;
        if (_stepSize == ProxDasaStepSize.Constant) return _alphaBase * Math.Sqrt((double)n / _iterations);
        double root = Math.Sqrt((double)n / (k + 1));
        return _variant == ProxDasaVariant.ProxDasa ? Math.Min(_alphaBase * root, 1) : _alphaBase * Math.Min(root, 1);
    }

    /// <inheritdoc />
    public int Round()
    {
        int evaluations = 0;
        bool tracking = _variant != ProxDasaVariant.ProxDasa;
        if (tracking && !_initialised)
        {
            DistributedKernels.Gradient(_problem, _x, _gOld, _gradientScale);
            _gOld.CopyTo(_u, 0);
            evaluations++;
        }
        _initialised = true;
        // 1. y = prox(x − lr z)
        float lr = (float)_lr;
        for (int i = 0; i < _x.Length; i++) _y[i] = _x[i] - lr * _z[i];
        DistributedKernels.SoftThreshold(_y, _lr * _l1, _y);
        // 2. g at the pre-update x
        DistributedKernels.Gradient(_problem, _x, _g, _gradientScale);
        evaluations++;
        // 3. tracker
        if (tracking)
            for (int i = 0; i < _u.Length; i++)
            {
                _u[i] = (float)((double)_u[i] + _g[i] - _gOld[i]);
                _gOld[i] = _g[i];
            }
        // 4.–5. averaging steps
        double a = Alpha(_k);
        var direction = _variant == ProxDasaVariant.GradientTracking ? _u : _g;
        for (int i = 0; i < _x.Length; i++)
        {
            _x[i] = (float)((1 - a) * _x[i] + a * _y[i]);
            _z[i] = (float)((1 - a) * _z[i] + a * direction[i]);
        }
        // 6. gossip
        for (int r = 0; r < _commRounds; r++)
        {
            int round = _k * _commRounds + r;
            DistributedKernels.Mix(_comm, _topology, round, _x, TagX, ref _scratch);
            DistributedKernels.Mix(_comm, _topology, round, _z, TagZ, ref _scratch);
            if (tracking) DistributedKernels.Mix(_comm, _topology, round, _u, TagU, ref _scratch);
        }
        _k++;
        return evaluations;
    }

    /// <inheritdoc />
    public void CopyReportedParametersTo(Span<float> into) => _x.CopyTo(into);
}
