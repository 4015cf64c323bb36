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
/// The update of an active layer is exactly <see cref="Muon"/>'s (EMA momentum, shape scale, auxiliary Adam for
/// embeddings, heads and vectors, routed as Muon routes them), so with every layer active and the same
/// <c>nesterov</c> setting Drop-Muon is Muon bit for bit. The paper's update orthogonalizes the momentum itself
/// (U = M, plain momentum), so <c>nesterov</c> defaults to false here, while <see cref="Muon"/> keeps the official
/// Muon code's Nesterov default (U = G + β (M − G)); pass <c>nesterov: true</c> for the Muon-code variant. Because S^k is a suffix of the network, backpropagation can stop at layer s^k: between steps the parameters of
/// inactive layers have <c>requires_grad = false</c>, so the next backward computes no weight gradients for them and
/// no input gradients below the earliest active layer (what Drop-Muon saves; the forward pass is unchanged). The
/// next S is drawn at the end of each <see cref="step"/> (and at construction), so an ordinary
/// zero_grad/forward/backward/step loop needs no change. It is a <see cref="Muon"/> (its state is Muon's), so
/// <c>Checkpoint</c> saves it; the draw is seeded by the step index, so after loading call <see cref="Resume"/> and
/// the run continues with the layers the uninterrupted run would have drawn.
/// </para>
/// <para>
/// Deviations and choices: the paper analyses general distributions over subsets; the default here is its
/// Randomized Progressive Training with a uniform start index (the sampling its experiments call "uniform index
/// sampling"); other start distributions can be given. No official Drop-Muon code could be found; the momentum is the
/// paper's plain EMA (no Nesterov) and the rest of the layer update is the official Muon code's (Newton–Schulz
/// quintic, √max(1, d_out/d_in) shape scale, auxiliary Adam), which the paper builds on.
/// </para>
/// </summary>
public sealed class DropMuon : Muon
{
    private readonly List<List<Parameter>> _layers;
    private readonly double[] _cumulative;
    private readonly int _seed;
    private readonly Func<long, int>? _startAt;

    /// <summary>
    /// Drop-Muon over <paramref name="layers"/> (each a list of named parameters, in forward order; see
    /// <see cref="ByModule"/>). Muon's arguments as <see cref="Muon"/>; <paramref name="startProbabilities"/> (default
    /// uniform) gives P(s = i); <paramref name="startAt"/> replaces the random draw (step index → start), for replay.
    /// </summary>
    public DropMuon(IReadOnlyList<IReadOnlyList<(string name, Parameter parameter)>> layers, double lr = 0.02, double momentum = 0.95,
        double weight_decay = 0, bool nesterov = false, long ns_steps = 5, double adam_lr = 3e-4, double adam_beta1 = 0.9,
        double adam_beta2 = 0.95, double adam_eps = 1e-10, double adam_weight_decay = 0, IReadOnlyList<double>? startProbabilities = null,
        int seed = 0, Func<long, int>? startAt = null)
        : base(Checked(layers, startProbabilities).SelectMany(l => l), lr, momentum, weight_decay, nesterov, ns_steps, adam_lr, adam_beta1,
            adam_beta2, adam_eps, adam_weight_decay)
    {
        var probs = startProbabilities?.ToArray() ?? Enumerable.Repeat(1.0 / layers.Count, layers.Count).ToArray();
        _cumulative = new double[probs.Length];
        double acc = 0;
        for (int i = 0; i < probs.Length; i++) _cumulative[i] = acc += probs[i];
        _layers = layers.Select(l => l.Select(x => x.parameter).ToList()).ToList();
        _seed = seed;
        _startAt = startAt;
        Draw();
    }

    private static IReadOnlyList<IReadOnlyList<(string name, Parameter parameter)>> Checked(
        IReadOnlyList<IReadOnlyList<(string name, Parameter parameter)>> layers, IReadOnlyList<double>? startProbabilities)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0 || layers.Any(l => l is null || l.Count == 0))
            throw new ArgumentException("Drop-Muon needs at least one layer, each with at least one parameter.", nameof(layers));
        if (startProbabilities is not null)
        {
            if (startProbabilities.Count != layers.Count)
                throw new ArgumentException(FormattableString.Invariant($"Invalid startProbabilities: {startProbabilities.Count} values for {layers.Count} layers."), nameof(startProbabilities));
            if (startProbabilities.Any(p => !(p >= 0) || double.IsInfinity(p)) || Math.Abs(startProbabilities.Sum() - 1) > 1e-9)
                throw new ArgumentException(FormattableString.Invariant($"Invalid startProbabilities: [{string.Join(", ", startProbabilities)}] (non-negative, summing to 1)."), nameof(startProbabilities));
        }
        return layers;
    }

    /// <summary>Number of layers b.</summary>
    public int LayerCount => _layers.Count;

    /// <summary>The start index s of the current active set {s, …, b−1}.</summary>
    public int Start { get; private set; }

    /// <summary>
    /// Groups named parameters into layers by module: consecutive parameters whose names share everything but the last
    /// segment ("fc0.weight" and "fc0.bias" form layer "fc0"), in the given (forward) order.
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

    /// <summary>After loading a checkpoint: draws the active layers for the restored step count, as the uninterrupted
    /// run would have.</summary>
    public void Resume() => Draw();

    private void Draw()
    {
        Start = StartFor(StepCount);
        for (int i = 0; i < _layers.Count; i++)
            foreach (var p in _layers[i]) p.requires_grad = i >= Start;
    }

    /// <inheritdoc />
    public override Tensor step(Func<Tensor>? closure = null)
    {
        DropFrozenGradients();
        var loss = base.step(closure);
        Draw();
        return loss;
    }

    /// <summary>Zeroes the active layers' gradients and drops the frozen layers' (so they hold no gradient memory).</summary>
    public override void zero_grad()
    {
        base.zero_grad();
        DropFrozenGradients();
    }

    private void DropFrozenGradients()
    {
        for (int i = 0; i < Start; i++)
            foreach (var p in _layers[i]) p.grad = null;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            foreach (var l in _layers) foreach (var p in l) p.requires_grad = true;
        base.Dispose(disposing);
    }
}
