namespace SharpOptim.Distributed;

/// <summary>
/// Stochastic gradient tracking (DSGT / GT-SGD), one worker's side, with an optional ℓ1 prox. Papers: Nedić,
/// Olshevsky, Shi, "Achieving Geometric Convergence for Distributed Optimization over Time-Varying Graphs" (DIGing),
/// SIAM J. Optim. 2017, arXiv 1607.03218; Pu, Nedić, "Distributed Stochastic Gradient Tracking Methods", Math. Prog.
/// 2021, arXiv 1805.11454. Order of <see cref="GossipOrder.AdaptThenCombine"/> as in <c>methods/dsgt.py</c> of the
/// official ProxDASA repository (xuxingc/ProxDASA):
/// <list type="number">
/// <item>init (first round): g_i⁰ = ∇F_i(x_i⁰; ξ), y_i = g_i⁰, then one gossip round y ← W y;</item>
/// <item>each round: x_i ← prox_{ηΨ}(x_i − η y_i) (Ψ = l1‖·‖₁; plain step when l1 = 0); x_i ← Σ_j W_ij x_j;
/// g_i = ∇F_i(x_i; ξ) on a new batch; y_i ← Σ_j W_ij y_j + g_i − g_i^old; g_i^old ← g_i.</item>
/// </list>
/// <see cref="GossipOrder.CombineThenAdapt"/> is DIGing's form: x_i ← Σ_j W_ij x_j − η y_i (then the prox),
/// y_i ← Σ_j W_ij y_j + g_i(x_i new) − g_i^old, without the initial y ← W y. With a doubly stochastic W,
/// mean_i y_i = mean_i g_i^old after every round (the tracking invariant). State: x, y, g_old (3d); communication:
/// two vectors per out-neighbour per round. The first round evaluates two gradients (init and step).
/// </summary>
public sealed class GradientTracking : IDistributedAlgorithm
{
    private const int TagX = 201, TagY = 202;
    private readonly WorkerProblem _problem;
    private readonly ICommunicator _comm;
    private readonly Topology _topology;
    private readonly double _lr, _l1;
    private readonly GossipOrder _order;
    private readonly float[] _x, _y, _gOld, _g;
    private float[]? _scratch;
    private int _round;
    private bool _initialised;

    /// <summary>Worker <c>comm.Rank</c>'s side; all workers start from rank 0's parameters (broadcast here, a collective call).</summary>
    public GradientTracking(WorkerProblem problem, ICommunicator comm, Topology topology, double lr, double l1 = 0,
        GossipOrder order = GossipOrder.AdaptThenCombine)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(topology);
        DistributedKernels.CheckWorld(comm, topology, "gradient tracking");
        DistributedKernels.CheckPositive(lr, nameof(lr), "gradient tracking");
        DistributedKernels.CheckNonNegative(l1, nameof(l1), "gradient tracking");
        topology.RequireDoublyStochastic(nameof(topology), "gradient tracking");
        _problem = problem;
        _comm = comm;
        _topology = topology;
        _lr = lr;
        _l1 = l1;
        _order = order;
        _y = new float[problem.Length];
        _gOld = new float[problem.Length];
        _g = new float[problem.Length];
        _x = DistributedKernels.CommonStart(problem, comm);
    }

    /// <inheritdoc />
    public string Name => "gt";

    /// <summary>The tracker y_i (after the last round).</summary>
    public ReadOnlySpan<float> Tracker => _y;

    /// <summary>The last local stochastic gradient g_i^old.</summary>
    public ReadOnlySpan<float> LastGradient => _gOld;

    /// <inheritdoc />
    public int Round()
    {
        int evaluations = 0;
        if (!_initialised)
        {
            DistributedKernels.Gradient(_problem, _x, _gOld);
            _gOld.CopyTo(_y, 0);
            if (_order == GossipOrder.AdaptThenCombine) DistributedKernels.Mix(_comm, _topology, 0, _y, TagY, ref _scratch);
            _initialised = true;
            evaluations++;
        }
        float lr = (float)_lr;
        if (_order == GossipOrder.AdaptThenCombine)
        {
            for (int i = 0; i < _x.Length; i++) _x[i] -= lr * _y[i];
            if (_l1 > 0) DistributedKernels.SoftThreshold(_x, _lr * _l1, _x);
            DistributedKernels.Mix(_comm, _topology, _round, _x, TagX, ref _scratch);
        }
        else
        {
            var step = (float[])_y.Clone();
            DistributedKernels.Mix(_comm, _topology, _round, _x, TagX, ref _scratch);
            for (int i = 0; i < _x.Length; i++) _x[i] -= lr * step[i];
            if (_l1 > 0) DistributedKernels.SoftThreshold(_x, _lr * _l1, _x);
        }
        DistributedKernels.Gradient(_problem, _x, _g);
        evaluations++;
        DistributedKernels.Mix(_comm, _topology, _round, _y, TagY, ref _scratch);
        for (int i = 0; i < _y.Length; i++)
        {
            _y[i] = (float)((double)_y[i] + _g[i] - _gOld[i]);
            _gOld[i] = _g[i];
        }
        _round++;
        return evaluations;
    }

    /// <inheritdoc />
    public void CopyReportedParametersTo(Span<float> into) => _x.CopyTo(into);
}
