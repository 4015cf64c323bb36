using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// Muon (MomentUm Orthogonalized by Newton–Schulz): Jordan, Jin, Boza, You, Cesista, Newhouse and Bernstein, "Muon:
/// An optimizer for hidden layers in neural networks", 2024 (kellerjordan.github.io/posts/muon); official code
/// KellerJordan/Muon (muon.py: <c>muon_update</c>, <c>MuonWithAuxAdam</c>).
/// <para>Hidden matrices (UseMuon groups), for gradient G (conv kernels flattened to [out, in·kh·kw]):</para>
/// <code>
/// M ← β M + (1 − β) G                                 (momentum.lerp_(grad, 1 − β))
/// U ← G + β (M − G)  (Nesterov)   or   U ← M
/// O ← NewtonSchulz5(U) · √max(1, G.size(−2) / G.size(−1))
/// θ ← θ (1 − lr λ) − lr O
/// </code>
/// <para>Everything else (embeddings, output head, biases, gains) goes to the auxiliary Adam of the official code:</para>
/// <code>
/// m ← lerp(m, g, 1 − β1),  v ← lerp(v, g², 1 − β2),  θ ← θ (1 − lr λ) − lr (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + ε)
/// </code>
/// <para>
/// Routing from named parameters: Muon for parameters with ≥ 2 dimensions whose name does not contain "embed",
/// "lm_head", "head", "wte" or "wpe"; an override decides per (name, parameter). Defaults as the official code:
/// Muon lr 0.02, momentum 0.95, weight decay 0, 5 steps; Adam lr 3e-4, betas (0.9, 0.95), ε 1e-10, weight decay 0.
/// Deviations: the official Nesterov step overwrites <c>p.grad</c> in place; here the gradient is left untouched.
/// Newton–Schulz runs in the parameter's dtype rather than bfloat16 (see <see cref="NewtonSchulz"/>). The shape
/// scale uses the last two dimensions of the unflattened gradient, exactly as the official code does (for a conv
/// kernel that is kh/kw). State: 4 bytes per Muon parameter, 8 per Adam parameter (float32).
/// </para>
/// <para>
/// When the default routing finds no matrix named as an embedding or head (an <c>nn.Sequential</c> classifier's
/// "0.weight", "2.weight"), its classifier would be treated as a hidden matrix: Muon then writes one warning naming
/// the matrices and how to route them to <see cref="RoutingWarnings.Writer"/> (standard error unless set).
/// </para>
/// </summary>
public class Muon : OptimizerBase, TorchSharp.torch.optim.IMomentum
{
    /// <summary>The defaults' momentum, for TorchSharp's schedulers that cycle momentum (OneCycleLR, CyclicLR); each group's own is in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    double TorchSharp.torch.optim.IMomentum.Momentum { get => DefaultMomentum; set => DefaultMomentum = value; }

    /// <summary>Name fragments that send a matrix to the auxiliary Adam.</summary>
    public static readonly string[] AdamNameFragments = { "embed", "lm_head", "head", "wte", "wpe" };

    /// <summary>Not available: Muon routes parameters by module name: embeddings and the output head (names with embed, lm_head, head, wte, wpe) go to its auxiliary Adam, as the official code does. Pass model.named_parameters(), or explicit groups with UseMuon set.</summary>
    [Obsolete("Muon routes parameters by module name: embeddings and the output head (names with embed, lm_head, head, wte, wpe) go to its auxiliary Adam, as the official code does. Pass model.named_parameters(), or explicit groups with UseMuon set.", error: true)]
    public Muon(IEnumerable<Parameter> parameters) : this(NamesRequired(parameters, "Muon")) { }

    /// <summary>
    /// Muon over named parameters, routed by shape and name (or by <paramref name="useMuon"/>), with the official
    /// defaults for the two kinds of group.
    /// </summary>
    public Muon(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 0.02, double momentum = 0.95,
        double weight_decay = 0, bool nesterov = true, long ns_steps = 5, double adam_lr = 3e-4, double adam_beta1 = 0.9,
        double adam_beta2 = 0.95, double adam_eps = 1e-10, double adam_weight_decay = 0,
        Func<string, Parameter, bool>? useMuon = null)
        : this(Route(parameters, useMuon, lr, weight_decay, adam_lr, adam_weight_decay),
            new Options { LearningRate = lr, UseMuon = true, Momentum = momentum, Nesterov = nesterov, NsSteps = ns_steps,
                Beta1 = adam_beta1, Beta2 = adam_beta2, Eps = adam_eps, WeightDecay = weight_decay }) { }

    /// <summary>Muon over explicit groups (options of type <see cref="Options"/>; set UseMuon per group).</summary>
    public Muon(IEnumerable<ParamGroup> groups, double lr = 0.02, double momentum = 0.95, double weight_decay = 0,
        bool nesterov = true, long ns_steps = 5, double adam_beta1 = 0.9, double adam_beta2 = 0.95, double adam_eps = 1e-10)
        : base(groups, new Options { LearningRate = lr, UseMuon = true, Momentum = momentum, Nesterov = nesterov,
            NsSteps = ns_steps, Beta1 = adam_beta1, Beta2 = adam_beta2, Eps = adam_eps, WeightDecay = weight_decay }, null) { }

    private Muon((ParamGroup[] Groups, Dictionary<Parameter, string> Names) routed, Options defaults)
        : base(routed.Groups, defaults, routed.Names) { }

    /// <summary>True when the official rule sends this parameter to Muon.</summary>
    public static bool IsHiddenMatrix(string name, Parameter p) =>
        p.ndim >= 2 && !AdamNameFragments.Any(f => name.Contains(f, StringComparison.OrdinalIgnoreCase));

    private static (ParamGroup[], Dictionary<Parameter, string>) Route(IEnumerable<(string name, Parameter parameter)> named,
        Func<string, Parameter, bool>? useMuon, double lr, double wd, double adamLr, double adamWd)
    {
        ArgumentNullException.ThrowIfNull(named);
        // The auxiliary Adam's rate and decay become the lr and weight_decay of its group: check them here, so that
        // an error names them as the caller gave them (adam_lr), not as the group's options call them (lr).
        foreach (var (n, v) in new[] { ("adam_lr", adamLr), ("adam_weight_decay", adamWd) })
            if (!double.IsFinite(v) || v < 0)
                throw new ArgumentException(FormattableString.Invariant($"Invalid {n}: {v:R} (must be a finite number >= 0)."), n);
        var names = new Dictionary<Parameter, string>(ReferenceEqualityComparer.Instance);
        var muon = new List<Parameter>();
        var adam = new List<Parameter>();
        foreach (var (n, p) in named)
        {
            names.TryAdd(p, n);
            bool m = (useMuon ?? IsHiddenMatrix)(n, p);
            if (m && p.ndim < 2) throw new ArgumentException(FormattableString.Invariant($"Parameter '{n}' (shape [{string.Join(", ", p.shape)}]) was routed to Muon but is not a matrix."));
            (m ? muon : adam).Add(p);
        }
        if (useMuon is null)
            WarnIfUnrouted("Muon", names, "orthogonalized by Muon as hidden matrices",
                "pass useMuon: (name, p) => ... to choose per parameter, or parameter groups (Muon.Options with UseMuon = false for the auxiliary Adam's group)");
        var groups = new List<ParamGroup>();
        if (muon.Count > 0) groups.Add(new ParamGroup<Options>(muon, new Options { UseMuon = true, LearningRate = lr, WeightDecay = wd }));
        if (adam.Count > 0) groups.Add(new ParamGroup<Options>(adam, new Options { UseMuon = false, LearningRate = adamLr, WeightDecay = adamWd }));
        return (groups.ToArray(), names);
    }

    /// <summary>The warning of the optimizers that route by <see cref="AdamNameFragments"/> (Muon, LANTON) when no
    /// matrix's name has one of them.</summary>
    internal static void WarnIfUnrouted(string optimizer, IReadOnlyDictionary<Parameter, string> names, string treatedAs, string orElse) =>
        RoutingWarnings.WarnIfNoNameMatches(optimizer, names.Select(kv => (kv.Value, kv.Key)),
            n => AdamNameFragments.Any(f => n.Contains(f, StringComparison.OrdinalIgnoreCase)), string.Join(", ", AdamNameFragments), treatedAs,
            FormattableString.Invariant($"name its module with one of those words (nn.Sequential((\"head\", nn.Linear(...)))), {orElse}."));

    /// <inheritdoc />
    protected override void CheckParameter(OptionsBase options, Parameter parameter, string name)
    {
        if (((Options)options).UseMuon == true && parameter.ndim < 2)
            throw new ArgumentException(FormattableString.Invariant($"Parameter '{name}' (shape [{string.Join(", ", parameter.shape)}]) is in a Muon group but is not a matrix."));
    }

    /// <inheritdoc />
    protected override void CheckLoadedOptions(OptionsBase current, OptionsBase loaded, int groupIndex)
    {
        bool now = ((Options)current).UseMuon!.Value, then = ((Options)loaded).UseMuon!.Value;
        if (now != then)
            throw new InvalidDataException(FormattableString.Invariant($"Group {groupIndex} of the checkpoint is a {(then ? "Muon" : "Adam")} group; here it is a {(now ? "Muon" : "Adam")} group."));
    }

    /// <inheritdoc />
    /// <remarks>Muon groups do not use the auxiliary Adam's β1, β2 and ε; Adam groups do not use the momentum.</remarks>
    protected override bool UsesOption(OptionsBase options, string property) =>
        ((Options)options).UseMuon!.Value ? property is not (nameof(Options.Beta1) or nameof(Options.Beta2) or nameof(Options.Eps))
            : property != nameof(Options.Momentum);

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        if (((Options)options).UseMuon!.Value)
        {
            if (parameter.ndim < 2) throw new InvalidOperationException(FormattableString.Invariant($"Parameter '{state.Name}' is in a Muon group but is not a matrix."));
            state.AddZeros("momentum_buffer");
        }
        else
        {
            state.AddZeros("exp_avg");
            state.AddZeros("exp_avg_sq");
        }
    }

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, wd = o.WeightDecay!.Value;
        state.Step++;
        if (!o.UseMuon!.Value)
        {
            AuxiliaryAdamStep(p, g, state, lr, wd, o.Beta1!.Value, o.Beta2!.Value, o.Eps!.Value);
            return;
        }
        double beta = o.Momentum!.Value;
        using var s = new ScalarHold();
        var m = state["momentum_buffer"];
        m.lerp_(g, s.Weight(1 - beta));
        var u = o.Nesterov!.Value ? g.lerp(m, s.Weight(beta)) : m;
        if (u.ndim > 2) u = u.reshape(u.shape[0], -1);
        double scale = Math.Sqrt(Math.Max(1.0, g.shape[^2] / (double)g.shape[^1]));
        var update = NewtonSchulz.Orthogonalize(u, (int)o.NsSteps!.Value).mul(s[scale]).reshape(p.shape);
        p.mul_(s[1 - lr * wd]);
        p.add_(update, s[-lr]);
    }

    /// <summary>
    /// The official code's auxiliary Adam step on state "exp_avg"/"exp_avg_sq" (step count already advanced):
    /// m ← lerp(m, g, 1 − β1), v ← lerp(v, g², 1 − β2), θ ← θ (1 − lr λ) − lr (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + ε).
    /// Shared with the other matrix optimizers that keep an AdamW for vectors and heads.
    /// </summary>
    internal static void AuxiliaryAdamStep(Parameter p, Tensor g, ParameterState state, double lr, double wd, double b1, double b2, double eps)
    {
        using var s = new ScalarHold();
        var m = state["exp_avg"];
        var v = state["exp_avg_sq"];
        m.lerp_(g, s.Weight(1 - b1));
        v.lerp_(g.pow(s[2]), s.Weight(1 - b2));
        var mc = m.div(s[1 - Math.Pow(b1, state.Step)]);
        var vc = v.div(s[1 - Math.Pow(b2, state.Step)]);
        var update = mc.div(vc.sqrt().add(s[eps], s[1]));
        p.mul_(s[1 - lr * wd]);
        p.add_(update, s[-lr]);
    }

    /// <summary>Muon's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : AdamStyleOptions
    {
        /// <summary>Orthogonalized momentum (true) or the auxiliary Adam (false) for this group.</summary>
        public bool? UseMuon { get; set; }
        /// <summary>Muon momentum β, in [0, 1).</summary>
        public double? Momentum { get; set; }
        /// <summary>Nesterov-style update U = lerp(G, M, β).</summary>
        public bool? Nesterov { get; set; }
        /// <summary>Newton–Schulz iterations, in [1, 100].</summary>
        public long? NsSteps { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireSet("use_muon", UseMuon);
            RequireUnitInterval("momentum", Momentum);
            RequireSet("nesterov", Nesterov);
            if (NsSteps is not (>= 1 and <= 100)) throw new ArgumentException(FormattableString.Invariant($"Invalid ns_steps: {NsSteps} (must be in [1, 100])."), "ns_steps");
        }

        /// <summary>The order of the checkpoints written when Muon declared every option itself: Muon's own first.
        /// Beta1, Beta2 and Eps are the auxiliary Adam's; the weight decay applies to both kinds of group.</summary>
        protected internal override IReadOnlyList<string>? SerializedOrder { get; } =
            new[] { nameof(UseMuon), nameof(Momentum), nameof(Nesterov), nameof(NsSteps), nameof(Beta1), nameof(Beta2), nameof(Eps), nameof(WeightDecay) };

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
