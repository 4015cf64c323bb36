using SharpOptim.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// The optimizer state of one parameter: a step count and named tensors (for Adam, "exp_avg" and "exp_avg_sq").
/// Tensors are created lazily by the optimizer on the parameter's first step, in its dtype and on its device.
/// This one type serves every SharpOptim optimizer, so saving, loading and <c>StateBytes</c> work the same for all.
/// </summary>
public sealed class ParameterState : OptimizerState, IDisposable
{
    private readonly List<KeyValuePair<string, Tensor>> _tensors = new();

    internal ParameterState(Parameter parameter, string name) : base(parameter)
    {
        Name = name;
    }

    /// <summary>
    /// Whether every state tensor must have the parameter's shape (true for every optimizer whose state is
    /// elementwise; the fused kernels rely on it). Loading rejects tensors of any other shape.
    /// </summary>
    internal bool StateMatchesParameterShape { get; init; } = true;

    /// <summary>The parameter's name (from named parameters, else "group{g}.param{i}").</summary>
    public string Name { get; }

    /// <summary>The parameter this state belongs to.</summary>
    public Parameter Parameter => _parameter;

    /// <summary>How many updates this parameter has received.</summary>
    public long Step { get; set; }

    /// <summary>True once the optimizer has created this parameter's state tensors.</summary>
    public bool IsInitialized { get; internal set; }

    /// <summary>The state tensors, in the order they were added.</summary>
    public IReadOnlyList<KeyValuePair<string, Tensor>> Tensors => _tensors;

    /// <summary>Bytes held by this parameter's state tensors.</summary>
    public long Bytes => _tensors.Sum(kv => kv.Value.NumberOfElements * kv.Value.ElementSize);

    /// <summary>The state tensor with the given name.</summary>
    public Tensor this[string name] => TryGet(name) ?? throw new KeyNotFoundException(FormattableString.Invariant($"Parameter '{Name}' has no state tensor '{name}'."));

    /// <summary>The state tensor with the given name, or null.</summary>
    public Tensor? TryGet(string name)
    {
        foreach (var kv in _tensors)
            if (kv.Key == name) return kv.Value;
        return null;
    }

    /// <summary>Adds a state tensor, detached from any dispose scope (the state owns it).</summary>
    public Tensor Add(string name, Tensor tensor)
    {
        if (TryGet(name) is not null) throw new InvalidOperationException(FormattableString.Invariant($"Parameter '{Name}' already has state tensor '{name}'."));
        tensor = tensor.DetachFromDisposeScope();
        _tensors.Add(new(name, tensor));
        return tensor;
    }

    /// <summary>A new state tensor of zeros shaped, typed and placed like the parameter.</summary>
    public Tensor AddZeros(string name) => Add(name, zeros_like(_parameter));

    /// <summary>Disposes the state tensors and returns to the uninitialized state.</summary>
    public void Clear()
    {
        foreach (var kv in _tensors) kv.Value.Dispose();
        _tensors.Clear();
        Step = 0;
        IsInitialized = false;
    }

    /// <inheritdoc />
    public void Dispose() => Clear();

    /// <summary>A copy of this state (step, flag, the tensors and their values) for a failed step to restore.</summary>
    internal Saved Save() => new(Step, IsInitialized,
        _tensors.Select(kv => (kv.Key, kv.Value, kv.Value.detach().clone().DetachFromDisposeScope())).ToList());

    /// <summary>
    /// Puts back what <see cref="Save"/> copied. A tensor still in the state is overwritten in place (its identity and
    /// memory stay, as the fused kernels and callers holding it expect); one the failed step removed or replaced
    /// (FRUGAL rebuilds its state at a refresh) comes back as the copy; tensors the failed step added are disposed.
    /// The copies not used are left to <see cref="Saved.Dispose"/>.
    /// </summary>
    internal void Restore(Saved saved)
    {
        var current = new HashSet<Tensor>(_tensors.Select(kv => kv.Value), ReferenceEqualityComparer.Instance);
        var restored = new List<KeyValuePair<string, Tensor>>();
        var kept = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < saved.Tensors.Count; i++)
        {
            var (name, original, copy) = saved.Tensors[i];
            if (current.Contains(original))
            {
                original.copy_(copy);
                restored.Add(new(name, original));
                kept.Add(original);
            }
            else
            {
                restored.Add(new(name, copy));
                saved.Adopted(i);
            }
        }
        foreach (var kv in _tensors)
            if (!kept.Contains(kv.Value)) kv.Value.Dispose();
        _tensors.Clear();
        _tensors.AddRange(restored);
        Step = saved.Step;
        IsInitialized = saved.IsInitialized;
    }

    /// <summary>What <see cref="Save"/> copied; disposing it frees the copies the state did not take back.</summary>
    internal sealed class Saved(long step, bool isInitialized, List<(string Name, Tensor Original, Tensor Copy)> tensors) : IDisposable
    {
        private readonly bool[] _adopted = new bool[tensors.Count];

        public long Step { get; } = step;
        public bool IsInitialized { get; } = isInitialized;
        public IReadOnlyList<(string Name, Tensor Original, Tensor Copy)> Tensors { get; } = tensors;

        /// <summary>The state took copy <paramref name="i"/> as its tensor: it is no longer this object's to free.</summary>
        public void Adopted(int i) => _adopted[i] = true;

        public void Dispose()
        {
            for (int i = 0; i < Tensors.Count; i++)
                if (!_adopted[i]) Tensors[i].Copy.Dispose();
        }
    }

    /// <inheritdoc />
    public override void Initialize(OptimizerOptions options)
    {
        // State is created lazily by the optimizer on the first step.
    }

    /// <inheritdoc />
    public override void to(Device device)
    {
        for (int i = 0; i < _tensors.Count; i++)
        {
            var moved = _tensors[i].Value.to(device, disposeAfter: true).DetachFromDisposeScope();
            _tensors[i] = new(_tensors[i].Key, moved);
        }
    }

    /// <inheritdoc />
    public override void SaveStateDict(BinaryWriter writer)
    {
        writer.Write(IsInitialized);
        writer.Write(Step);
        writer.Write(_tensors.Count);
        foreach (var kv in _tensors)
        {
            writer.Write(kv.Key);
            kv.Value.Save(writer);
        }
    }

    /// <summary>
    /// Reads a state written by <see cref="SaveStateDict"/> without touching this object, checking that every
    /// tensor matches the parameter's shape class and dtype. Apply it with <see cref="LoadStateDict(OptimizerState)"/>.
    /// </summary>
    internal ParameterState ReadDetached(BinaryReader reader)
    {
        var loaded = new ParameterState(_parameter, Name) { StateMatchesParameterShape = StateMatchesParameterShape };
        try
        {
            loaded.IsInitialized = reader.ReadBoolean();
            loaded.Step = reader.ReadInt64();
            if (loaded.Step < 0) throw new InvalidDataException(FormattableString.Invariant($"Parameter '{Name}': negative step count {loaded.Step}."));
            // A state tensor takes at least 4 bytes (name length, dtype, rank, one data byte or dim).
            int count = CheckedReader.ReadCount(reader, FormattableString.Invariant($"Parameter '{Name}': state tensor count"), max: 64, minBytesEach: 4);
            for (int i = 0; i < count; i++)
            {
                string name = CheckedReader.ReadString(reader, FormattableString.Invariant($"Parameter '{Name}': state tensor {i} name"));
                if (loaded.TryGet(name) is not null)
                    throw new InvalidDataException(FormattableString.Invariant($"Parameter '{Name}': state tensor '{name}' appears twice."));
                string what = FormattableString.Invariant($"Parameter '{Name}': state tensor '{name}'");
                var header = CheckedReader.ReadTensorHeader(reader, what);
                // Checked before the tensor exists: what a file says about size only reaches libtorch once it fits
                // the file and the parameter.
                CheckCompatible(name, header.DType, header.Shape, e => new InvalidDataException(e));
                loaded.Add(name, CheckedReader.ReadTensorData(reader, header, what));
            }
            return loaded;
        }
        catch
        {
            loaded.Clear();
            throw;
        }
    }

    /// <inheritdoc />
    public override void LoadStateDict(BinaryReader reader)
    {
        // TorchSharp's load_state_dict reads state this way: bad bytes surface as InvalidDataException here too.
        ParameterState loaded;
        try
        {
            loaded = CheckedReader.Guard(FormattableString.Invariant($"The saved state of parameter '{Name}'"), () => ReadDetached(reader));
        }
        catch (InvalidDataException e)
        {
            // The usual cause: a file written by TorchSharp's own optimizer (same type name, another layout).
            throw new InvalidDataException(e.Message + " If the file was written by TorchSharp's own optimizer (its save_state_dict), load it with SharpOptim.Interop.TorchSharpOptimizerState.LoadTorchSharpFile.", e);
        }
        using (loaded) LoadStateDict(loaded);
    }

    /// <summary>Throws unless a tensor of this dtype and shape could be this parameter's state tensor (dtype — the
    /// parameter's, or any float type for a 0-dim scalar — and shape when required).</summary>
    private void CheckCompatible(string name, ScalarType dtype, long[] shape, Func<string, Exception> error)
    {
        // Scalars (0-dim: running averages, rates) may be kept in a wider float type than the parameter.
        bool floating = dtype is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;
        if (dtype != _parameter.dtype && !(shape.Length == 0 && floating))
            throw error(FormattableString.Invariant($"Parameter '{Name}': state tensor '{name}' has dtype {dtype}, the parameter {_parameter.dtype}."));
        if (StateMatchesParameterShape && !shape.SequenceEqual(_parameter.shape))
            throw error(FormattableString.Invariant($"Parameter '{Name}': state tensor '{name}' has shape [{string.Join(", ", shape)}], the parameter [{string.Join(", ", _parameter.shape)}]."));
    }

    /// <inheritdoc />
    public override void LoadStateDict(OptimizerState source)
    {
        if (source is not ParameterState src)
            throw new ArgumentException(FormattableString.Invariant($"Cannot load {source.GetType().Name} into the state of parameter '{Name}'."));
        foreach (var kv in src._tensors) CheckCompatible(kv.Key, kv.Value.dtype, kv.Value.shape, e => new ArgumentException(e));
        Clear();
        foreach (var kv in src._tensors)
            Add(kv.Key, kv.Value.to(_parameter.device, copy: true));
        Step = src.Step;
        IsInitialized = src.IsInitialized;
    }

    /// <inheritdoc />
    public override bool ApproximatelyEquals(OptimizerState other)
    {
        if (other is not ParameterState o || o.Step != Step || o._tensors.Count != _tensors.Count) return false;
        for (int i = 0; i < _tensors.Count; i++)
            if (_tensors[i].Key != o._tensors[i].Key || !_tensors[i].Value.allclose(o._tensors[i].Value)) return false;
        return true;
    }
}
