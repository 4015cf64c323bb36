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
        using var scope = NewDisposeScope();
        var logits = CompletionPositions.Gather(prompts, completions, model.BlockSize,
            (input, positions) => model.Forward(input, positions, CausalAttention.Instance));
        // Per row, so the same numbers as before the reordering; only the L predicting rows pay for it.
        return TokenDistribution.LogSoftmax(logits, temperature, topK).MoveToOuterDisposeScope();
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
