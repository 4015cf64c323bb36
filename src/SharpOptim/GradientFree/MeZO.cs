using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.optim;

namespace SharpOptim.GradientFree;

/// <summary>
/// MeZO, memory-efficient zeroth-order SGD: Malladi, Gao, Nichani, Damian, Lee, Chen and Arora, "Fine-Tuning Language
/// Models with Just Forward Passes", NeurIPS 2023, arXiv:2305.17333; official code princeton-nlp/MeZO
/// (<c>large_models/trainer.py</c>: <c>zo_perturb_parameters</c>, <c>zo_step</c>, <c>zo_update</c>; variants in
/// <c>medium_models/src/trainer.py</c>). A closure-driven <c>torch.optim.Optimizer</c>: <c>step(closure)</c> calls
/// the closure (which returns the mini-batch loss and must not call backward) twice per direction.
/// <para>Step t, for each direction d = 0..n−1 with z ~ N(0, I) regenerated from the key (t, parameter, d) — never
/// stored: θ ← θ + εz; ℓ⁺ = L(θ); θ ← θ − 2εz; ℓ⁻ = L(θ); θ ← θ + εz (in place, each as <c>add_(z, alpha)</c>);
/// <c>g_d = (ℓ⁺ − ℓ⁻)/(2ε)</c>. Update, regenerating the z's: <c>θ ← θ − lr·(Σ_d g_d z_d / n + λ θ)</c> for weights and
/// <c>θ ← θ − lr·Σ_d g_d z_d / n</c> for parameters whose name contains "bias", "layer_norm" or "layernorm" (the
/// official name rule; configurable). The step returns ℓ⁺ of the first direction (the official training loss). The
/// float32 round trip +εz −2εz +εz is not exact; parameters drift by rounding, as in the official code.</para>
/// <para>Memory: the parameters plus one temporary the size of the largest tensor; optimizer state: the step counter
/// and the seed (<see cref="StateBytes"/> = 16). No autograd graph is built (the closure runs under no_grad).</para>
/// <para>Variants: n directions (the official medium-models code accumulates them in <c>p.grad</c>; here, without an
/// inner optimizer, the n scalars are kept and the z's replayed in the update, so memory stays that of inference —
/// this library's memory-free form of the same estimate); ZO through an inner optimizer (<c>inner</c>, the official
/// "use trainer optim" variant, e.g. Adam on the ZO gradient): <c>grad = Σ_d g_d z_d / n</c> is written into each
/// parameter and the inner optimizer steps (its own weight decay applies; MeZO's name rule does not; memory of
/// gradients and the inner state).</para>
/// <para>Deviations: z comes from <see cref="CounterNoise"/> keyed per parameter instead of one torch generator
/// reseeded per step (same law; independent of parameter order and thread count); an optional <c>model</c> is put in
/// eval mode during the closures (the official code evaluates with dropout off) and restored afterwards.</para>
/// </summary>
public sealed class MeZO : OptimizerHelper
{
    private static readonly string[] OfficialNoDecay = { "bias", "layer_norm", "layernorm" };
    private readonly Parameter[] _params;
    private readonly string[] _names;
    private readonly bool[] _decay;
    private readonly nn.Module? _model;
    private readonly OptimizerBase? _inner;
    private double _epsilon, _weightDecay;

    /// <summary>Creates MeZO over named parameters (names drive the weight-decay rule).</summary>
    /// <param name="parameters">Named parameters (e.g. <c>model.named_parameters()</c>); noise keys follow this order.</param>
    /// <param name="lr">Learning rate (official OPT-13B full fine-tuning: 1e-6 to 1e-7).</param>
    /// <param name="epsilon">ε, the perturbation scale (official: 1e-3).</param>
    /// <param name="weightDecay">λ (official default 0).</param>
    /// <param name="directions">n, directions per step (official default 1).</param>
    /// <param name="seed">Seed of the counter-based noise.</param>
    /// <param name="noDecayNameParts">Name parts exempt from weight decay (official: bias, layer_norm, layernorm).</param>
    /// <param name="model">Put in eval mode during the closures (dropout off), when given.</param>
    /// <param name="inner">A SharpOptim optimizer to step on the ZO gradient instead of plain ZO-SGD.</param>
    /// <param name="noise">A noise source to use instead (tests inject fixture directions).</param>
    public MeZO(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-6, double epsilon = 1e-3, double weightDecay = 0,
        int directions = 1, long seed = 0, IEnumerable<string>? noDecayNameParts = null, nn.Module? model = null,
        OptimizerBase? inner = null, INoiseSource? noise = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var list = parameters.ToList();
        if (list.Count == 0) throw new ArgumentException("mezo: no parameters to optimise.", nameof(parameters));
        if (directions < 1) throw new ArgumentException(FormattableString.Invariant($"mezo: directions {directions} must be at least 1."), nameof(directions));
        CheckRate(lr);
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        var parts = (noDecayNameParts ?? OfficialNoDecay).ToArray();
        _params = list.Select(p => p.parameter).ToArray();
        _names = list.Select(p => p.name).ToArray();
        _decay = _names.Select(n => !parts.Any(part => n.Contains(part, StringComparison.Ordinal))).ToArray();
        Directions = directions;
        Seed = seed;
        Noise = noise ?? new CounterNoise(seed);
        _model = model;
        _inner = inner;
        var options = new OptimizerOptions { LearningRate = lr, InitialLearningRate = lr };
        _defaults = options;
        _parameter_groups = new List<ParamGroup> { new ParamGroup { Parameters = _params, Options = options } };
    }

    private static void CheckRate(double lr)
    {
        if (!(lr >= 0) || !double.IsFinite(lr)) throw new ArgumentException(FormattableString.Invariant($"mezo: lr {lr} must be >= 0 and finite."), nameof(lr));
    }

    /// <summary>ε, the perturbation scale.</summary>
    public double Epsilon
    {
        get => _epsilon;
        set
        {
            if (!(value > 0) || !double.IsFinite(value)) throw new ArgumentException(FormattableString.Invariant($"mezo: epsilon {value} must be positive and finite."), nameof(Epsilon));
            _epsilon = value;
        }
    }

    /// <summary>λ, weight decay for parameters outside the no-decay name rule.</summary>
    public double WeightDecay
    {
        get => _weightDecay;
        set
        {
            if (!(value >= 0) || !double.IsFinite(value)) throw new ArgumentException(FormattableString.Invariant($"mezo: weight decay {value} must be >= 0 and finite."), nameof(WeightDecay));
            _weightDecay = value;
        }
    }

    /// <summary>The current learning rate (group 0; LR schedulers change it).</summary>
    public double LearningRate => _parameter_groups[0].LearningRate;

    /// <summary>n, directions per step.</summary>
    public int Directions { get; }

    /// <summary>The noise seed.</summary>
    public long Seed { get; }

    /// <summary>The noise source.</summary>
    public INoiseSource Noise { get; }

    /// <summary>Steps taken; part of every noise key.</summary>
    public long StepCount { get; private set; }

    /// <summary>Bytes of optimizer state: the step counter and the seed (plus the inner optimizer's, if any).</summary>
    public long StateBytes => 16 + (_inner?.StateBytes ?? 0);

    /// <summary>The projected gradients g_d of the last step.</summary>
    public double[] LastProjectedGradients { get; private set; } = Array.Empty<double>();

    /// <summary>Whether parameter <paramref name="index"/> gets weight decay under the name rule.</summary>
    public bool Decays(int index) => _decay[index];

    /// <summary>The optimised parameters with their names, in noise-key order.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> NamedParameters => _names.Zip(_params).ToList();

    internal Tensor Direction(int index, long step, int direction)
    {
        var p = _params[index];
        return NoiseTensors.Normal(Noise, p.shape, step, index, direction, p.dtype, p.device);
    }

    /// <summary>One MeZO step; <paramref name="closure"/> returns the loss on the current mini-batch (no backward);
    /// the tensors it creates, the loss included, are disposed once its value is read.
    /// Returns ℓ⁺ of the first direction. A non-finite loss throws before the update (the parameters are back at θ,
    /// up to the rounding of the round trip).</summary>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        if (closure is null) throw new ArgumentException("mezo: step needs a closure that returns the loss (MeZO has no gradient to read).", nameof(closure));
        double lr = LearningRate;
        CheckRate(lr);
        bool wasTraining = _model?.training ?? false;
        var g = new double[Directions];
        double first = double.NaN;
        using (no_grad())
        {
            try
            {
                if (_model is not null && wasTraining) _model.eval();
                for (int d = 0; d < Directions; d++)
                {
                    Perturb(d, 1);
                    double lp = Evaluate(closure);
                    Perturb(d, -2);
                    double lm = Evaluate(closure);
                    Perturb(d, 1);
                    if (!double.IsFinite(lp) || !double.IsFinite(lm))
                        throw new ArgumentException(FormattableString.Invariant($"mezo: the closure returned a non-finite loss (ℓ⁺ = {lp}, ℓ⁻ = {lm}) at step {StepCount}; no update was applied."), nameof(closure));
                    g[d] = (lp - lm) / (2 * Epsilon);
                    if (d == 0) first = lp;
                }
            }
            finally
            {
                if (_model is not null && wasTraining) _model.train();
            }
            if (_inner is null) Update(StepCount, g, lr);
        }
        if (_inner is not null)
        {
            using (no_grad()) WriteZoGradient(StepCount, g);
            _inner.step();
            foreach (var p in _params) p.grad = null;
        }
        LastProjectedGradients = g;
        StepCount++;
        return tensor(first);
    }

    // Every tensor the closure creates (activations, the loss) is freed as soon as the value is read: MeZO's memory
    // is that of one inference pass, not of four passes waiting for the finalizer.
    private static double Evaluate(Func<Tensor> closure)
    {
        using var scope = NewDisposeScope();
        var loss = closure();
        return TensorValue.Of(loss);
    }

    private void Perturb(int direction, double scale)
    {
        using var s = new ScalarHold();
        for (int j = 0; j < _params.Length; j++)
        {
            using var z = Direction(j, StepCount, direction);
            _params[j].add_(z, s[scale * Epsilon]);
        }
    }

    /// <summary>Applies the update of step <paramref name="step"/> (its projected gradients <paramref name="g"/>,
    /// rate <paramref name="lr"/>) to parameter <paramref name="j"/>; shared with the ZO2 schedule, which applies it
    /// one block later, so both follow the same float operations.</summary>
    internal void UpdateParameter(int j, long step, double[] g, double lr)
    {
        using var s = new ScalarHold();
        var p = _params[j];
        Tensor acc;
        {
            using var z0 = Direction(j, step, 0);
            acc = z0.mul(s[g[0] / Directions]);
        }
        for (int d = 1; d < Directions; d++)
        {
            using var z = Direction(j, step, d);
            acc.add_(z, s[g[d] / Directions]);
        }
        using (acc)
        {
            if (_decay[j] && WeightDecay != 0) acc.add_(p, s[WeightDecay]);
            p.add_(acc.mul_(s[lr]), s[-1]);
        }
    }

    private void Update(long step, double[] g, double lr)
    {
        for (int j = 0; j < _params.Length; j++) UpdateParameter(j, step, g, lr);
    }

    private void WriteZoGradient(long step, double[] g)
    {
        using var s = new ScalarHold();
        for (int j = 0; j < _params.Length; j++)
        {
            using var z0 = Direction(j, step, 0);
            // Held until set (the parameter keeps the gradient): README, Compatibility.
            using var acc = z0.mul(s[g[0] / Directions]);
            for (int d = 1; d < Directions; d++)
            {
                using var z = Direction(j, step, d);
                acc.add_(z, s[g[d] / Directions]);
            }
            _params[j].grad = acc;
        }
    }

    internal int IndexOf(Parameter p)
    {
        for (int j = 0; j < _params.Length; j++) if (_params[j].Handle == p.Handle) return j;
        return -1;
    }

    internal void AdvanceStep(double[] g)
    {
        LastProjectedGradients = g;
        StepCount++;
    }

    internal bool HasInner => _inner is not null;

    /// <summary>Saves the step counter, the learning rate, the parameters and the inner optimizer's state atomically
    /// (the directions are regenerated from the seed and the step).</summary>
    public void Save(string path) =>
        GradientFreeCheckpoint.Save(path, "mezo", new[] { ("step", (double)StepCount), ("lr", LearningRate), ("seed", (double)Seed) },
            _names.Zip(_params, (n, p) => ("param:" + n, (Tensor)p)).ToList(), _inner);

    /// <summary>Loads a state written by <see cref="Save"/> (checked first; nothing changes on error). Construct the
    /// optimizer with the same seed: the seed is saved for the record, not restored.</summary>
    public void Load(string path)
    {
        var scalars = GradientFreeCheckpoint.Load(path, "mezo", new[] { "step", "lr", "seed" },
            _names.Zip(_params, (n, p) => ("param:" + n, (Tensor)p)).ToList(), _inner);
        StepCount = (long)scalars["step"];
        _parameter_groups[0].LearningRate = scalars["lr"];
    }
}
