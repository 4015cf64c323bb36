using TorchSharp;

namespace SharpOptim.Distributed;

/// <summary>
/// Streaming DiLoCo: Douillard, Donchev, Rush, Kale, Charles, Garrett, Teston, Lacey, McIlroy, Shen, Ramé, Szlam,
/// Ranzato, Barham, "Streaming DiLoCo with overlapping communication: Towards a Distributed Free Lunch",
/// arXiv 2501.18512 (2025). No official code; the fragment schedule, τ and α follow pytorch/torchft's
/// <c>torchft/local_sgd.py</c> (<c>DiLoCo</c> with <c>model_fragments</c>, <c>fragment_sync_delay</c>,
/// <c>fragment_update_alpha</c>, <c>should_quantize</c>) as summarised in ../shared/papers/distributed.md §11.
/// One worker's side, against <see cref="ICommunicator"/>.
/// <para>The parameters are split into P fragments (<see cref="StreamingDiLoCoOptions.ParameterFragments"/>; the
/// paper's strided pattern is <see cref="StridedFragments"/>). Each fragment p has a global copy θ_p and a Nesterov
/// outer momentum b_p (kept for all fragments on every worker). Inner steps run an ordinary optimizer (DiLoCo: AdamW)
/// whose state is never reset or averaged. Fragment p is synchronised at inner steps s with
/// <c>s mod H = ((p+1)·H/P) mod H</c> (one fragment every H/P steps, round robin). At step s − τ the worker takes
/// <c>Δ_{i,p} = θ_p − θ_{i,p}</c>, optionally quantizes it (<see cref="OuterGradientQuantizer"/>, one scale per
/// parameter tensor), and starts a non-blocking all-reduce (<see cref="ICommunicator.AllReduceSumAsync"/>); it keeps
/// training for τ steps; at step s it waits, and with Δ̄ = mean_i Δ_{i,p}:</para>
/// <code>b_p ← μ·b_p + Δ̄;   θ_p ← θ_p − η·(Δ̄ + μ·b_p);   θ_{i,p} ← α·θ_{i,p} + (1 − α)·θ_p</code>
/// <para>(PyTorch SGD-Nesterov semantics; torchft's <c>lerp(global, local, α)</c>.) With one fragment, τ = 0, α = 0 and
/// no quantization this is DiLoCo (tested).</para>
/// Deviations and reconstructions: the 4-bit format is the brief's E3M0 reconstruction (the paper does not state it);
/// quantization is simulated (quantize → dequantize each worker's Δ, then a float32 sum, as torchft's quantized
/// reduce-scatter accumulates in fp32); the outer arithmetic is done in float64 and rounded to float32 once per
/// update (PyTorch rounds after each operation: low-bit differences only). Where non-block parameters go is the
/// caller's choice through <see cref="StreamingDiLoCoOptions.ParameterFragments"/> (not stated in the paper).
/// Reported parameters: the global copy θ (all fragments).
/// </summary>
public sealed class StreamingDiLoCo : IDistributedAlgorithm
{
    private readonly ICommunicator _communicator;
    private readonly WorkerProblem _problem;
    private readonly torch.optim.Optimizer _inner;
    private readonly StreamingDiLoCoOptions _options;
    private readonly float[] _global;
    private readonly float[] _momentum;
    private readonly float[] _local;
    private readonly (int Offset, int Count)[][] _fragmentTensors; // per fragment: the flat ranges of its parameter tensors
    private readonly PinnedBuffer?[] _buffers;
    private readonly IPendingOperation?[] _pending;
    private readonly int _fragments;
    private long _step;

    /// <summary>Worker <paramref name="communicator"/>.Rank over <paramref name="problem"/>, whose inner optimizer is <paramref name="inner"/>.</summary>
    public StreamingDiLoCo(ICommunicator communicator, WorkerProblem problem, torch.optim.Optimizer inner, StreamingDiLoCoOptions options)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        var assignment = options.ParameterFragments ?? Enumerable.Repeat(0, problem.Parameters.Count).ToArray();
        if (assignment.Count != problem.Parameters.Count)
            throw new ArgumentException(FormattableString.Invariant($"ParameterFragments has {assignment.Count} entries; the model has {problem.Parameters.Count} trainable parameter tensors."), nameof(options));
        int fragments = assignment.Count == 0 ? 0 : assignment.Max() + 1;
        if (assignment.Any(f => f < 0)) throw new ArgumentException("ParameterFragments must not contain negative fragment indices.", nameof(options));
        for (int p = 0; p < fragments; p++)
            if (!assignment.Contains(p)) throw new ArgumentException(FormattableString.Invariant($"fragment {p} of 0…{fragments - 1} holds no parameter; fragments must be numbered without gaps."), nameof(options));
        if (options.InnerSteps < 1 || options.InnerSteps % fragments != 0)
            throw new ArgumentException(FormattableString.Invariant($"InnerSteps (H) = {options.InnerSteps} must be a positive multiple of the number of fragments ({fragments})."), nameof(options));
        if (options.OverlapSteps < 0 || options.OverlapSteps >= options.InnerSteps / fragments)
            throw new ArgumentOutOfRangeException(nameof(options), options.OverlapSteps, FormattableString.Invariant($"OverlapSteps (τ) must lie in [0, H/P) = [0, {options.InnerSteps / fragments})."));
        if (!double.IsFinite(options.MixingAlpha) || options.MixingAlpha < 0 || options.MixingAlpha > 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MixingAlpha, "MixingAlpha must lie in [0, 1].");
        if (!double.IsFinite(options.OuterLr) || options.OuterLr <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.OuterLr, "OuterLr must be positive and finite.");
        if (!double.IsFinite(options.OuterMomentum) || options.OuterMomentum < 0 || options.OuterMomentum >= 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.OuterMomentum, "OuterMomentum must lie in [0, 1).");

        _communicator = communicator;
        _problem = problem;
        _inner = inner;
        _options = options;
        _fragments = fragments;
        _global = new float[problem.Length];
        _momentum = new float[problem.Length];
        _local = new float[problem.Length];
        problem.CopyParametersTo(_global);
        var ranges = new List<(int, int)>[fragments];
        for (int p = 0; p < fragments; p++) ranges[p] = new();
        int offset = 0;
        for (int t = 0; t < problem.Parameters.Count; t++)
        {
            int count = (int)problem.Parameters[t].numel();
            ranges[assignment[t]].Add((offset, count));
            offset += count;
        }
        _fragmentTensors = ranges.Select(r => r.ToArray()).ToArray();
        _buffers = new PinnedBuffer?[fragments];
        _pending = new IPendingOperation?[fragments];
    }

    /// <inheritdoc/>
    public string Name => "streaming-diloco";

    /// <summary>Number of fragments P.</summary>
    public int Fragments => _fragments;

    /// <summary>Bytes of the largest single fragment synchronisation payload (per worker, before the all-reduce's ring factor).</summary>
    public long PeakPayloadBytes => Enumerable.Range(0, _fragments).Max(PayloadBytes);

    /// <summary>Bytes sent by this worker so far, counted as a ring all-reduce (2·payload·(n−1)/n per synchronisation), at the quantized width when quantizing.</summary>
    public long BytesSent { get; private set; }

    /// <summary>Fragment synchronisations completed by this worker.</summary>
    public long Synchronisations { get; private set; }

    /// <summary>The paper's strided fragments: fragment = block mod <paramref name="fragments"/>, for each parameter's block index.</summary>
    public static int[] StridedFragments(IReadOnlyList<int> blockOfParameter, int fragments)
    {
        ArgumentNullException.ThrowIfNull(blockOfParameter);
        if (fragments < 1) throw new ArgumentOutOfRangeException(nameof(fragments), fragments, "at least one fragment is needed.");
        if (blockOfParameter.Any(b => b < 0)) throw new ArgumentException("block indices must not be negative.", nameof(blockOfParameter));
        return blockOfParameter.Select(b => b % fragments).ToArray();
    }

    /// <summary>Payload bytes of one synchronisation of fragment <paramref name="fragment"/> (quantized: 4 bits per value plus a scale per tensor).</summary>
    public long PayloadBytes(int fragment) => _options.Quantize
        ? _fragmentTensors[fragment].Sum(r => OuterGradientQuantizer.PayloadBytes(r.Count))
        : _fragmentTensors[fragment].Sum(r => (long)r.Count * sizeof(float));

    /// <inheritdoc/>
    public int Round()
    {
        int h = _options.InnerSteps, stride = h / _fragments, tau = _options.OverlapSteps;
        for (int j = 0; j < h; j++)
        {
            InnerStep();
            _step++;
            for (int p = 0; p < _fragments; p++)
                if ((_step + tau) % h == (p + 1) * stride % h) Send(p);
            for (int p = 0; p < _fragments; p++)
                if (_step % h == (p + 1) * stride % h) Complete(p);
        }
        return h;
    }

    private void InnerStep()
    {
        using var scope = torch.NewDisposeScope();
        _inner.zero_grad();
        var loss = _problem.NextLoss();
        loss.backward();
        _inner.step();
    }

    private void Send(int p)
    {
        _problem.CopyParametersTo(_local);
        var tensors = _fragmentTensors[p];
        int length = tensors.Sum(r => r.Count);
        var buffer = _buffers[p] ??= new PinnedBuffer(length);
        int at = 0;
        foreach (var (offset, count) in tensors)
        {
            var chunk = buffer.Span.Slice(at, count);
            for (int k = 0; k < count; k++) chunk[k] = _global[offset + k] - _local[offset + k];
            if (_options.Quantize) OuterGradientQuantizer.RoundTrip(chunk);
            at += count;
        }
        int n = _communicator.Size;
        BytesSent += 2 * PayloadBytes(p) * (n - 1) / n;
        _pending[p] = _communicator.AllReduceSumAsync(buffer);
    }

    private void Complete(int p)
    {
        var pending = _pending[p] ?? throw new InvalidOperationException(FormattableString.Invariant($"fragment {p} is completed without having been sent (schedule error)."));
        pending.Wait();
        _pending[p] = null;
        var buffer = _buffers[p]!.Span;
        _problem.CopyParametersTo(_local);
        double inverseN = 1.0 / _communicator.Size, mu = _options.OuterMomentum, lr = _options.OuterLr, alpha = _options.MixingAlpha;
        int at = 0;
        foreach (var (offset, count) in _fragmentTensors[p])
        {
            for (int k = 0; k < count; k++)
            {
                int i = offset + k;
                double delta = buffer[at + k] * inverseN;
                float b = (float)(mu * _momentum[i] + delta);
                _momentum[i] = b;
                float g = (float)(_global[i] - lr * (delta + mu * b));
                _global[i] = g;
                _local[i] = (float)(alpha * _local[i] + (1 - alpha) * g);
            }
            at += count;
        }
        _problem.SetParameters(_local);
        Synchronisations++;
    }

    /// <inheritdoc/>
    public void CopyReportedParametersTo(Span<float> into)
    {
        if (into.Length != _global.Length) throw new ArgumentException(FormattableString.Invariant($"expected {_global.Length} floats; got {into.Length}."), nameof(into));
        _global.CopyTo(into);
    }
}
