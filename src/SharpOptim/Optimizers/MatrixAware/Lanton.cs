using System.ComponentModel;
using System.Diagnostics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// LANTON (LAyer-wise Noise-adaptive learning raTe scaling with Operator Norms): Hao, Gong, Xu, Wang and Liu,
/// "Noise-Adaptive Layerwise Learning Rates: Accelerating Geometry-Aware Optimization for Deep Neural Network
/// Training", 2025 (arXiv:2510.14009). A geometry-aware (LMO) optimizer in the Scion/Gluon form, on top of Muon's
/// orthogonalized momentum, where every layer of a norm group gets its own time-varying learning rate from an online
/// estimate of its gradient noise measured in the dual norm of the group's LMO: noisier layers get smaller rates.
/// <para>For each layer ℓ of a group 𝒢 (one norm), step t, learning rate η_t of the group:</para>
/// <code>
/// s_t^ℓ = ‖G_t^ℓ − G_{t−1}^ℓ‖_*²        (or ‖G_t^ℓ − B_{t−1}^ℓ‖_*², or ‖G_t^ℓ − G'_t^ℓ‖_*² from a second
///                                        independent mini-batch; see LantonNoiseEstimate); none at t = 1 unless two batches
/// H_t^ℓ = β₂ H_{t−1}^ℓ + (1 − β₂) s_t^ℓ,   Ĥ_t^ℓ = H_t^ℓ   (or H_t^ℓ / (1 − β₂^n), n samples so far, with
///                                        noise_bias_correction)
/// r_t^ℓ = √(min_{j∈𝒢} Ĥ_t^j / Ĥ_t^ℓ)  ∈ (0, 1]    (min over layers with Ĥ &gt; 0; r = 1 before a layer's first
///                                           sample and for a layer whose samples were all 0)
/// B_t^ℓ = β B_{t−1}^ℓ + (1 − β) G_t^ℓ,   U = B   (default: Algorithm 1 applies the LMO to the momentum)
///                                        or U = G + β (B − G) with nesterov (Muon's form)
/// X^ℓ ← X^ℓ (1 − r_t^ℓ η_t λ) + r_t^ℓ η_t · LMO(U)
/// </code>
/// <para>With noise_every = k &gt; 1 the sample (and r) is taken on updates 2, 2 + k, 2 + 2k, … only (1, 1 + k, … with
/// two independent batches), and r holds in
/// between; the previous gradient is then kept from the update just before each sample.</para>
/// <para>
/// Groups and norms (the paper's choice for transformers): hidden matrices use the RMS→RMS operator norm, whose LMO
/// is −√(d_out/d_in)·NewtonSchulz5(U) (Muon's orthogonalization; conv kernels flattened to [out, in·kh·kw]) and whose
/// dual norm is √(d_out/d_in)·‖·‖_nuclear (computed exactly, from the singular values); embeddings and output heads
/// use the ℓ1→ℓ∞ operator norm, whose LMO is −sign(U) (Signum) and whose dual norm is the entrywise ℓ1 norm; vectors
/// (biases, norm gains) go to an AdamW without adaptive rate, as in Muon's auxiliary optimizer. Routing from names
/// as <see cref="Muon"/> routes (matrices whose names contain none of "embed", "lm_head", "head", "wte", "wpe" are
/// hidden), with an override.
/// </para>
/// <para>
/// <b>What is ours, not the paper's.</b> The paper's text beyond its abstract and no official code could be read
/// when this was written; what is known of it (the algorithm's name, the Scion-style LMO step, Signum for
/// embeddings and head, RMS→RMS for hidden layers, an online dual-norm variance estimate with a β₂, rates that are
/// smaller for noisier layers within each group, ≈4% overhead) comes from the public reviews of its ICLR 2026
/// submission (OpenReview TqUPOaqLR0) and published summaries of the paper; those summaries state that Algorithm 1
/// accumulates the momentum B_t = β B_{t−1} + (1 − β) G_t and applies the LMO to it, so the default is the plain
/// momentum (<c>nesterov</c> false; true gives Muon's Nesterov form as an option). Algorithm 1's rate formula itself
/// could still not be read (the stored copies of the paper reach only its opening; no official code was found), so
/// the noise sample (three estimators offered), the average (plain EMA by default; its bias correction is the
/// <c>noise_bias_correction</c> option, off by default because the paper is not known to use it — it only matters
/// for layers whose sample counts differ, as the correction cancels in the ratio otherwise) and the rate rule
/// r = σ̂_min / σ̂_ℓ (the least noisy layer of a group runs at the group's rate, the others in proportion to their
/// noise) remain this library's design within that description, not a transcription of the paper's Algorithm 1;
/// the defaults (β = 0.95; β₂ = 0.99; η = 0.02 hidden, 1e-3 sign, 3e-4 AdamW) are ours too.
/// State: the momentum and, for <see cref="LantonNoiseEstimate.GradientDifference"/>, the previous gradient (8 bytes
/// per parameter in float32), plus two scalars per layer (noise average and current rate; float32, float64 for
/// float64 layers; half-precision layers are measured in float32); AdamW layers 8 bytes per parameter.
/// </para>
/// </summary>
public sealed class Lanton : OptimizerBase, TorchSharp.torch.optim.IMomentum
{
    /// <summary>The defaults' momentum, for TorchSharp's schedulers that cycle momentum (OneCycleLR, CyclicLR); each group's own is in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    double TorchSharp.torch.optim.IMomentum.Momentum { get => DefaultMomentum; set => DefaultMomentum = value; }

    /// <summary>Not available: LANTON routes parameters by module name: embeddings and the output head take the sign (l1 to l-infinity) step, other matrices the spectral one. Pass model.named_parameters(), or explicit groups with Kind set.</summary>
    [Obsolete("LANTON routes parameters by module name: embeddings and the output head take the sign (l1 to l-infinity) step, other matrices the spectral one. Pass model.named_parameters(), or explicit groups with Kind set.", error: true)]
    public Lanton(IEnumerable<Parameter> parameters) : this(NamesRequired(parameters, "Lanton")) { }

    /// <summary>
    /// LANTON over named parameters, routed by shape and name (or by <paramref name="kindOf"/>): hidden matrices
    /// (<see cref="LantonLayerKind.Spectral"/>, rate <paramref name="lr"/>), embeddings and heads
    /// (<see cref="LantonLayerKind.Sign"/>, rate <paramref name="sign_lr"/>), vectors (AdamW, <paramref name="adam_lr"/>).
    /// <paramref name="adaptive"/> = false runs every layer at its group's rate (the fixed-rate geometry-aware base the
    /// paper compares against), for ablations.
    /// </summary>
    public Lanton(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 0.02, double sign_lr = 1e-3,
        double adam_lr = 3e-4, double momentum = 0.95, bool nesterov = false, long ns_steps = 5, double noise_beta = 0.99,
        double weight_decay = 0, double adam_beta1 = 0.9, double adam_beta2 = 0.95, double adam_eps = 1e-10,
        double adam_weight_decay = 0, LantonNoiseEstimate noise = LantonNoiseEstimate.GradientDifference,
        Func<string, Parameter, LantonLayerKind>? kindOf = null, bool adaptive = true, long noise_every = 1,
        bool noise_bias_correction = false)
        : this(Route(parameters, kindOf, lr, sign_lr, adam_lr, weight_decay, adam_weight_decay),
            DefaultOptions(noise, lr, momentum, nesterov, ns_steps, noise_beta, weight_decay, adam_beta1, adam_beta2, adam_eps, adaptive, noise_every), noise)
    {
        NoiseBiasCorrection = noise_bias_correction;
    }

    /// <summary>LANTON over explicit groups (options of type <see cref="Options"/>; set <see cref="Options.Kind"/> per
    /// group, default <see cref="LantonLayerKind.Spectral"/>). Rates adapt within each group.</summary>
    public Lanton(IEnumerable<ParamGroup> groups, double lr = 0.02, double momentum = 0.95, bool nesterov = false, long ns_steps = 5,
        double noise_beta = 0.99, double weight_decay = 0, double adam_beta1 = 0.9, double adam_beta2 = 0.95, double adam_eps = 1e-10,
        LantonNoiseEstimate noise = LantonNoiseEstimate.GradientDifference, long noise_every = 1, bool noise_bias_correction = false)
        : base(groups, DefaultOptions(noise, lr, momentum, nesterov, ns_steps, noise_beta, weight_decay, adam_beta1, adam_beta2, adam_eps, true, noise_every), null)
    {
        Noise = noise;
        NoiseBiasCorrection = noise_bias_correction;
    }

    private Lanton((ParamGroup[] Groups, Dictionary<Parameter, string> Names) routed, Options defaults, LantonNoiseEstimate noise)
        : base(routed.Groups, defaults, routed.Names)
    {
        Noise = noise;
    }

    /// <summary>The defaults (after checking <paramref name="noise"/>, so that a bad value fails before any group is touched).</summary>
    private static Options DefaultOptions(LantonNoiseEstimate noise, double lr, double momentum, bool nesterov, long nsSteps, double noiseBeta, double wd,
        double b1, double b2, double eps, bool adaptive, long noiseEvery) => CheckedNoise(noise) == noise ? new()
    {
        LearningRate = lr, Kind = LantonLayerKind.Spectral, Momentum = momentum, Nesterov = nesterov, NsSteps = nsSteps,
        NoiseBeta = noiseBeta, NoiseEvery = noiseEvery, Adaptive = adaptive, Beta1 = b1, Beta2 = b2, Eps = eps, WeightDecay = wd,
    } : throw new UnreachableException();

    private static LantonNoiseEstimate CheckedNoise(LantonNoiseEstimate noise) => Enum.IsDefined(noise) ? noise
        : throw new ArgumentException(FormattableString.Invariant($"Invalid noise estimate: {(int)noise}."), nameof(noise));

    /// <summary>The noise sample each layer measures per step.</summary>
    public LantonNoiseEstimate Noise { get; }

    /// <summary>Whether the noise average is bias-corrected, Ĥ = H / (1 − β₂^n) (default false: Ĥ = H). An
    /// optimizer-wide setting, not a saved option, so checkpoints of earlier versions load unchanged.</summary>
    public bool NoiseBiasCorrection { get; }

    /// <summary>The update index (1-based) of a layer's first noise sample: 1 with two independent batches, else 2
    /// (the gradient-difference and momentum-residual samples need a previous step).</summary>
    private long FirstSample => Noise == LantonNoiseEstimate.IndependentBatches ? 1 : 2;

    private readonly Dictionary<Parameter, Tensor> _noiseGradients = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// For <see cref="LantonNoiseEstimate.IndependentBatches"/>: copies every Spectral and Sign parameter's current
    /// gradient (that of a second, independent mini-batch) for the next <c>step()</c> to measure its noise sample
    /// against; the copies are dropped after that step. Call it after the second batch's backward and before the
    /// first batch's zero_grad/backward/step.
    /// </summary>
    public void CaptureNoiseGradients()
    {
        if (Noise != LantonNoiseEstimate.IndependentBatches)
            throw new InvalidOperationException(FormattableString.Invariant($"CaptureNoiseGradients is for the IndependentBatches noise estimate; this optimizer uses {Noise}."));
        using var _ = no_grad();
        foreach (var group in Groups)
        {
            if (((Options)group.Options).Kind == LantonLayerKind.AdamW) continue;
            foreach (var p in group.Parameters)
            {
                // Held and disposed (callers need not open a dispose scope): README, Compatibility.
                using var g = p.grad;
                if (g is null) continue;
                if (_noiseGradients.Remove(p, out var old)) old.Dispose();
                using var detached = g.detach();
                _noiseGradients[p] = detached.clone().DetachFromDisposeScope();
            }
        }
    }

    /// <summary>The kind the default routing gives a parameter: hidden matrices (as <see cref="Muon.IsHiddenMatrix"/>)
    /// Spectral, other matrices (embeddings, heads) Sign, vectors AdamW.</summary>
    public static LantonLayerKind DefaultKind(string name, Parameter p) =>
        Muon.IsHiddenMatrix(name, p) ? LantonLayerKind.Spectral : p.ndim >= 2 ? LantonLayerKind.Sign : LantonLayerKind.AdamW;

    private static (ParamGroup[], Dictionary<Parameter, string>) Route(IEnumerable<(string name, Parameter parameter)> named,
        Func<string, Parameter, LantonLayerKind>? kindOf, double lr, double signLr, double adamLr, double wd, double adamWd)
    {
        ArgumentNullException.ThrowIfNull(named);
        foreach (var (n, v) in new[] { ("sign_lr", signLr), ("adam_lr", adamLr), ("adam_weight_decay", adamWd) })
            if (!double.IsFinite(v) || v < 0)
                throw new ArgumentException(FormattableString.Invariant($"Invalid {n}: {v:R} (must be a finite number >= 0)."), n);
        var names = new Dictionary<Parameter, string>(ReferenceEqualityComparer.Instance);
        var byKind = new Dictionary<LantonLayerKind, List<Parameter>>();
        foreach (var (n, p) in named)
        {
            names.TryAdd(p, n);
            var kind = (kindOf ?? DefaultKind)(n, p);
            if (!Enum.IsDefined(kind))
                throw new ArgumentException(FormattableString.Invariant($"Parameter '{n}' was routed to an unknown layer kind {(int)kind}."));
            if (kind == LantonLayerKind.Spectral && p.ndim < 2)
                throw new ArgumentException(FormattableString.Invariant($"Parameter '{n}' (shape [{string.Join(", ", p.shape)}]) was routed to the spectral group but is not a matrix."));
            if (!byKind.TryGetValue(kind, out var list)) byKind[kind] = list = new List<Parameter>();
            list.Add(p);
        }
        if (kindOf is null) Muon.WarnIfUnrouted("LANTON", names, "given LANTON's spectral step as hidden matrices", "pass kindOf: (name, p) => ... or parameter groups with Kind set");
        var groups = new List<ParamGroup>();
        foreach (var kind in new[] { LantonLayerKind.Spectral, LantonLayerKind.Sign, LantonLayerKind.AdamW })
        {
            if (!byKind.TryGetValue(kind, out var ps)) continue;
            var (rate, decay) = kind switch
            {
                LantonLayerKind.Spectral => (lr, wd),
                LantonLayerKind.Sign => (signLr, wd),
                _ => (adamLr, adamWd),
            };
            groups.Add(new ParamGroup<Options>(ps, new Options { Kind = kind, LearningRate = rate, WeightDecay = decay }));
        }
        return (groups.ToArray(), names);
    }

    /// <inheritdoc />
    /// <remarks>Only AdamW groups use β1, β2 and ε; only Spectral and Sign groups use the momentum and noise β₂.</remarks>
    protected override bool UsesOption(OptionsBase options, string property) =>
        ((Options)options).Kind == LantonLayerKind.AdamW ? property is not (nameof(Options.Momentum) or nameof(Options.NoiseBeta))
            : property is not (nameof(Options.Beta1) or nameof(Options.Beta2) or nameof(Options.Eps));

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override bool ShapeFlexibleState => true;

    /// <summary>Per layer of the Spectral and Sign groups: the rate multiplier r of its last step and its estimated
    /// noise σ̂ = √Ĥ in the dual norm (NaN before its first sample).</summary>
    public IReadOnlyList<(string Name, LantonLayerKind Kind, double Rate, double Noise)> LayerRates() =>
        Parameters().Where(x => ((Options)x.Options).Kind != LantonLayerKind.AdamW && x.State.IsInitialized)
            .Select(x =>
            {
                double beta2 = ((Options)x.Options).NoiseBeta!.Value;
                long measured = Samples(x.State.Step, ((Options)x.Options).NoiseEvery!.Value);
                double sigma = measured < 1 ? double.NaN
                    : Math.Sqrt(x.State["noise"].to_type(ScalarType.Float64).item<double>() / (NoiseBiasCorrection ? 1 - Math.Pow(beta2, measured) : 1));
                return (x.State.Name, ((Options)x.Options).Kind!.Value, x.State["rate"].to_type(ScalarType.Float64).item<double>(), sigma);
            }).ToList();

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        var kind = ((Options)options).Kind!.Value;
        if (kind == LantonLayerKind.AdamW)
        {
            state.AddZeros("exp_avg");
            state.AddZeros("exp_avg_sq");
            return;
        }
        if (kind == LantonLayerKind.Spectral && parameter.ndim < 2)
            throw new InvalidOperationException(FormattableString.Invariant($"Parameter '{state.Name}' is in a spectral group but is not a matrix."));
        state.AddZeros("momentum_buffer");
        if (Noise == LantonNoiseEstimate.GradientDifference) state.AddZeros("previous_grad");
        state.Add("noise", zeros(Array.Empty<long>(), dtype: ScalarDtype(parameter), device: parameter.device));
        state.Add("rate", ones(Array.Empty<long>(), dtype: ScalarDtype(parameter), device: parameter.device));
    }

    /// <summary>The dtype of the per-layer scalars: float64 for float64 parameters, else float32 (a squared ℓ1 norm
    /// overflows float16, and half-precision sums lose the rate's precision).</summary>
    private static ScalarType ScalarDtype(Tensor p) => p.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    /// <inheritdoc />
    protected override void CheckParameter(OptionsBase options, Parameter parameter, string name)
    {
        if (((Options)options).Kind == LantonLayerKind.Spectral && parameter.ndim < 2)
            throw new ArgumentException(FormattableString.Invariant($"Parameter '{name}' (shape [{string.Join(", ", parameter.shape)}]) is in a spectral group but is not a matrix."));
    }

    /// <inheritdoc />
    protected override void CheckLoadedOptions(OptionsBase current, OptionsBase loaded, int groupIndex)
    {
        var now = ((Options)current).Kind!.Value;
        var then = ((Options)loaded).Kind!.Value;
        if (now != then)
            throw new InvalidDataException(FormattableString.Invariant($"Group {groupIndex} of the checkpoint is a {then} group; here it is a {now} group."));
    }

    /// <summary>
    /// Before any parameter moves: each sampled layer's noise sample (from its gradient and its state of the previous
    /// step), then — only once every sample is computed, so that a failure changes nothing — the running averages, the
    /// kept previous gradients and the rate multipliers of every group that took a sample.
    /// </summary>
    protected override void BeforeUpdates()
    {
        using var held = new ScalarHold();
        var samples = new List<(ParameterState State, double Beta2, Tensor Sample)>();
        var copies = new List<(Tensor Target, Tensor Grad)>();
        var sampledGroups = new List<ParamGroup>();
        foreach (var group in Groups)
        {
            var o = (Options)group.Options;
            if (o.Kind == LantonLayerKind.AdamW) continue;
            long every = o.NoiseEvery!.Value;
            bool sampled = false;
            foreach (var p in group.Parameters)
            {
                var g = p.grad;
                // As the base step does: a parameter with no elements gets no state and no update (its noise would be NaN).
                if (g is null || p.NumberOfElements == 0) continue;
                var state = (ParameterState)_state[p.Handle];
                EnsureState(o, p, state);
                long t = state.Step + 1;   // this update's index (1-based)
                if (t >= FirstSample && (t - FirstSample) % every == 0)
                {
                    var reference = Noise switch
                    {
                        LantonNoiseEstimate.GradientDifference => state["previous_grad"],
                        LantonNoiseEstimate.MomentumResidual => state["momentum_buffer"],
                        _ => _noiseGradients.TryGetValue(p, out var second) ? second
                            : throw new InvalidOperationException(FormattableString.Invariant($"Parameter '{state.Name}' takes a noise sample on this step but has no second-batch gradient: call CaptureNoiseGradients() after the second batch's backward, before step().")),
                    };
                    var dual = DualNorm(o.Kind!.Value, g - reference).to_type(ScalarDtype(p));
                    samples.Add((state, o.NoiseBeta!.Value, dual.pow(held[2])));
                    sampled = true;
                }
                // The previous gradient is only needed on the update before a sample.
                if (Noise == LantonNoiseEstimate.GradientDifference && (t - 1) % every == 0) copies.Add((state["previous_grad"], g));
            }
            if (sampled) sampledGroups.Add(group);
        }
        foreach (var (state, beta2, sample) in samples) state["noise"].lerp_(sample, held.Weight(1 - beta2));
        foreach (var (target, grad) in copies) target.copy_(grad);
        foreach (var group in sampledGroups) UpdateRates(group);
        foreach (var second in _noiseGradients.Values) second.Dispose();
        _noiseGradients.Clear();
    }

    /// <summary>
    /// r_ℓ = √(min_j Ĥ_j / Ĥ_ℓ) over the layers of the group that have a positive average (Ĥ from each layer's own
    /// sample count, so layers that started late or skipped steps are averaged correctly); layers without a sample
    /// yet, or whose samples were all zero (no measurable noise), run at rate 1 and do not set the minimum.
    /// </summary>
    private void UpdateRates(ParamGroup group)
    {
        var o = (Options)group.Options;
        double beta2 = o.NoiseBeta!.Value;
        long every = o.NoiseEvery!.Value;
        var layers = new List<(ParameterState State, Tensor Average)>();
        foreach (var p in group.Parameters)
        {
            var state = (ParameterState)_state[p.Handle];
            if (!state.IsInitialized) continue;
            long n = Samples(p.grad is null ? state.Step : state.Step + 1, every);
            var h = state["noise"].to_type(ScalarType.Float64);
            using var s = new ScalarHold();
            layers.Add((state, n < 1 ? zeros_like(h) : NoiseBiasCorrection ? h.div(s[1 - Math.Pow(beta2, n)]) : h));
        }
        using var held = new ScalarHold();
        var one = held[1];
        var infinity = held[double.PositiveInfinity];
        if (!o.Adaptive!.Value)
        {
            foreach (var (s, _) in layers) s["rate"].fill_(one);
            return;
        }
        var device = layers[0].Average.device;
        var all = stack(layers.Select(l => l.Average.to(device)).ToArray());
        var valid = all.gt(held[0]);
        var min = where(valid, all, full_like(all, infinity)).min();
        var rates = where(valid, min.div(all).sqrt(), ones_like(all));
        for (int i = 0; i < layers.Count; i++) layers[i].State["rate"].copy_(rates[i]);
    }

    /// <summary>Noise samples taken by update <paramref name="t"/> (1-based) when sampling on updates f, f + k, f + 2k, …
    /// (f = 2, or 1 with two independent batches).</summary>
    private long Samples(long t, long every) => t < FirstSample ? 0 : (t - FirstSample) / every + 1;

    /// <summary>The dual norm of the group's LMO norm: √(d_out/d_in)·‖D‖_nuclear (Spectral) or ‖D‖₁ (Sign).</summary>
    public static Tensor DualNorm(LantonLayerKind kind, Tensor d)
    {
        using var s = new ScalarHold();
        // Half types: libtorch has no half-precision SVD, and their sums lose too much; measure in float32.
        if (d.dtype is ScalarType.Float16 or ScalarType.BFloat16) d = d.to_type(ScalarType.Float32);
        return kind switch
        {
            LantonLayerKind.Spectral => linalg.svdvals(d.reshape(d.shape[0], -1)).sum().mul(s[ShapeScale(d)]),
            LantonLayerKind.Sign => d.abs().sum(),
            _ => throw new ArgumentException(FormattableString.Invariant($"Layer kind {kind} has no LMO norm."), nameof(kind)),
        };
    }

    /// <summary>√(d_out/d_in) of a matrix (conv kernels flattened to [out, in·kh·kw]).</summary>
    private static double ShapeScale(Tensor t) => Math.Sqrt(t.shape[0] / (double)(t.NumberOfElements / t.shape[0]));

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, wd = o.WeightDecay!.Value;
        state.Step++;
        if (o.Kind == LantonLayerKind.AdamW)
        {
            Muon.AuxiliaryAdamStep(p, g, state, lr, wd, o.Beta1!.Value, o.Beta2!.Value, o.Eps!.Value);
            return;
        }
        double beta = o.Momentum!.Value;
        using var s = new ScalarHold();
        var buf = state["momentum_buffer"];
        buf.lerp_(g, s.Weight(1 - beta));
        var u = o.Nesterov!.Value ? g.lerp(buf, s.Weight(beta)) : buf;
        var direction = o.Kind == LantonLayerKind.Spectral
            ? NewtonSchulz.Orthogonalize(u.reshape(u.shape[0], -1), (int)o.NsSteps!.Value).mul(s[ShapeScale(u)]).reshape(p.shape)
            : u.sign();
        var scale = state["rate"].mul(s[lr]);
        if (wd != 0) p.mul_(scale.mul(s[-wd]).add_(s[1], s[1]));
        p.sub_(direction.mul_(scale));
    }

    /// <summary>LANTON's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    /// <remarks>β1, β2 and ε (of the AdamW groups, named adam_beta1, adam_beta2, adam_eps) and the decoupled weight decay
    /// come from <see cref="AdamStyleOptions"/>; checkpoints keep the layout from before (<see cref="SerializedOrder"/>).</remarks>
    public sealed class Options : AdamStyleOptions
    {
        /// <summary>The group's norm and update (default <see cref="LantonLayerKind.Spectral"/>).</summary>
        public LantonLayerKind? Kind
        {
            get => KindCode is { } k ? (LantonLayerKind)k : null;
            set => KindCode = value is { } k ? (long)k : null;
        }

        /// <summary><see cref="Kind"/> as a number (so that it is saved with the other hyperparameters).</summary>
        [EditorBrowsable(EditorBrowsableState.Never)]
        public long? KindCode { get; set; }
        /// <summary>Momentum β of the Spectral and Sign groups, in [0, 1).</summary>
        public double? Momentum { get; set; }
        /// <summary>Nesterov-style direction U = lerp(G, B, β) (Spectral and Sign groups).</summary>
        public bool? Nesterov { get; set; }
        /// <summary>Newton–Schulz iterations (Spectral groups), in [1, 100].</summary>
        public long? NsSteps { get; set; }
        /// <summary>β₂ of the running average of the squared dual-norm noise samples, in [0, 1).</summary>
        public double? NoiseBeta { get; set; }
        /// <summary>Take a noise sample (and update the rates) every k-th update, k &gt;= 1: updates 2, 2 + k, 2 + 2k, … (1, 1 + k, … with two independent batches)
        /// (the SVD of the nuclear norm is the main cost of a step; rates hold in between).</summary>
        public long? NoiseEvery { get; set; }
        /// <summary>Whether the group's layers get noise-adaptive rates (false: every layer runs at the group's rate).</summary>
        public bool? Adaptive { get; set; }
        /// <inheritdoc />
        protected internal override IReadOnlyList<string>? SerializedOrder { get; } =
            new[] { nameof(KindCode), nameof(Momentum), nameof(Nesterov), nameof(NsSteps), nameof(NoiseBeta), nameof(NoiseEvery), nameof(Adaptive),
                nameof(Beta1), nameof(Beta2), nameof(Eps), nameof(WeightDecay) };

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();   // lr, adam_beta1, adam_beta2, adam_eps, weight_decay
            if (KindCode is not { } k || !Enum.IsDefined((LantonLayerKind)k))
                throw new ArgumentException(FormattableString.Invariant($"Invalid kind: {(KindCode is { } c ? c.ToString(System.Globalization.CultureInfo.InvariantCulture) : "unset")} (Spectral, Sign or AdamW)."), "kind");
            RequireUnitInterval("momentum", Momentum);
            RequireSet("nesterov", Nesterov);
            if (NsSteps is not (>= 1 and <= 100)) throw new ArgumentException(FormattableString.Invariant($"Invalid ns_steps: {NsSteps} (must be in [1, 100])."), "ns_steps");
            RequireUnitInterval("noise_beta", NoiseBeta);
            if (NoiseEvery is not (>= 1 and <= 1_000_000)) throw new ArgumentException(FormattableString.Invariant($"Invalid noise_every: {NoiseEvery} (must be in [1, 1000000])."), "noise_every");
            RequireSet("adaptive", Adaptive);
        }

        /// <inheritdoc />
        internal override string OptionName(string property) => property switch
        {
            nameof(Beta1) => "adam_beta1",
            nameof(Beta2) => "adam_beta2",
            nameof(Eps) => "adam_eps",
            _ => base.OptionName(property),
        };
    }
}
