namespace SharpOptim.Distributed;

/// <summary>
/// Decentralized SGD (gossip averaging), one worker's side. Papers: Lian, Zhang, Zhang, Hsieh, Zhang, Liu, "Can
/// Decentralized Algorithms Outperform Centralized Algorithms? A Case Study for Decentralized Parallel SGD", NeurIPS
/// 2017, arXiv 1705.09056 (D-PSGD); Koloskova, Loizou, Boreiri, Jaggi, Stich, "A Unified Theory of Decentralized SGD
/// with Changing Topology and Local Updates", ICML 2020, arXiv 2003.10422.
/// <para>Update of worker i at step t, with g_i = ∇F_i(x_i; ξ_i) one mini-batch gradient at its own iterate:</para>
/// <list type="bullet">
/// <item><see cref="GossipOrder.AdaptThenCombine"/> (default, Koloskova et al.): x_i ← Σ_j W_ij (x_j − η g_j).</item>
/// <item><see cref="GossipOrder.CombineThenAdapt"/> (D-PSGD): x_i ← Σ_j W_ij x_j − η g_i(x_i).</item>
/// <item>Local steps: the averaging happens only every <c>mixEvery</c> steps (1 = plain D-SGD); between them
/// x_i ← x_i − η g_i.</item>
/// <item>Composite objectives f + Ψ with Ψ = l1‖·‖₁ (<c>l1</c> &gt; 0, prox-D-SGD, the Prox-DASA miniature's
/// baseline, ../shared/papers/distributed.md §4): every step ends with the proximal map, x_i ← prox_{ηΨ}(·) of the
/// result above (soft-thresholding at η·l1), e.g. x_i ← prox_{ηΨ}(Σ_j W_ij (x_j − η g_j)); l1 = 0 is plain D-SGD.</item>
/// </list>
/// W is the topology's matrix at that step (time-varying topologies change it), required doubly stochastic so that
/// x̄ is preserved by the averaging. One round = one local step = one gradient. Communication per mixing step: x_i to
/// every out-neighbour. No deviation from the standard forms (../shared/papers/distributed.md §2); no per-worker
/// momentum (plain SGD steps).
/// </summary>
public sealed class DecentralizedSgd : IDistributedAlgorithm
{
    private const int Tag = 101;
    private readonly WorkerProblem _problem;
    private readonly ICommunicator _comm;
    private readonly Topology _topology;
    private readonly double _lr, _l1;
    private readonly GossipOrder _order;
    private readonly int _mixEvery;
    private readonly float[] _x, _g;
    private float[]? _scratch;
    private int _step;

    /// <summary>
    /// Worker <c>comm.Rank</c>'s side; all workers start from rank 0's parameters (broadcast here, a collective call).
    /// </summary>
    public DecentralizedSgd(WorkerProblem problem, ICommunicator comm, Topology topology, double lr,
        GossipOrder order = GossipOrder.AdaptThenCombine, int mixEvery = 1, double l1 = 0)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(topology);
        DistributedKernels.CheckWorld(comm, topology, "D-SGD");
        DistributedKernels.CheckPositive(lr, nameof(lr), "D-SGD");
        if (mixEvery < 1) throw new ArgumentOutOfRangeException(nameof(mixEvery), mixEvery, "D-SGD: mixEvery must be at least 1.");
        DistributedKernels.CheckNonNegative(l1, nameof(l1), "D-SGD");
        topology.RequireDoublyStochastic(nameof(topology), "D-SGD");
        _problem = problem;
        _comm = comm;
        _topology = topology;
        _lr = lr;
        _l1 = l1;
        _order = order;
        _mixEvery = mixEvery;
        _g = new float[problem.Length];
        _x = DistributedKernels.CommonStart(problem, comm);
    }

    /// <inheritdoc />
    public string Name => "dsgd";

    /// <inheritdoc />
    public int Round()
    {
        DistributedKernels.Gradient(_problem, _x, _g);
        bool mix = (_step + 1) % _mixEvery == 0;
        float lr = (float)_lr;
        if (_order == GossipOrder.AdaptThenCombine || !mix)
        {
            for (int i = 0; i < _x.Length; i++) _x[i] -= lr * _g[i];
            if (mix) DistributedKernels.Mix(_comm, _topology, _step, _x, Tag, ref _scratch);
        }
        else
        {
            DistributedKernels.Mix(_comm, _topology, _step, _x, Tag, ref _scratch);
            for (int i = 0; i < _x.Length; i++) _x[i] -= lr * _g[i];
        }
        if (_l1 > 0) DistributedKernels.SoftThreshold(_x, _lr * _l1, _x);
        _step++;
        return 1;
    }

    /// <inheritdoc />
    public void CopyReportedParametersTo(Span<float> into) => _x.CopyTo(into);
}
