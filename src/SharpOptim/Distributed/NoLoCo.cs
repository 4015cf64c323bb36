using TorchSharp;

namespace SharpOptim.Distributed;

/// <summary>
/// NoLoCo: Kolehmainen, Blagoev, Donaghy, Ersoy, Nies, "NoLoCo: No-all-reduce Low Communication Training Method for
/// Large Models", arXiv 2506.10911 (2025); implemented from the official code (gensyn-ai/noloco,
/// <c>src/noloco/sparse_optimizer_c.py</c>, <c>SparseOptimizerC.step/outer_step</c>) as summarised in
/// ../shared/papers/distributed.md §12. One worker's side; no collective over the whole job is ever issued.
/// <para>State of worker i: its model θ_i, the weights at its last outer step φ_i, its outer momentum δ_i (starts at
/// 0, never averaged) and its inner optimizer's state (never reset). Every H inner steps, all workers draw the same
/// permutation π of the ranks for this outer step and split it by striding into n/G groups
/// (<c>group_j = {π[j], π[j + n/G], …}</c>); inside its group a worker computes φ̄ = mean φ_j and
/// D̄ = mean (θ_j − φ_j), then</para>
/// <code>δ_i ← β·δ_i + η·D̄ + η_c·(φ̄ − φ_i);   φ_i ← φ_i + δ_i;   θ_i ← φ_i</code>
/// <para>With G = n every φ stays equal, the consensus term vanishes and this is DiLoCo with heavy-ball outer
/// momentum (<c>δ ← βδ − ηΔ</c>, Δ = φ − mean θ), the equivalence the tests check.</para>
/// Deviations: (1) the permutation comes from <see cref="NoLoCoDeterministicStream"/> seeded by (Seed, outer step)
/// instead of NumPy's <c>default_rng(step + 1)</c> — any shared permutation gives the same algorithm, and this one is
/// reproducible in both languages; (2) the official code averages through a group root with blocking send/recv; here
/// each member exchanges [φ, θ − φ] with the other members (<see cref="ICommunicator.NeighbourExchange"/>) and all
/// members sum in group order, so they compute bitwise the same means; (3) <see cref="NoLoCoOptions.ConsensusLr"/>
/// separates the consensus coefficient (the code ties it to the outer lr, which stays the default); (4) the
/// pipeline-parallel random routing of the paper is not implemented (no pipeline parallelism here).
/// Reported parameters: the worker's own φ_i (= θ_i after an outer step).
/// </summary>
public sealed class NoLoCo : IDistributedAlgorithm
{
    private readonly ICommunicator _communicator;
    private readonly WorkerProblem _problem;
    private readonly torch.optim.Optimizer _inner;
    private readonly NoLoCoOptions _options;
    private readonly float[] _phi;
    private readonly float[] _momentum;
    private readonly float[] _theta;
    private long _outerStep;

    /// <summary>Worker <paramref name="communicator"/>.Rank over <paramref name="problem"/>, whose inner optimizer is <paramref name="inner"/>.</summary>
    public NoLoCo(ICommunicator communicator, WorkerProblem problem, torch.optim.Optimizer inner, NoLoCoOptions options)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        if (options.InnerSteps < 1) throw new ArgumentOutOfRangeException(nameof(options), options.InnerSteps, "InnerSteps (H) must be at least 1.");
        if (options.GroupSize < 1 || communicator.Size % options.GroupSize != 0)
            throw new ArgumentException(FormattableString.Invariant($"GroupSize {options.GroupSize} must be at least 1 and divide the world size {communicator.Size}."), nameof(options));
        if (!double.IsFinite(options.OuterLr) || options.OuterLr <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.OuterLr, "OuterLr must be positive and finite.");
        if (options.ConsensusLr is { } c && (!double.IsFinite(c) || c < 0)) throw new ArgumentOutOfRangeException(nameof(options), c, "ConsensusLr must be non-negative and finite.");
        if (!double.IsFinite(options.Momentum) || options.Momentum < 0 || options.Momentum >= 1) throw new ArgumentOutOfRangeException(nameof(options), options.Momentum, "Momentum must lie in [0, 1).");
        _communicator = communicator;
        _problem = problem;
        _inner = inner;
        _options = options;
        _phi = new float[problem.Length];
        _momentum = new float[problem.Length];
        _theta = new float[problem.Length];
        problem.CopyParametersTo(_phi);
    }

    /// <inheritdoc/>
    public string Name => "noloco";

    /// <summary>The groups of outer step <paramref name="outerStep"/> for <paramref name="worldSize"/> ranks (each group in member order).</summary>
    public static int[][] Groups(long seed, long outerStep, int worldSize, int groupSize)
    {
        if (groupSize < 1 || worldSize < 1 || worldSize % groupSize != 0)
            throw new ArgumentException(FormattableString.Invariant($"group size {groupSize} must be at least 1 and divide the world size {worldSize}."), nameof(groupSize));
        var permutation = new NoLoCoDeterministicStream(seed, outerStep).Permutation(worldSize);
        int groups = worldSize / groupSize;
        return Enumerable.Range(0, groups).Select(j => Enumerable.Range(0, groupSize).Select(k => permutation[j + k * groups]).ToArray()).ToArray();
    }

    /// <inheritdoc/>
    public int Round()
    {
        for (int h = 0; h < _options.InnerSteps; h++) InnerStep();
        OuterStep();
        return _options.InnerSteps;
    }

    private void InnerStep()
    {
        using var scope = torch.NewDisposeScope();
        _inner.zero_grad();
        var loss = _problem.NextLoss();
        loss.backward();
        _inner.step();
    }

    private void OuterStep()
    {
        int d = _problem.Length;
        int rank = _communicator.Rank;
        _problem.CopyParametersTo(_theta);
        var group = Groups(_options.Seed, _outerStep, _communicator.Size, _options.GroupSize).Single(g => g.Contains(rank));
        var others = group.Where(r => r != rank).ToArray();
        var send = new float[2 * d];
        for (int k = 0; k < d; k++)
        {
            send[k] = _phi[k];
            send[d + k] = _theta[k] - _phi[k];
        }
        var received = new float[others.Length * 2 * d];
        if (others.Length > 0) _communicator.NeighbourExchange(send, others, others, received, tag: 16_200);

        double eta = _options.OuterLr, etaC = _options.ConsensusLr ?? _options.OuterLr, beta = _options.Momentum;
        double inverseG = 1.0 / group.Length;
        for (int k = 0; k < d; k++)
        {
            double phiSum = 0, deltaSum = 0;
            foreach (int member in group)
            {
                if (member == rank) { phiSum += send[k]; deltaSum += send[d + k]; }
                else
                {
                    int slot = Array.IndexOf(others, member) * 2 * d;
                    phiSum += received[slot + k];
                    deltaSum += received[slot + d + k];
                }
            }
            double phiMean = phiSum * inverseG, deltaMean = deltaSum * inverseG;
            float m = (float)(beta * _momentum[k] + eta * deltaMean + etaC * (phiMean - _phi[k]));
            _momentum[k] = m;
            _phi[k] += m;
        }
        _problem.SetParameters(_phi);
        _outerStep++;
    }

    /// <inheritdoc/>
    public void CopyReportedParametersTo(Span<float> into)
    {
        if (into.Length != _phi.Length) throw new ArgumentException(FormattableString.Invariant($"expected {_phi.Length} floats; got {into.Length}."), nameof(into));
        _phi.CopyTo(into);
    }
}
