using SharpOptim.Distributed;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// Proximal decentralized SGD, the baseline of the Prox-DASA miniature (../shared/papers/distributed.md §4: "compare
/// Prox-DASA … prox-D-SGD … at equal batch size"), one worker's side: adapt-then-combine D-SGD
/// (<see cref="DecentralizedSgd"/>, Koloskova et al., arXiv 2003.10422) followed by the proximal step of
/// Ψ = λ‖·‖₁, x_i ← prox_{ηΨ}(Σ_j W_ij (x_j − η g_j)) with g_j one mini-batch gradient at x_j and prox_{ηΨ}
/// soft-thresholding at ηλ: the plain proximal extension of D-SGD, the baseline that the brief's miniature for
/// Prox-DASA (Xiao, Chen, Balasubramanian, Ghadimi, arXiv 2302.09766) names. Whether the paper's own experiments use
/// exactly this form was not checked (its body was not read). With a constant batch and step its stationarity is
/// expected to stall at a noise floor, which is what the miniature tests. Registered by <c>sharpoptim bench distributed</c> as
/// <c>prox-dsgd</c> through <see cref="DistributedAlgorithms.Register"/>; it is a benchmark baseline, not a method of the
/// library's family list. One round = one gradient and one gossip of x.
/// </summary>
public sealed class ProxDecentralizedSgd : IDistributedAlgorithm
{
    private const int Tag = 111;
    private readonly WorkerProblem _problem;
    private readonly ICommunicator _comm;
    private readonly Topology _topology;
    private readonly double _lr, _l1;
    private readonly float[] _x, _g;
    private float[] _received = [];
    private int _round;

    /// <summary>Worker <c>comm.Rank</c>'s side; every worker starts from rank 0's parameters (a broadcast here).</summary>
    public ProxDecentralizedSgd(WorkerProblem problem, ICommunicator comm, Topology topology, double lr, double l1)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentNullException.ThrowIfNull(topology);
        if (topology.Size != comm.Size)
            throw new ArgumentException(FormattableString.Invariant($"prox-D-SGD: the topology has {topology.Size} workers but the world has {comm.Size} ranks."), nameof(topology));
        if (!(lr > 0) || !double.IsFinite(lr)) throw new ArgumentOutOfRangeException(nameof(lr), lr, "prox-D-SGD: lr must be positive and finite.");
        if (!(l1 >= 0) || !double.IsFinite(l1)) throw new ArgumentOutOfRangeException(nameof(l1), l1, "prox-D-SGD: l1 must be non-negative and finite.");
        topology.RequireDoublyStochastic(nameof(topology), "prox-D-SGD");
        _problem = problem;
        _comm = comm;
        _topology = topology;
        _lr = lr;
        _l1 = l1;
        _x = new float[problem.Length];
        _g = new float[problem.Length];
        problem.CopyParametersTo(_x);
        if (comm.Size > 1) comm.Broadcast(_x, 0);
    }

    /// <inheritdoc />
    public string Name => "prox-dsgd";

    /// <inheritdoc />
    public int Round()
    {
        _problem.SetParameters(_x);
        using (var scope = NewDisposeScope())
        {
            foreach (var p in _problem.Parameters) p.grad?.zero_();
            _problem.NextLoss().backward();
        }
        _problem.CopyGradientsTo(_g);
        float lr = (float)_lr;
        for (int i = 0; i < _x.Length; i++) _x[i] -= lr * _g[i];
        var nb = _topology.Neighbours(_comm.Rank, _round);
        int d = _x.Length;
        if (nb.In.Count > 0 || nb.Out.Count > 0)
        {
            if (_received.Length != nb.In.Count * d) _received = new float[nb.In.Count * d];
            _comm.NeighbourExchange(_x, nb.Out, nb.In, _received, Tag);
            for (int e = 0; e < d; e++)
            {
                double s = nb.SelfWeight * _x[e];
                for (int k = 0; k < nb.In.Count; k++) s += nb.InWeights[k] * _received[k * d + e];
                _x[e] = (float)s;
            }
        }
        double c = _lr * _l1;
        if (c > 0)
            for (int i = 0; i < d; i++)
            {
                double a = _x[i];
                _x[i] = a > c ? (float)(a - c) : a < -c ? (float)(a + c) : 0f;
            }
        _round++;
        return 1;
    }

    /// <inheritdoc />
    public void CopyReportedParametersTo(Span<float> into) => _x.CopyTo(into);
}
