using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// The training forward of a policy: per-token log-probabilities ℓ_t = log π(o_t | q, o_&lt;t) of given completions.
/// The logit that predicts completion token t (0-based) sits at position P − 1 + t of the packed prompt+completion
/// (brief §0.1), so the model runs over prompt + completion without its last token, positions 0..P+L−2. Prompts of
/// different lengths are run in one batch per length. Returns the full log-distribution [N, L, V] (for entropy and the
/// exact KL) or the gathered [N, L] log-probabilities, with gradient unless called under no_grad.
/// </summary>
public static class SequenceLogProbs
{
    /// <summary>Log-distributions [N, L, V] of the sampling distribution (temperature, top-k as
    /// <see cref="TokenDistribution"/>) at every completion position.</summary>
    public static Tensor Distributions(ICausalLanguageModel model, IReadOnlyList<long[]> prompts, Tensor completions, double temperature = 1, int topK = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(completions);
        TokenDistribution.Check(temperature, topK, model.Vocabulary);
        if (completions.dim() != 2 || completions.shape[0] != prompts.Count || completions.dtype != ScalarType.Int64)
            throw new ArgumentException($"completions must be int64 [{prompts.Count}, L]; got {completions.dtype} [{string.Join(", ", completions.shape)}].", nameof(completions));
        long l = completions.shape[1];
        foreach (var p in prompts)
            if (p is null || p.Length == 0 || p.Length + l - 1 > model.BlockSize)
                throw new ArgumentException(FormattableString.Invariant($"every prompt needs 1 ≤ P and P + L − 1 ≤ block size {model.BlockSize} (L = {l}); got P = {p?.Length ?? 0}."), nameof(prompts));
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var order = new List<long>();
        var parts = new List<Tensor>();
        foreach (var bucket in Enumerable.Range(0, prompts.Count).GroupBy(i => prompts[i].Length))
        {
            int p = bucket.Key;
            var rows = bucket.Select(i => (long)i).ToArray();
            var promptTensor = tensor(rows.SelectMany(i => prompts[(int)i]).ToArray(), dtype: ScalarType.Int64).reshape(rows.Length, p).to(completions.device);
            var comp = completions.index_select(0, tensor(rows, device: completions.device));
            var input = cat(new[] { promptTensor, comp.narrow(1, 0, l - 1) }, 1);
            var positions = arange(s[0], s[p + l - 1], s[1], dtype: ScalarType.Int64, device: completions.device);
            var logits = model.Forward(input, positions, CausalAttention.Instance).narrow(1, p - 1, l);
            parts.Add(TokenDistribution.LogSoftmax(logits, temperature, topK));
            order.AddRange(rows);
        }
        var stacked = parts.Count == 1 ? parts[0] : cat(parts.ToArray(), 0);
        var inverse = new long[order.Count];
        for (int j = 0; j < order.Count; j++) inverse[order[j]] = j;
        return stacked.index_select(0, tensor(inverse, device: stacked.device)).MoveToOuterDisposeScope();
    }

    /// <summary>ℓ [N, L]: the log-probability of each completion token (padding positions included; mask them).</summary>
    public static Tensor Compute(ICausalLanguageModel model, IReadOnlyList<long[]> prompts, Tensor completions, double temperature = 1, int topK = 0)
    {
        using var scope = NewDisposeScope();
        var dist = Distributions(model, prompts, completions, temperature, topK);
        return Gather(dist, completions).MoveToOuterDisposeScope();
    }

    /// <summary>Picks the log-probability of <paramref name="tokens"/> [N, L] from <paramref name="distributions"/> [N, L, V].
    /// With top-k a padding position (mask 0) can hold a token outside the top k, whose log-probability is −∞; such
    /// entries become 0 (with zero gradient), so that masked losses stay finite. A sampled (mask 1) token always lies
    /// inside the top k, so real positions are never changed.</summary>
    public static Tensor Gather(Tensor distributions, Tensor tokens)
    {
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var g = distributions.gather(-1, tokens.unsqueeze(-1)).squeeze(-1);
        return g.masked_fill(g.eq(s[double.NegativeInfinity]), s[0]).MoveToOuterDisposeScope();
    }
}
