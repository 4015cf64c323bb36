using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Training;

/// <summary>
/// Lookahead: Zhang, Lucas, Hinton and Ba, "Lookahead Optimizer: k steps forward, 1 step back", NeurIPS 2019.
/// Wraps any optimizer (the "fast" weights); every k inner steps the slow weights move toward the fast ones and the
/// fast weights restart from them:
/// <code>
/// φ ← φ + α (θ − φ);   θ ← φ          (every k steps; φ starts at θ₀)
/// </code>
/// It is a TorchSharp <c>Optimizer</c> whose parameter groups are the inner optimizer's, so LR schedulers drive the
/// inner learning rate. The inner optimizer's state is kept across synchronisations, as in the paper's default.
/// </summary>
public sealed class Lookahead : torch.optim.Optimizer
{
    private readonly torch.optim.Optimizer _inner;
    private readonly List<(Parameter Fast, Tensor Slow)> _slow = new();

    /// <summary>Wraps <paramref name="inner"/> with k = <paramref name="k"/> and α = <paramref name="alpha"/>.</summary>
    public Lookahead(torch.optim.Optimizer inner, int k = 5, double alpha = 0.5) : base(IntPtr.Zero)
    {
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        if (k < 1) throw new ArgumentException(FormattableString.Invariant($"Invalid k: {k} (must be >= 1)."), nameof(k));
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentException(FormattableString.Invariant($"Invalid alpha: {alpha} (must be in [0, 1])."), nameof(alpha));
        K = k;
        Alpha = alpha;
        using var _ = no_grad();
        foreach (var p in inner.parameters())
        {
            // The detached view is held and disposed, not left unreferenced across clone's native call (README, Compatibility).
            using var detached = p.detach();
            _slow.Add((p, detached.clone().DetachFromDisposeScope()));
        }
    }

    /// <summary>Inner steps per synchronisation.</summary>
    public int K { get; }

    /// <summary>Slow-weight step size α.</summary>
    public double Alpha { get; }

    /// <summary>Inner steps taken.</summary>
    public long InnerSteps { get; private set; }

    /// <summary>The slow weights, in the inner optimizer's parameter order.</summary>
    public IReadOnlyList<Tensor> SlowWeights => _slow.Select(x => x.Slow).ToList();

    /// <inheritdoc />
    public override Tensor step(Func<Tensor>? closure = null)
    {
        var loss = _inner.step(closure);
        if (++InnerSteps % K == 0)
        {
            using var _ = no_grad();
            using var s = new ScalarHold();
            foreach (var (fast, slow) in _slow)
            {
                using var difference = fast - slow;
                slow.add_(difference, s[Alpha]);
                fast.copy_(slow);
            }
        }
        return loss;
    }

    /// <summary>
    /// Writes Lookahead's own state — k, α, the inner step count and the slow weights — so that a resumed run
    /// synchronises at the same steps from the same slow weights. The inner optimizer's state is saved separately
    /// (its own <c>save_state_dict</c> or <see cref="Checkpoints.Checkpoint"/>); <see cref="Checkpoints.TrainingState"/> saves both in one file.
    /// </summary>
    public void Save(BinaryWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.Write("SharpOptim.Lookahead");
        w.Write(K);
        w.Write(Alpha);
        w.Write(InnerSteps);
        w.Write(_slow.Count);
        foreach (var (_, s) in _slow) s.Save(w);
    }

    /// <summary>Reads what <see cref="Save"/> wrote, checking k, α, count, shapes and dtypes before changing anything.</summary>
    public void Load(BinaryReader r)
    {
        var (apply, _) = ReadState(r);
        apply();
    }

    /// <summary>The optimizer this Lookahead wraps.</summary>
    internal torch.optim.Optimizer Inner => _inner;

    /// <summary>
    /// Reads and checks what <see cref="Save"/> wrote without changing anything; the returned Apply installs it,
    /// Discard frees it (exactly one of them must run). Bad bytes surface as <see cref="InvalidDataException"/>.
    /// </summary>
    internal (Action Apply, Action Discard) ReadState(BinaryReader r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var loaded = new List<Tensor>();
        long steps = 0;
        try
        {
            Checkpoints.CheckedReader.Guard("The Lookahead state", () =>
            {
                string tag = Checkpoints.CheckedReader.ReadString(r, "Lookahead tag");
                if (tag != "SharpOptim.Lookahead") throw new InvalidDataException(FormattableString.Invariant($"Not a Lookahead state (tag '{tag}')."));
                int k = r.ReadInt32();
                double alpha = r.ReadDouble();
                steps = r.ReadInt64();
                int count = r.ReadInt32();
                if (k != K || alpha != Alpha)
                    throw new InvalidDataException(FormattableString.Invariant($"The saved Lookahead has k = {k}, alpha = {alpha}; this one k = {K}, alpha = {Alpha}."));
                if (count != _slow.Count || steps < 0)
                    throw new InvalidDataException(FormattableString.Invariant($"The saved Lookahead has {count} slow tensors and {steps} steps; this one has {_slow.Count} tensors."));
                for (int i = 0; i < count; i++)
                {
                    string what = FormattableString.Invariant($"Saved slow weight {i}");
                    // Checked before allocating: only a tensor exactly like the slow weight it replaces reaches libtorch.
                    var header = Checkpoints.CheckedReader.ReadTensorHeader(r, what);
                    var s = _slow[i].Slow;
                    if (!header.Shape.SequenceEqual(s.shape) || header.DType != s.dtype)
                        throw new InvalidDataException(FormattableString.Invariant($"{what} is [{string.Join(", ", header.Shape)}] {header.DType}; the parameter is [{string.Join(", ", s.shape)}] {s.dtype}."));
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
                for (int i = 0; i < loaded.Count; i++) _slow[i].Slow.copy_(loaded[i]);
            InnerSteps = steps;
            Discard();
        }

        void Discard()
        {
            foreach (var t in loaded) t.Dispose();
            loaded.Clear();
        }

        return (Apply, Discard);
    }

    /// <inheritdoc />
    public override void zero_grad() => _inner.zero_grad();

    /// <inheritdoc />
    public override IEnumerable<Parameter> parameters() => _inner.parameters();

    /// <inheritdoc />
    public override IEnumerable<torch.optim.ILearningRateController> ParamGroups => _inner.ParamGroups;

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            foreach (var (_, s) in _slow) s.Dispose();
        base.Dispose(disposing);
    }
}
