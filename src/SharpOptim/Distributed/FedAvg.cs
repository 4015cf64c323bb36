namespace SharpOptim.Distributed;

/// <summary>
/// Federated averaging, one client's side (every rank is a client; the server's aggregation is an all-reduce, so every
/// rank holds the server model). Paper: McMahan, Moore, Ramage, Hampson, Agüera y Arcas, "Communication-Efficient
/// Learning of Deep Networks from Decentralized Data", AISTATS 2017, arXiv 1602.05629. Server update as in the
/// FedSpeed authors' FL-Simulator (woodenchild95/FL-Simulator, <c>server/FedAvg.py</c>):
/// <para>round t: clients S_t participate (each independently with probability <c>participation</c>, redrawn when
/// none is drawn; all when it is 1); each starts from w_t and takes <c>localSteps</c> plain SGD steps with rate η_l on
/// its own mini-batches; then w_{t+1} = w_t + η_g · mean_{k∈S_t}(w_k − w_t).</para>
/// Choices, named: the unweighted mean (FL-Simulator; the paper weights by client data size n_k, which is the same
/// for the equal-size shards of <see cref="DataPartition"/>); local work is counted in steps rather than epochs; no
/// client weight decay, learning-rate decay or gradient clipping (FL-Simulator's defaults add them). Client selection
/// is drawn from (seed, round) so every rank draws the same S_t. Communication: one all-reduce of d + 1 floats per
/// round (the update and a participation count); non-participating clients contribute zeros.
/// </summary>
public sealed class FedAvg : IDistributedAlgorithm
{
    private readonly WorkerProblem _problem;
    private readonly ICommunicator _comm;
    private readonly double _lr, _serverLr, _participation;
    private readonly int _localSteps, _seed;
    private readonly float[] _w, _local, _g, _sum;
    private int _round;

    /// <summary>Client <c>comm.Rank</c>'s side; all clients start from rank 0's parameters (broadcast here, a collective call).</summary>
    public FedAvg(WorkerProblem problem, ICommunicator comm, double lr, int localSteps, double serverLr = 1, double participation = 1, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(problem);
        DistributedKernels.CheckWorld(comm, null, "FedAvg");
        DistributedKernels.CheckPositive(lr, nameof(lr), "FedAvg");
        DistributedKernels.CheckPositive(serverLr, nameof(serverLr), "FedAvg");
        if (localSteps < 1) throw new ArgumentOutOfRangeException(nameof(localSteps), localSteps, "FedAvg: localSteps must be at least 1.");
        if (!(participation > 0 && participation <= 1))
            throw new ArgumentOutOfRangeException(nameof(participation), participation, "FedAvg: participation must lie in (0, 1].");
        _problem = problem;
        _comm = comm;
        _lr = lr;
        _serverLr = serverLr;
        _participation = participation;
        _localSteps = localSteps;
        _seed = seed;
        _local = new float[problem.Length];
        _g = new float[problem.Length];
        _sum = new float[problem.Length + 1];
        _w = DistributedKernels.CommonStart(problem, comm);
    }

    /// <inheritdoc />
    public string Name => "fedavg";

    /// <summary>Whether client <paramref name="rank"/> takes part in round <paramref name="round"/> (the same answer on every rank).</summary>
    public bool Participates(int rank, int round)
    {
        if (_participation >= 1) return true;
        var rng = new Random(unchecked(_seed * 7919 + round));
        while (true)
        {
            var drawn = Enumerable.Range(0, _comm.Size).Select(_ => rng.NextDouble() < _participation).ToArray();
            if (drawn.Any(b => b)) return drawn[rank];
        }
    }

    /// <inheritdoc />
    public int Round()
    {
        bool active = Participates(_comm.Rank, _round);
        int evaluations = 0;
        Array.Clear(_sum);
        if (active)
        {
            _w.CopyTo(_local, 0);
            float lr = (float)_lr;
            for (int s = 0; s < _localSteps; s++)
            {
                DistributedKernels.Gradient(_problem, _local, _g);
                for (int i = 0; i < _local.Length; i++) _local[i] -= lr * _g[i];
                evaluations++;
            }
            for (int i = 0; i < _local.Length; i++) _sum[i] = _local[i] - _w[i];
            _sum[^1] = 1;
        }
        _comm.AllReduceSum(_sum);
        double count = _sum[^1];
        for (int i = 0; i < _w.Length; i++)
        {
            float mean = (float)(_sum[i] / count);
            _w[i] = (float)(_w[i] + _serverLr * mean);
        }
        _round++;
        return evaluations;
    }

    /// <inheritdoc />
    public void CopyReportedParametersTo(Span<float> into) => _w.CopyTo(into);
}
