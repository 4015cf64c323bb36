using System.Globalization;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// Prefix Grouper: Zikang Liu, Tongtian Yue, Yepeng Tang, Longteng Guo, Junxian Cai, Qingbin Liu, Xi Chen, Jing Liu,
/// "Prefix Grouper: Efficient GRPO Training through Shared-Prefix Forward", arXiv 2506.05433 (official code
/// johncaged/PrefixGrouper). GRPO-style training scores <c>G</c> completions of one prompt; the plain forward encodes
/// the prompt <c>G</c> times (one row <c>[q | o_j]</c> per completion). Prefix Grouper packs one row
/// <c>[q | o_1 | … | o_G]</c> per prompt (<see cref="PrefixGroupBatch"/>: completion positions restart at <c>P</c>),
/// runs every point-wise layer on <c>P + Σ L_j</c> tokens instead of <c>G(P + L)</c>, and splits attention into a
/// prompt call and a completion call over <c>[prompt keys ; own keys]</c> (<see cref="PrefixGroupAttention"/>).
/// The logit predicting a completion's first token is the last prompt position's, shared by the group (the official
/// <c>split_output(..., include_prefix_last=1)</c>). The forward values equal the plain forward's and, because the
/// prompt tokens carry no loss and the prompt keys/values are repeated by an index whose backward sums, so does every
/// parameter gradient of any loss of the returned log-probabilities (report, Lemma 2.1) — GRPO, REINFORCE, anything.
/// <para>Cost (report, Lemma 2.2): attention <c>G(P+L)²</c> → <c>P² + G·L(2P+L)</c> (times <c>d·n_h</c>),
/// point-wise layers <c>G(P+L)</c> → <c>P + G·L</c> tokens (<see cref="AttentionFlopRatio"/>, <see cref="TokenRatio"/>).</para>
/// <para>Deviations from the official code: it wraps a HuggingFace model's attention function and takes
/// padding masks; here the model is an <see cref="ICausalLanguageModel"/> and the layout is built from token lists.
/// The log-probabilities are gathered only at the rows that predict completion tokens (the last prompt row once per
/// completion), so the log-softmax runs on <c>Σ L_j</c> rows instead of the whole packed output.</para>
/// </summary>
public static class PrefixGrouper
{
    /// <summary>
    /// Completion log-probabilities of <paramref name="batch"/> under <paramref name="model"/> in one grouped forward
    /// (each prompt encoded once). Equal to <see cref="Repeated"/> in value and in every parameter gradient.
    /// </summary>
    public static PrefixGroupLogProbs Grouped(ICausalLanguageModel model, PrefixGroupBatch batch)
    {
        Check(model, batch);
        using var scope = NewDisposeScope();
        using var attention = new PrefixGroupAttention(batch);
        var logits = model.Forward(batch.Tokens, batch.Positions, attention);
        var result = Gather(logits, batch.PredictorSlots, batch);
        return new PrefixGroupLogProbs(result.LogProbs.MoveToOuterDisposeScope(), result.Mask.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// <see cref="Grouped(ICausalLanguageModel, PrefixGroupBatch)"/> for <paramref name="prompts"/> (one per group) and
    /// their <paramref name="completions"/>, packed on the device of the model's first parameter when it is a module
    /// (CPU otherwise); the packing is validated as <see cref="PrefixGroupBatch.Create"/> does and released after the
    /// forward (autograd keeps the index tensors it needs for the backward).
    /// </summary>
    public static PrefixGroupLogProbs Grouped(ICausalLanguageModel model, IReadOnlyList<long[]> prompts, IReadOnlyList<IReadOnlyList<long[]>> completions)
    {
        ArgumentNullException.ThrowIfNull(model);
        var device = model is TorchSharp.torch.nn.Module m && m.parameters().FirstOrDefault() is { } p ? p.device : null;
        using var batch = PrefixGroupBatch.Create(prompts, completions, model.BlockSize, device);
        return Grouped(model, batch);
    }

    /// <summary>
    /// The same log-probabilities from the plain repeated-prefix forward: one row <c>[prompt | completion]</c> per
    /// sample (right-padded), ordinary causal attention. The baseline Prefix Grouper reproduces.
    /// </summary>
    public static PrefixGroupLogProbs Repeated(ICausalLanguageModel model, PrefixGroupBatch batch)
    {
        Check(model, batch);
        using var scope = NewDisposeScope();
        var (tokens, positions, predictors) = batch.RepeatedLayout();
        var logits = model.Forward(tokens, positions, CausalAttention.Instance);
        var result = Gather(logits, predictors, batch);
        return new PrefixGroupLogProbs(result.LogProbs.MoveToOuterDisposeScope(), result.Mask.MoveToOuterDisposeScope());
    }

    /// <summary>Attention FLOPs of the grouped form over the repeated form for one group of <paramref name="g"/>
    /// completions of length <paramref name="l"/> after a prompt of <paramref name="p"/> tokens (report, Lemma 2.2):
    /// <c>(P² + G·L(2P+L)) / (G(P+L)²)</c>.</summary>
    public static double AttentionFlopRatio(int p, int l, int g)
    {
        CheckShape(p, l, g);
        return ((double)p * p + (double)g * l * (2.0 * p + l)) / (g * (double)(p + l) * (p + l));
    }

    /// <summary>Tokens through the point-wise layers (embeddings, projections, MLPs, head), grouped over repeated:
    /// <c>(P + G·L) / (G(P+L))</c>.</summary>
    public static double TokenRatio(int p, int l, int g)
    {
        CheckShape(p, l, g);
        return (p + (double)g * l) / (g * (double)(p + l));
    }

    private static void CheckShape(int p, int l, int g)
    {
        if (p <= 0 || l <= 0 || g <= 0)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"prompt length {p}, completion length {l} and group size {g} must all be positive."));
    }

    private static void Check(ICausalLanguageModel model, PrefixGroupBatch batch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        batch.ThrowIfDisposed();
        for (int s = 0; s < batch.Samples; s++)
        {
            int p = batch.PromptLengths[batch.GroupOfSample[s]], l = batch.CompletionLengths[s];
            if (p + l > model.BlockSize)
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"prefix grouper: sample {s} (group {batch.GroupOfSample[s]}) needs P + L = {p} + {l} = {p + l} positions; the model has {model.BlockSize}."), nameof(batch));
        }
        long maxToken = Math.Max(batch.Prompts.Max(x => x.Max()), batch.Completions.Max(x => x.Max()));
        if (maxToken >= model.Vocabulary)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"prefix grouper: token id {maxToken} is outside the model's vocabulary of {model.Vocabulary}."), nameof(batch));
    }

    private static (Tensor LogProbs, Tensor Mask) Gather(Tensor logits, Tensor predictorSlots, PrefixGroupBatch batch)
    {
        long vocabulary = logits.shape[2];
        var rows = logits.reshape(-1, vocabulary).index_select(0, predictorSlots);
        var logp = rows.log_softmax(-1).gather(1, batch.CompletionTokens.reshape(-1, 1)).view(batch.Samples, batch.MaxCompletionLength);
        var mask = batch.CompletionValid.to_type(logits.dtype);
        return (where(batch.CompletionValid, logp, zeros_like(logp)), mask);
    }
}
