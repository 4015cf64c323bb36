using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// Adam-mini: Zhang et al., "Adam-mini: Use Fewer Learning Rates To Gain More", ICLR 2025 (arXiv:2406.16793);
/// official code zyushun/Adam-mini, adam_mini/adam_mini.py (version 1.1.1), whose step this reproduces.
/// <para>
/// Adam's first moment per entry, but one second-moment value per block of parameters, the block being chosen by the
/// Hessian's block-diagonal structure. For gradient g of a parameter split into blocks b (rows of the view
/// [blocks, block size]), decoupled weight decay λ, t the parameter's step:
/// </para>
/// <code>
/// v_b ← β2 v_b + (1 − β2) · mean_{i∈b} g_i²            (per entry, v_i ← β2 v_i + (1 − β2) g_i², for Entry blocks)
/// θ   ← θ (1 − lr λ)
/// m   ← m + (1 − β1)(g − m)                            (torch.lerp)
/// θ_i ← θ_i − lr · (m_i / (1 − β1^t)) / (√v_b / √(1 − β2^t) + ε)
/// </code>
/// <para>Partition (<see cref="AdamMiniBlock"/>), by the official code's name rules, checked in this order on the
/// lower-cased name:</para>
/// <list type="table">
/// <item><term>"bias"</term><description>Entry: plain Adam (one v per entry).</description></item>
/// <item><term>"k_proj", "q_proj", "wq", "wk", "query", "key"</term><description>Head: query and key, one v per
/// attention head (the weight viewed as [numel / (dim²/n_heads), dim²/n_heads]; needs dim and n_heads).</description></item>
/// <item><term>"embed", "embd", "wte"; "lm_head", "output", "final_layer"; "v_proj", "wv", "value"; "feed_forward",
/// "linear", "mlp"; "o_proj", "wo", "attn.proj"</term><description>Row: embeddings and output layer by token, value,
/// attention output and MLP by output neuron — one v per row of the weight.</description></item>
/// <item><term>anything else (norm gains, unmatched layers)</term><description>Tensor: one v for the whole tensor.</description></item>
/// </list>
/// <para>
/// Weight decay is not applied to parameters whose lower-cased name contains "norm", "ln" or "bias" (official rule).
/// A <c>partition</c> function overrides the rule for the parameters it answers for (return null to keep the
/// official choice). When no matrix's name marks an embedding or output layer (and no partition is given), one
/// warning names the matrices and how to route them (<see cref="RoutingWarnings"/>).
/// Defaults as official: lr 1e-3, β = (0.9, 0.999), ε = 1e-8, λ = 0.
/// State: m (4 bytes per float32 parameter) plus one float per block (per entry for Entry blocks), so about half of
/// AdamW's on a transformer.
/// </para>
/// <para>
/// Deviations: (1) Row blocks of tensors with more than two dimensions (conv kernels) use rows of the [shape₀, rest]
/// view, and 1-D tensors routed to Row get one block per entry; the official code assumes 2-D weights there.
/// (2) A parameter routed to Head whose size is not a multiple of dim²/n_heads is refused at construction (the
/// official code fails at its first step). (3) No model-sharding all-reduce (single process). (4) Only the
/// portable (torch ops) path: the per-block mean is a reduction before the elementwise part.
/// </para>
/// </summary>
public sealed class AdamMini : OptimizerBase, TorchSharp.torch.optim.IBetas
{
    /// <summary>β1 and β2 of the defaults, for TorchSharp's schedulers that cycle momentum (OneCycleLR); each group's own are in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    (double, double) TorchSharp.torch.optim.IBetas.Betas { get => DefaultBetas; set => DefaultBetas = value; }

    /// <summary>Name fragments of embedding layers (one block per token).</summary>
    public static readonly string[] EmbeddingNames = { "embed", "embd", "wte" };
    /// <summary>Name fragments of output layers (one block per token).</summary>
    public static readonly string[] OutputNames = { "lm_head", "output", "final_layer" };
    /// <summary>Name fragments of queries and keys (one block per head).</summary>
    public static readonly string[] QueryKeyNames = { "k_proj", "q_proj", "wq", "wk", "query", "key" };
    /// <summary>Name fragments of values (one block per output neuron).</summary>
    public static readonly string[] ValueNames = { "v_proj", "wv", "value" };
    /// <summary>Name fragments of attention output projections (one block per output neuron).</summary>
    public static readonly string[] AttentionProjectionNames = { "o_proj", "wo", "attn.proj" };
    /// <summary>Name fragments of MLP layers (one block per output neuron).</summary>
    public static readonly string[] MlpNames = { "feed_forward", "linear", "mlp" };

    private readonly Dictionary<Parameter, (AdamMiniBlock Kind, long Blocks)> _blocks;

    /// <summary>
    /// Adam-mini over named parameters (<c>model.named_parameters()</c>). <paramref name="dim"/> and
    /// <paramref name="n_heads"/> are the transformer's width and head count (needed only when a parameter is a query
    /// or key by name); <paramref name="n_kv_heads"/> (0: equal to n_heads) must divide n_heads.
    /// </summary>
    public AdamMini(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, long dim = 0, long n_heads = 0, long n_kv_heads = 0,
        Func<string, Parameter, AdamMiniBlock?>? partition = null)
        : this(Route(parameters, dim, n_heads, n_kv_heads, partition, weight_decay),
            new Options { LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps, WeightDecay = weight_decay }) { }

    /// <summary>Adam-mini over unnamed parameters: they are named "param0", "param1", … so the name rules do not
    /// apply and every tensor is one block (Tensor), biases included; a model with matrices gets the warning of
    /// <see cref="RoutingWarnings"/> (no embedding or output layer by name).</summary>
    public AdamMini(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 0)
        : this((parameters ?? throw new ArgumentNullException(nameof(parameters))).Select((p, i) => (FormattableString.Invariant($"param{i}"), p)),
            lr, beta1, beta2, eps, weight_decay) { }

    private AdamMini((ParamGroup[] Groups, Dictionary<Parameter, string> Names, Dictionary<Parameter, (AdamMiniBlock, long)> Blocks) routed, Options defaults)
        : base(routed.Groups, defaults, routed.Names)
    {
        _blocks = routed.Blocks;
    }

    /// <summary>The official name rule: the block kind of a parameter with this name.</summary>
    public static AdamMiniBlock Classify(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string n = name.ToLowerInvariant();
        bool Has(string[] fragments) => fragments.Any(f => n.Contains(f, StringComparison.Ordinal));
        if (n.Contains("bias", StringComparison.Ordinal)) return AdamMiniBlock.Entry;
        if (Has(QueryKeyNames)) return AdamMiniBlock.Head;
        if (Has(EmbeddingNames) || Has(OutputNames) || Has(ValueNames) || Has(MlpNames) || Has(AttentionProjectionNames)) return AdamMiniBlock.Row;
        return AdamMiniBlock.Tensor;
    }

    /// <summary>Whether the official rule applies weight decay to a parameter with this name (not to norms, "ln", biases).</summary>
    public static bool Decays(string name)
    {
        string n = name.ToLowerInvariant();
        return !(n.Contains("norm", StringComparison.Ordinal) || n.Contains("ln", StringComparison.Ordinal) || n.Contains("bias", StringComparison.Ordinal));
    }

    /// <summary>Each parameter's block kind and number of second-moment values, by name.</summary>
    public IReadOnlyDictionary<string, (AdamMiniBlock Kind, long Blocks)> Partition =>
        _blocks.ToDictionary(kv => Names[kv.Key], kv => kv.Value);

    private static (ParamGroup[], Dictionary<Parameter, string>, Dictionary<Parameter, (AdamMiniBlock, long)>) Route(
        IEnumerable<(string name, Parameter parameter)> named, long dim, long nHeads, long nKvHeads,
        Func<string, Parameter, AdamMiniBlock?>? partition, double weightDecay)
    {
        ArgumentNullException.ThrowIfNull(named);
        if (dim < 0) throw new ArgumentException(FormattableString.Invariant($"Invalid dim: {dim} (must be >= 0; 0 when the model has no attention)."), nameof(dim));
        if (nHeads < 0) throw new ArgumentException(FormattableString.Invariant($"Invalid n_heads: {nHeads} (must be >= 0)."), "n_heads");
        if (nKvHeads < 0 || (nKvHeads > 0 && (nHeads == 0 || nHeads % nKvHeads != 0)))
            throw new ArgumentException(FormattableString.Invariant($"Invalid n_kv_heads: {nKvHeads} (must divide n_heads = {nHeads})."), "n_kv_heads");
        if (nHeads > 0 && dim > 0 && dim * dim % nHeads != 0)
            throw new ArgumentException(FormattableString.Invariant($"Invalid n_heads: {nHeads} (dim² = {dim * dim} must be a multiple of it)."), "n_heads");
        var names = new Dictionary<Parameter, string>(ReferenceEqualityComparer.Instance);
        var blocks = new Dictionary<Parameter, (AdamMiniBlock, long)>(ReferenceEqualityComparer.Instance);
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        foreach (var (n, p) in named)
        {
            ArgumentNullException.ThrowIfNull(p);
            if (!names.TryAdd(p, n)) continue;   // duplicates are reported by the base class
            var kind = partition?.Invoke(n, p) ?? Classify(n);
            long numel = p.NumberOfElements;
            long count;
            switch (kind)
            {
                case AdamMiniBlock.Entry: count = numel; break;
                case AdamMiniBlock.Tensor: count = 1; break;
                case AdamMiniBlock.Row: count = p.ndim == 0 ? 1 : p.shape[0]; break;
                case AdamMiniBlock.Head:
                    if (dim <= 0 || nHeads <= 0)
                        throw new ArgumentException(FormattableString.Invariant($"Parameter '{n}' is a query or key (one block per head), so dim and n_heads must be given (got dim {dim}, n_heads {nHeads})."), nameof(dim));
                    long headNumel = dim * dim / nHeads;
                    if (numel % headNumel != 0)
                        throw new ArgumentException(FormattableString.Invariant($"Parameter '{n}' has {numel} elements, not a multiple of the head size dim²/n_heads = {headNumel}."), nameof(dim));
                    count = numel / headNumel;
                    break;
                default: throw new ArgumentException(FormattableString.Invariant($"Parameter '{n}': unknown block kind {kind}."), nameof(partition));
            }
            blocks[p] = (kind, count);
            (Decays(n) ? decay : noDecay).Add(p);
        }
        if (partition is null)
            RoutingWarnings.WarnIfNoNameMatches("Adam-mini", names.Select(kv => (kv.Value, kv.Key)),
                n => { string l = n.ToLowerInvariant(); return EmbeddingNames.Concat(OutputNames).Any(f => l.Contains(f, StringComparison.Ordinal)); },
                string.Join(", ", EmbeddingNames.Concat(OutputNames)),
                "given the blocks of hidden layers (one second moment per tensor, or per row where an MLP or attention name matches), not one per token as the paper gives embedding and output layers",
                "name its module with one of those words, or pass partition: (name, p) => name.StartsWith(\"head.\") ? AdamMiniBlock.Row : null.");
        var groups = new List<ParamGroup>();
        if (decay.Count > 0) groups.Add(new ParamGroup<Options>(decay, new Options { WeightDecay = weightDecay }));
        if (noDecay.Count > 0) groups.Add(new ParamGroup<Options>(noDecay, new Options { WeightDecay = 0 }));
        return (groups.ToArray(), names, blocks);
    }

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override bool ShapeFlexibleState => true;

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        var (kind, blocks) = BlocksOf(parameter, state);
        state.AddZeros("exp_avg");
        if (kind == AdamMiniBlock.Entry) state.AddZeros("exp_avg_sq");
        else state.Add("exp_avg_sq", zeros(new[] { blocks, 1L }, dtype: parameter.dtype, device: parameter.device));
    }

    private (AdamMiniBlock Kind, long Blocks) BlocksOf(Parameter p, ParameterState state) =>
        _blocks.TryGetValue(p, out var b) ? b
            : throw new InvalidOperationException(FormattableString.Invariant($"Parameter '{state.Name}' was added after construction; Adam-mini partitions parameters when it is built."));

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, b1 = o.Beta1!.Value, b2 = o.Beta2!.Value, eps = o.Eps!.Value, wd = o.WeightDecay!.Value;
        var (kind, blocks) = BlocksOf(p, state);
        var m = state["exp_avg"];
        var v = state["exp_avg_sq"];
        using var s = new ScalarHold();
        if (kind == AdamMiniBlock.Entry)
        {
            v.mul_(s[b2]).addcmul_(g, g, s[1 - b2]);
            state.Step++;
            if (wd > 0) p.mul_(s[1 - lr * wd]);
            m.lerp_(g, s.Weight(1 - b1));
            double bc1 = 1 - Math.Pow(b1, state.Step), bc2 = 1 - Math.Pow(b2, state.Step);
            var h = v.sqrt().div(s[Math.Sqrt(bc2)]).add_(s[eps], s[1]);
            p.addcdiv_(m, h, s[-lr / bc1]);
            return;
        }
        // Official order: for Head/Row blocks v is updated before the decay, for whole-tensor blocks after m.
        var gb = g.reshape(blocks, -1);
        var blockMean = kind == AdamMiniBlock.Tensor ? (g * g).sum().div(s[(double)p.NumberOfElements]) : (gb * gb).mean(new long[] { 1 }, keepdim: true);
        if (kind != AdamMiniBlock.Tensor) v.mul_(s[b2]).add_(blockMean, s[1 - b2]);
        state.Step++;
        if (wd > 0) p.mul_(s[1 - lr * wd]);
        m.lerp_(g, s.Weight(1 - b1));
        if (kind == AdamMiniBlock.Tensor) v.mul_(s[b2]).add_(blockMean, s[1 - b2]);
        double c1 = 1 - Math.Pow(b1, state.Step), c2 = 1 - Math.Pow(b2, state.Step);
        var hb = v.sqrt().div(s[Math.Sqrt(c2)]).add_(s[eps], s[1]);
        var stepSize = hb.reciprocal().mul(s[1 / c1]);   // what TorchSharp's double / Tensor does, with a held scalar
        var update = (m.reshape(blocks, -1) * stepSize).view(p.shape);
        update.mul_(s[lr]);
        p.sub_(update);   // = add_(−update), without the implicit alpha of the one-argument add_
    }

    /// <summary>Adam-mini's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : AdamStyleOptions
    {

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
        }
    }
}
