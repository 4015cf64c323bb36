using SharpOptim.Optimizers;
using SharpOptim.Policy;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Models;

/// <summary>
/// A small GPT-style decoder (Radford et al., 2019; layout of Karpathy's nanoGPT): token and learned position
/// embeddings, pre-LayerNorm blocks of causal multi-head self-attention and a 4x GELU MLP, a final LayerNorm and an
/// untied output layer. Parameter names follow the Llama/GPT conventions that Adam-mini's partitioning and Muon's
/// routing match on: <c>wte</c>, <c>wpe</c>, <c>blocks.{i}.attn.{q,k,v,o}_proj</c> (no bias),
/// <c>blocks.{i}.mlp.{fc,proj}</c>, <c>blocks.{i}.ln1/ln2</c>, <c>ln_f</c>, <c>lm_head</c> (no bias).
/// Input: token ids [batch, time]; output: logits [batch, time, vocabulary].
/// <see cref="Forward(Tensor, Tensor, IAttentionKernel)"/> takes explicit position ids and an attention kernel (key/value
/// cache, shared-prefix layouts); <c>forward(tokens)</c> is that call with positions 0..T−1 and plain causal attention.
/// </summary>
public sealed class CharTransformer : nn.Module<Tensor, Tensor>, ICausalLanguageModelWithHead
{
    private readonly Embedding wte, wpe;
    private readonly ModuleList<Block> blocks = new();
    private readonly LayerNorm ln_f;
    private readonly Linear lm_head;

    /// <summary>Builds the model; <paramref name="dim"/> must divide evenly into <paramref name="heads"/>.</summary>
    public CharTransformer(int vocabulary, int blockSize, int dim, int heads, int layers) : base("CharTransformer")
    {
        if (vocabulary <= 0 || blockSize <= 0 || dim <= 0 || heads <= 0 || layers <= 0 || dim % heads != 0)
            throw new ArgumentException(FormattableString.Invariant($"CharTransformer: vocabulary {vocabulary}, block size {blockSize}, dim {dim}, heads {heads}, layers {layers}: all must be positive and dim divisible by heads."));
        Vocabulary = vocabulary;
        BlockSize = blockSize;
        Dim = dim;
        Heads = heads;
        Layers = layers;
        wte = nn.Embedding(vocabulary, dim);
        wpe = nn.Embedding(blockSize, dim);
        for (int i = 0; i < layers; i++) blocks.Add(new Block(dim, heads, blockSize));
        ln_f = nn.LayerNorm(dim);
        lm_head = nn.Linear(dim, vocabulary, hasBias: false);
        RegisterComponents();
        using (no_grad())
        {
            // GPT-2's initialisation: N(0, 0.02) for embeddings and weights, residual projections scaled by 1/sqrt(2L).
            foreach (var (name, p) in named_parameters())
            {
                if (name.EndsWith(".bias", StringComparison.Ordinal) || name.Contains("ln", StringComparison.Ordinal)) continue;
                double std = name.EndsWith("o_proj.weight", StringComparison.Ordinal) || name.EndsWith("mlp.proj.weight", StringComparison.Ordinal)
                    ? 0.02 / Math.Sqrt(2.0 * layers) : 0.02;
                nn.init.normal_(p, 0, std);
            }
        }
    }

    /// <summary>Vocabulary size.</summary>
    public int Vocabulary { get; }
    /// <summary>Longest sequence (context) the model takes.</summary>
    public int BlockSize { get; }
    /// <summary>Model (embedding) width.</summary>
    public int Dim { get; }
    /// <summary>Attention heads per layer (key/value heads are the same number).</summary>
    public int Heads { get; }
    /// <summary>Transformer blocks.</summary>
    public int Layers { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor tokens)
    {
        long t = tokens.shape[1];
        if (t > BlockSize) throw new ArgumentException(FormattableString.Invariant($"sequence length {t} exceeds the block size {BlockSize}."), nameof(tokens));
        using var s = new ScalarHold();
        using var pos = arange(s[0], s[t], s[1], dtype: ScalarType.Int64, device: tokens.device);
        return Run(tokens, pos, CausalAttention.Instance);
    }

    /// <inheritdoc />
    public Tensor Forward(Tensor tokens, Tensor positions, IAttentionKernel attention)
    {
        Check(tokens, positions, attention);
        return Run(tokens, positions, attention);
    }

    /// <inheritdoc />
    public Tensor HeadWeight => lm_head.weight!;

    /// <inheritdoc />
    public Tensor Hidden(Tensor tokens, Tensor positions, IAttentionKernel attention)
    {
        Check(tokens, positions, attention);
        return RunHidden(tokens, positions, attention);
    }

    private void Check(Tensor tokens, Tensor positions, IAttentionKernel attention)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(positions);
        ArgumentNullException.ThrowIfNull(attention);
        if (tokens.dim() != 2)
            throw new ArgumentException(FormattableString.Invariant($"tokens must be [batch, time]; got {tokens.dim()} dimensions."), nameof(tokens));
        if (positions.dtype != ScalarType.Int64)
            throw new ArgumentException($"positions must be int64; got {positions.dtype}.", nameof(positions));
        bool shapeOk = positions.dim() == 1 ? positions.shape[0] == tokens.shape[1]
            : positions.dim() == 2 && positions.shape[0] == tokens.shape[0] && positions.shape[1] == tokens.shape[1];
        if (!shapeOk)
            throw new ArgumentException($"positions must be [time] or [batch, time] matching tokens [{string.Join(", ", tokens.shape)}]; got [{string.Join(", ", positions.shape)}].", nameof(positions));
        if (positions.numel() > 0)
        {
            using var min = positions.min();
            using var max = positions.max();
            long lo = min.item<long>(), hi = max.item<long>();
            if (lo < 0 || hi >= BlockSize)
                throw new ArgumentException(FormattableString.Invariant($"position ids must lie in [0, {BlockSize}); got {lo}..{hi}."), nameof(positions));
        }
    }

    private Tensor Run(Tensor tokens, Tensor positions, IAttentionKernel attention)
    {
        using var scope = NewDisposeScope();
        return lm_head.call(RunHidden(tokens, positions, attention)).MoveToOuterDisposeScope();
    }

    // The same operations in the same order as before Hidden existed, so forward(tokens) and Forward are bit-identical.
    private Tensor RunHidden(Tensor tokens, Tensor positions, IAttentionKernel attention)
    {
        using var scope = NewDisposeScope();
        var x = wte.forward(tokens).add(wpe.forward(positions), HeldScalars.One);
        for (int i = 0; i < blocks.Count; i++) x = blocks[i].Forward(x, attention, i);
        return ln_f.call(x).MoveToOuterDisposeScope();
    }

    private sealed class Block : nn.Module<Tensor, Tensor>
    {
        // Declaration order is registration order, hence the order of named_parameters().
        private readonly LayerNorm ln1;
        private readonly CausalSelfAttention attn;
        private readonly LayerNorm ln2;
        private readonly FeedForward mlp;

        public Block(int dim, int heads, int blockSize) : base("Block")
        {
            ln1 = nn.LayerNorm(dim);
            attn = new CausalSelfAttention(dim, heads, blockSize);
            ln2 = nn.LayerNorm(dim);
            mlp = new FeedForward(dim);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => Forward(x, CausalAttention.Instance, 0);

        public Tensor Forward(Tensor x, IAttentionKernel attention, int layer)
        {
            x = x.add(attn.Forward(ln1.call(x), attention, layer), HeldScalars.One);
            return x.add(mlp.forward(ln2.call(x)), HeldScalars.One);
        }
    }

    private sealed class CausalSelfAttention : nn.Module<Tensor, Tensor>
    {
        private readonly Linear q_proj, k_proj, v_proj, o_proj;
        private readonly int _heads;
        // Unused since attention moved into IAttentionKernel; kept as a registered buffer so that state dictionaries
        // saved before (model checkpoints, .dat exports) keep the same keys and still load.
        private readonly Tensor _mask;

        public CausalSelfAttention(int dim, int heads, int blockSize) : base("CausalSelfAttention")
        {
            q_proj = nn.Linear(dim, dim, hasBias: false);
            k_proj = nn.Linear(dim, dim, hasBias: false);
            v_proj = nn.Linear(dim, dim, hasBias: false);
            o_proj = nn.Linear(dim, dim, hasBias: false);
            _heads = heads;
            _mask = ones(blockSize, blockSize, dtype: ScalarType.Bool).tril().logical_not();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => Forward(x, CausalAttention.Instance, 0);

        public Tensor Forward(Tensor x, IAttentionKernel attention, int layer)
        {
            long b = x.shape[0], t = x.shape[1], c = x.shape[2], d = c / _heads;
            var q = q_proj.call(x).view(b, t, _heads, d).transpose(1, 2);
            var k = k_proj.call(x).view(b, t, _heads, d).transpose(1, 2);
            var v = v_proj.call(x).view(b, t, _heads, d).transpose(1, 2);
            var y = attention.Attend(layer, q, k, v).transpose(1, 2).contiguous().view(b, t, c);
            return o_proj.call(y);
        }
    }

    private sealed class FeedForward : nn.Module<Tensor, Tensor>
    {
        private readonly Linear fc, proj;

        public FeedForward(int dim) : base("FeedForward")
        {
            fc = nn.Linear(dim, 4 * dim);
            proj = nn.Linear(4 * dim, dim);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => proj.call(nn.functional.gelu(fc.call(x)));
    }
}
