using TorchSharp;

namespace SharpOptim.Distributed;

/// <summary>
/// CO2: Sun, Qin, Sun, Li, Li, Shen, Qiao, Zhong, "CO2: Efficient Distributed Training with Full
/// Communication-Computation Overlap", ICLR 2024, arXiv 2401.16265. Official code: OpenNLPLab/CO2 →
/// weigao266/fairscale-CO2 <c>fairscale/experimental/nn/data_parallel/gossip/co2.py</c>
/// (<c>CO2DistributedDataParallel</c>: <c>perform_co2</c>, <c>_global_momentum_step</c>) and weigao266/fairseq-CO2,
/// as summarised in ../shared/papers/distributed.md §13. One worker's side, against <see cref="ICommunicator"/>.
/// <para><see cref="Co2Mode.Synchronous"/> (default): the official code's math. Each worker keeps an anchor φ (the
/// code's <c>θ_old</c>) and an outer momentum m; after τ inner steps of its own optimizer (never reset):</para>
/// <code>θ̄ = mean_i θ_i (all-reduce);  m ← β·m + (φ − θ̄)/Λ;  m ← clip(m, −c, c);  φ ← φ − η·m;  θ_i ← φ</code>
/// <para>With β = 0, η = 1, Λ = 1 and no clip it is periodic model averaging (tested).</para>
/// <para><see cref="Co2Mode.OneStepStale"/> — EXPERIMENTAL RECONSTRUCTION, not the paper's Algorithm 1 (unavailable):
/// at the end of round t a snapshot of θ_i enters a non-blocking all-reduce; round t+1's τ steps run while it is in
/// flight; then the worker waits, applies the same outer update with the one-round-stale θ̄_t, and keeps the local
/// progress of the overlapped round: <c>θ_i ← φ + (θ_i − θ_i^{(t)})</c>.</para>
/// Deviations from the official code: (1) the element-wise clip works (the code calls <c>torch.clamp</c> and discards
/// the result, so it never clips); (2) the optional LocalSGD parameter averaging every <c>localsgd_frequency</c> steps,
/// issued by the code from a background thread with a racy step counter, is not implemented (it would add an
/// all-reduce every few steps); (3) the outer step is done on the full vector, not sharded ZeRO-1 style (same math);
/// (4) Λ is the code's constant, not the paper's computed staleness metric Λ_t (formula unavailable).
/// Reported parameters: the anchor φ.
/// </summary>
public sealed class Co2 : IDistributedAlgorithm
{
    private readonly ICommunicator _communicator;
    private readonly WorkerProblem _problem;
    private readonly torch.optim.Optimizer _inner;
    private readonly Co2Options _options;
    private readonly double _beta;
    private readonly float[] _anchor;
    private readonly float[] _momentum;
    private readonly float[] _local;
    private readonly PinnedBuffer _buffer;
    private readonly float[] _snapshot;
    private IPendingOperation? _pending;

    /// <summary>Worker <paramref name="communicator"/>.Rank over <paramref name="problem"/>, whose inner optimizer is <paramref name="inner"/>.</summary>
    public Co2(ICommunicator communicator, WorkerProblem problem, torch.optim.Optimizer inner, Co2Options options)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        if (options.InnerSteps < 1) throw new ArgumentOutOfRangeException(nameof(options), options.InnerSteps, "InnerSteps (τ) must be at least 1.");
        if (!double.IsFinite(options.OuterLr) || options.OuterLr <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.OuterLr, "OuterLr must be positive and finite.");
        if (options.OuterMomentum is { } b && (!double.IsFinite(b) || b < 0 || b >= 1)) throw new ArgumentOutOfRangeException(nameof(options), b, "OuterMomentum must lie in [0, 1).");
        if (!double.IsFinite(options.GapPenalty) || options.GapPenalty <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.GapPenalty, "GapPenalty (Λ) must be positive and finite.");
        if (double.IsNaN(options.MomentumClip) || options.MomentumClip <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.MomentumClip, "MomentumClip must be positive (+∞ for no clip).");
        if (!Enum.IsDefined(options.Mode)) throw new ArgumentOutOfRangeException(nameof(options), options.Mode, "unknown CO2 mode.");
        _communicator = communicator;
        _problem = problem;
        _inner = inner;
        _options = options;
        _beta = options.OuterMomentum ?? DefaultMomentum(communicator.Size);
        _anchor = new float[problem.Length];
        _momentum = new float[problem.Length];
        _local = new float[problem.Length];
        _snapshot = new float[problem.Length];
        _buffer = new PinnedBuffer(problem.Length);
        problem.CopyParametersTo(_anchor);
    }

    /// <inheritdoc/>
    public string Name => _options.Mode == Co2Mode.Synchronous ? "co2" : "co2-stale";

    /// <summary>The official code's outer momentum by world size: ≤16 → 0, ≤32 → 0.2, ≤64 → 0.5, else 0.6.</summary>
    public static double DefaultMomentum(int worldSize) => worldSize <= 16 ? 0.0 : worldSize <= 32 ? 0.2 : worldSize <= 64 ? 0.5 : 0.6;

    /// <inheritdoc/>
    public int Round()
    {
        for (int h = 0; h < _options.InnerSteps; h++) InnerStep();
        if (_options.Mode == Co2Mode.Synchronous)
        {
            _problem.CopyParametersTo(_buffer.Span);
            _communicator.AllReduceSum(_buffer.Span);
            OuterUpdate(_buffer.Span);
            _problem.SetParameters(_anchor);
        }
        else
        {
            _problem.CopyParametersTo(_local);
            if (_pending is not null)
            {
                _pending.Wait();
                OuterUpdate(_buffer.Span);
                // Keep the progress made while the stale all-reduce was in flight.
                for (int k = 0; k < _local.Length; k++) _local[k] = _anchor[k] + (_local[k] - _snapshot[k]);
                _problem.SetParameters(_local);
            }
            _local.CopyTo(_snapshot);
            _local.CopyTo(_buffer.Span);
            _pending = _communicator.AllReduceSumAsync(_buffer);
        }
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

    private void OuterUpdate(ReadOnlySpan<float> sum)
    {
        double inverseN = 1.0 / _communicator.Size, penalty = _options.GapPenalty, lr = _options.OuterLr, c = _options.MomentumClip;
        for (int k = 0; k < _anchor.Length; k++)
        {
            double mean = sum[k] * inverseN;
            double m = _beta * _momentum[k] + (_anchor[k] - mean) / penalty;
            m = Math.Clamp(m, -c, c);
            _momentum[k] = (float)m;
            _anchor[k] = (float)(_anchor[k] - lr * _momentum[k]);
        }
    }

    /// <inheritdoc/>
    public void CopyReportedParametersTo(Span<float> into)
    {
        if (into.Length != _anchor.Length) throw new ArgumentException(FormattableString.Invariant($"expected {_anchor.Length} floats; got {into.Length}."), nameof(into));
        _anchor.CopyTo(into);
    }
}
