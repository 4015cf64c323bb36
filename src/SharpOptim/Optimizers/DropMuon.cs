using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// Drop-Muon: Gruntkowska, Maziane, Qu and Richtárik, "Drop-Muon: Update Less, Converge Faster", 2025
/// (arXiv:2510.02239). Randomized progressive training with Muon's layer-wise update: each step only a random subset
/// of layers is updated; the others are frozen (weights and momentum untouched).
/// <para>Layers 0..b−1 in forward order; at step k a start index s^k is drawn (uniformly by default, or with the
/// given probabilities) and the active set is S^k = {s^k, …, b−1}:</para>
/// <code>
/// for i ∈ S^k:  M_i ← β M_i + (1 − β) ∇_i f;   X_i ← X_i − γ (M_i)^♯     (Muon: ♯ = Newton–Schulz orthogonalization)
/// for i ∉ S^k:  X_i, M_i unchanged
/// </code>
/// <para>
/// The update of an active layer is exactly <see cref="Muon"/>'s (Nesterov momentum, shape scale, auxiliary Adam for
/// embeddings, heads and vectors, routed as Muon routes them), so with every layer active Drop-Muon is Muon bit for
/// bit. Because S^k is a suffix of the network, backpropagation can stop at layer s^k: between steps the parameters of
/// inactive layers have <c>requires_grad = false</c>, so the next backward computes no weight gradients for them and
/// no input gradients below the earliest active layer (what Drop-Muon saves; the forward pass is unchanged). The
/// next S is drawn at the end of each <see cref="step"/> (and at construction), so an ordinary
/// zero_grad/forward/backward/step loop needs no change. Save <see cref="Inner"/> with <c>Checkpoint</c>; the draw is
/// seeded per step index, so a resumed run draws the same layers (call <see cref="Resume"/> with the step count).
/// </para>
/// <para>
/// Deviations and choices: the paper analyses general distributions over subsets; the default here is its
/// Randomized Progressive Training with a uniform start index (the sampling its experiments call "uniform index
/// sampling"); other start distributions can be given. Momentum follows the official Muon code (EMA with Nesterov),
/// which the paper's method builds on.
/// </para>
/// </summary>
public sealed class DropMuon : optim.Optimizer
{
    private readonly List<List<Parameter>> _layers;
    private readonly double[] _cumulative;
    private readonly int _seed;
    private readonly Func<long, int>? _startAt;
    private long _steps;

    /// <summary>
    /// Drop-Muon over <paramref name="layers"/> (each a list of named parameters, in forward order; see
    /// <see cref="ByModule"/>). Muon's arguments as <see cref="Muon"/>; <paramref name="startProbabilities"/> (default
    /// uniform) gives P(s = i); <paramref name="startAt"/> replaces the random draw (step index → start), for replay.
    /// </summary>
    public DropMuon(IReadOnlyList<IReadOnlyList<(string name, Parameter parameter)>> layers, double lr = 0.02, double momentum = 0.95,
        double weight_decay = 0, bool nesterov = true, long ns_steps = 5, double adam_lr = 3e-4, double adam_beta1 = 0.9,
        double adam_beta2 = 0.95, double adam_eps = 1e-10, double adam_weight_decay = 0, IReadOnlyList<double>? startProbabilities = null,
        int seed = 0, Func<long, int>? startAt = null) : base(IntPtr.Zero)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0 || layers.Any(l => l is null || l.Count == 0))
            throw new ArgumentException("Drop-Muon needs at least one layer, each with at least one parameter.", nameof(layers));
        var probs = startProbabilities?.ToArray() ?? Enumerable.Repeat(1.0 / layers.Count, layers.Count).ToArray();
        if (probs.Length != layers.Count)
            throw new ArgumentException(FormattableString.Invariant($"Invalid startProbabilities: {probs.Length} values for {layers.Count} layers."), nameof(startProbabilities));
        if (probs.Any(p => !(p >= 0) || double.IsInfinity(p)) || Math.Abs(probs.Sum() - 1) > 1e-9)
            throw new ArgumentException(FormattableString.Invariant($"Invalid startProbabilities: [{string.Join(", ", probs)}] (non-negative, summing to 1)."), nameof(startProbabilities));
        _cumulative = new double[probs.Length];
        double acc = 0;
        for (int i = 0; i < probs.Length; i++) _cumulative[i] = acc += probs[i];
        Inner = new Muon(layers.SelectMany(l => l), lr, momentum, weight_decay, nesterov, ns_steps, adam_lr, adam_beta1, adam_beta2,
            adam_eps, adam_weight_decay);
        _layers = layers.Select(l => l.Select(x => x.parameter).ToList()).ToList();
        _seed = seed;
        _startAt = startAt;
        Draw();
    }

    /// <summary>The Muon that performs the updates (its state is Drop-Muon's state; checkpoint it).</summary>
    public Muon Inner { get; }

    /// <summary>Number of layers b.</summary>
    public int LayerCount => _layers.Count;

    /// <summary>The start index s of the current active set {s, …, b−1}.</summary>
    public int Start { get; private set; }

    /// <summary>Steps taken.</summary>
    public long Steps => _steps;

    /// <summary>
    /// Groups named parameters into layers by module: consecutive parameters whose names share everything but the last
    /// segment ("layers.0.weight" and "layers.0.bias" form layer "layers.0"), in the given (forward) order.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<(string name, Parameter parameter)>> ByModule(IEnumerable<(string name, Parameter parameter)> named)
    {
        ArgumentNullException.ThrowIfNull(named);
        var layers = new List<List<(string, Parameter)>>();
        string? current = null;
        foreach (var (n, p) in named)
        {
            int dot = n.LastIndexOf('.');
            string module = dot < 0 ? n : n[..dot];
            if (module != current) layers.Add(new List<(string, Parameter)>());
            current = module;
            layers[^1].Add((n, p));
        }
        return layers;
    }

    /// <summary>The start index drawn for step <paramref name="step"/> (seeded by the step index, so reproducible).</summary>
    public int StartFor(long step)
    {
        if (_startAt is not null)
        {
            int s = _startAt(step);
            if (s < 0 || s >= _layers.Count) throw new ArgumentOutOfRangeException(nameof(step), s, FormattableString.Invariant($"startAt gave layer {s}; there are {_layers.Count}."));
            return s;
        }
        double u = new Random(unchecked(_seed * 1_000_003 + (int)step)).NextDouble();
        for (int i = 0; i < _cumulative.Length; i++) if (u < _cumulative[i]) return i;
        return _cumulative.Length - 1;
    }

    /// <summary>After loading <see cref="Inner"/> from a checkpoint taken after <paramref name="steps"/> steps: continue
    /// with the layers that step would have drawn.</summary>
    public void Resume(long steps)
    {
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "steps must be >= 0.");
        _steps = steps;
        Draw();
    }

    private void Draw()
    {
        Start = StartFor(_steps);
        for (int i = 0; i < _layers.Count; i++)
            foreach (var p in _layers[i]) p.requires_grad = i >= Start;
    }

    /// <inheritdoc />
    public override Tensor step(Func<Tensor>? closure = null)
    {
        for (int i = 0; i < Start; i++)
            foreach (var p in _layers[i]) p.grad = null;
        var loss = Inner.step(closure);
        _steps++;
        Draw();
        return loss;
    }

    /// <summary>Zeroes the active layers' gradients and drops the frozen layers' (so they hold no gradient memory).</summary>
    public override void zero_grad()
    {
        Inner.zero_grad();
        for (int i = 0; i < Start; i++)
            foreach (var p in _layers[i]) p.grad = null;
    }

    /// <inheritdoc />
    public override IEnumerable<Parameter> parameters() => Inner.parameters();

    /// <inheritdoc />
    public override IEnumerable<optim.ILearningRateController> ParamGroups => Inner.ParamGroups;

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var l in _layers) foreach (var p in l) p.requires_grad = true;
            Inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
