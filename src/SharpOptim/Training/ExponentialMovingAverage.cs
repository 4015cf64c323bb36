using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Training;

/// <summary>
/// Exponential moving average of weights (Polyak and Juditsky, 1992; as in timm's ModelEmaV2):
/// shadow ← d·shadow + (1 − d)·θ after each <see cref="Update"/>, with warm-up of the decay
/// d_t = min(decay, (1 + t)/(10 + t)) when <c>warmup</c> is set. <see cref="SwapIn"/> puts the averages into the
/// model for evaluation and returns a handle whose disposal restores the trained weights.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    private readonly List<(string Name, Parameter Param, Tensor Shadow)> _items = new();
    private bool _swapped;

    /// <summary>Averages <paramref name="parameters"/> (named, so that saved state can be checked on load).</summary>
    public ExponentialMovingAverage(IEnumerable<(string name, Parameter parameter)> parameters, double decay = 0.999, bool warmup = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(decay >= 0 && decay <= 1)) throw new ArgumentException(FormattableString.Invariant($"Invalid decay: {decay} (must be in [0, 1])."), nameof(decay));
        Decay = decay;
        Warmup = warmup;
        using var _ = no_grad();
        foreach (var (n, p) in parameters)
        {
            // The detached view is held and disposed, not left unreferenced across clone's native call (README, Compatibility).
            using var detached = p.detach();
            _items.Add((n, p, detached.clone().DetachFromDisposeScope()));
        }
        if (_items.Count == 0) throw new ArgumentException("No parameters to average.", nameof(parameters));
    }

    /// <summary>The decay d.</summary>
    public double Decay { get; }

    /// <summary>Whether the decay warms up as (1 + t)/(10 + t).</summary>
    public bool Warmup { get; }

    /// <summary>Updates so far.</summary>
    public long Updates { get; private set; }

    /// <summary>The averaged tensor of the named parameter.</summary>
    public Tensor this[string name] => _items.First(x => x.Name == name).Shadow;

    /// <summary>The decay used at the next update.</summary>
    public double CurrentDecay => Warmup ? Math.Min(Decay, (1 + Updates) / (10.0 + Updates)) : Decay;

    /// <summary>shadow ← d·shadow + (1 − d)·θ for every parameter.</summary>
    public void Update()
    {
        if (_swapped) throw new InvalidOperationException("Update() while the averages are swapped in; dispose the SwapIn handle first.");
        double d = CurrentDecay;
        using var _ = no_grad();
        using var held = new ScalarHold();
        foreach (var (_, p, s) in _items) s.mul_(held[d]).add_(p, held[1 - d]);
        Updates++;
    }

    /// <summary>Copies the averages into the parameters; disposing the result puts the trained weights back.</summary>
    public IDisposable SwapIn()
    {
        if (_swapped) throw new InvalidOperationException("The averages are already swapped in.");
        Swap();
        _swapped = true;
        return new Restore(this);
    }

    private void Swap()
    {
        using var _ = no_grad();
        foreach (var (_, p, s) in _items)
        {
            using var detached = p.detach();
            using var tmp = detached.clone();
            p.copy_(s);
            s.copy_(tmp);
        }
    }

    /// <summary>Writes the update count and every average.</summary>
    public void Save(BinaryWriter w)
    {
        w.Write("SharpOptim.EMA");
        w.Write(Updates);
        w.Write(_items.Count);
        foreach (var (n, _, s) in _items)
        {
            w.Write(n);
            s.Save(w);
        }
    }

    /// <summary>Reads what <see cref="Save"/> wrote, checking names, dtypes and shapes before allocating or changing
    /// anything; a malformed or mismatched state throws <see cref="InvalidDataException"/>.</summary>
    public void Load(BinaryReader r)
    {
        var (apply, _) = ReadState(r);
        apply();
    }

    /// <summary>
    /// Reads and checks what <see cref="Save"/> wrote without changing anything; the returned Apply installs it,
    /// Discard frees it (exactly one of them must run). Bad bytes surface as <see cref="InvalidDataException"/>.
    /// </summary>
    internal (Action Apply, Action Discard) ReadState(BinaryReader r)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (_swapped) throw new InvalidOperationException("Loading an EMA state while the averages are swapped in; dispose the SwapIn handle first.");
        var loaded = new List<Tensor>();
        long updates = 0;
        try
        {
            Checkpoints.CheckedReader.Guard("The EMA state", () =>
            {
                string tag = Checkpoints.CheckedReader.ReadString(r, "EMA tag");
                if (tag != "SharpOptim.EMA") throw new InvalidDataException(FormattableString.Invariant($"Not an EMA state (tag '{tag}')."));
                updates = r.ReadInt64();
                if (updates < 0) throw new InvalidDataException(FormattableString.Invariant($"The saved EMA has a negative update count {updates}."));
                int count = r.ReadInt32();
                if (count != _items.Count) throw new InvalidDataException(FormattableString.Invariant($"The saved EMA has {count} tensors; this one {_items.Count}."));
                foreach (var (n, _, s) in _items)
                {
                    string name = Checkpoints.CheckedReader.ReadString(r, "EMA tensor name");
                    string what = FormattableString.Invariant($"Saved EMA tensor '{name}'");
                    // Checked before allocating: only a tensor exactly like the average it replaces reaches libtorch.
                    var header = Checkpoints.CheckedReader.ReadTensorHeader(r, what);
                    if (name != n || !header.Shape.SequenceEqual(s.shape) || header.DType != s.dtype)
                        throw new InvalidDataException(FormattableString.Invariant($"{what} {header} does not match '{n}' {s.dtype} [{string.Join(", ", s.shape)}]."));
                    loaded.Add(Checkpoints.CheckedReader.ReadTensorData(r, header, what));
                }
            });
        }
        catch
        {
            Discard();
            throw;
        }

        void Apply()
        {
            using (no_grad())
                for (int i = 0; i < loaded.Count; i++) _items[i].Shadow.copy_(loaded[i]);
            Updates = updates;
            Discard();
        }

        void Discard()
        {
            foreach (var t in loaded) t.Dispose();
            loaded.Clear();
        }

        return (Apply, Discard);
    }

    /// <summary>Whether the averages are swapped into the model now (between <see cref="SwapIn"/> and the disposal of its handle).</summary>
    internal bool IsSwappedIn => _swapped;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (_, _, s) in _items) s.Dispose();
        _items.Clear();
    }

    private sealed class Restore(ExponentialMovingAverage ema) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            ema.Swap();
            ema._swapped = false;
            _done = true;
        }
    }
}
