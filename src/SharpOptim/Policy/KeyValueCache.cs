using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// An attention kernel for incremental decoding: per layer it appends the call's keys and values to its cache and runs
/// <see cref="CausalAttention"/> over [cache; new] (bottom-right aligned, so the new queries see every cached key and
/// their own causal prefix). Feed the prompt once, then one token per call with position ids continuing from
/// <see cref="Length"/>; the logits equal those of a full forward over the whole sequence (tested to 1e-5). For
/// sampling only: the cached tensors are detached and live outside any dispose scope until <see cref="Dispose"/> or
/// <see cref="Reset"/>. The batch size must stay the same across calls.
/// </summary>
public sealed class KeyValueCache : IAttentionKernel, IDisposable
{
    private readonly Tensor?[] _keys, _values;

    /// <summary>An empty cache for a model with <paramref name="layers"/> layers.</summary>
    public KeyValueCache(int layers)
    {
        if (layers < 1) throw new ArgumentException($"layers = {layers}; it must be at least 1.", nameof(layers));
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    /// <summary>Cached tokens (the next position id to feed).</summary>
    public long Length => _keys[^1] is { } k ? k.shape[2] : _keys[0] is { } k0 ? k0.shape[2] : 0;

    /// <inheritdoc />
    public Tensor Attend(int layer, Tensor query, Tensor key, Tensor value)
    {
        if (layer < 0 || layer >= _keys.Length)
            throw new ArgumentException(FormattableString.Invariant($"layer {layer} outside the cache's {_keys.Length} layers."), nameof(layer));
        var old = (_keys[layer], _values[layer]);
        if (old.Item1 is not null && old.Item1.shape[0] != key.shape[0])
            throw new ArgumentException(FormattableString.Invariant($"batch size changed from {old.Item1.shape[0]} to {key.shape[0]}; Reset the cache first."), nameof(key));
        var k = old.Item1 is null ? key.detach().clone() : cat(new[] { old.Item1, key.detach() }, 2);
        var v = old.Item2 is null ? value.detach().clone() : cat(new[] { old.Item2!, value.detach() }, 2);
        _keys[layer] = k.DetachFromDisposeScope();
        _values[layer] = v.DetachFromDisposeScope();
        old.Item1?.Dispose();
        old.Item2?.Dispose();
        return CausalAttention.Instance.Attend(layer, query, k, v);
    }

    /// <summary>Empties the cache.</summary>
    public void Reset()
    {
        for (int i = 0; i < _keys.Length; i++)
        {
            _keys[i]?.Dispose();
            _values[i]?.Dispose();
            _keys[i] = _values[i] = null;
        }
    }

    /// <inheritdoc />
    public void Dispose() => Reset();
}
