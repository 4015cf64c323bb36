using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// CAPO, curvature-aware policy optimization: Luckeciano C. Melo, Alessandro Abate, Yarin Gal, "Stabilizing Policy
/// Gradients for Sample-Efficient Reinforcement Learning in LLM Reasoning", arXiv 2510.00819 (2025). The rule is the
/// official code's (luckeciano/stable-pg-llm, <c>grpo_entropy_trainer.py</c>: <c>_compute_hessian_token_mask</c>,
/// <c>_compute_fisher_token_mask</c>, <c>_compute_final_loss</c>; <c>SparseAdamModel</c>) as the implementation brief
/// restates it; the paper body (its theorem and derivation) was not read, so nothing here is taken from it.
/// <para>Before the update, per completion token with sequence advantage A: h = the final hidden state that produced the
/// token's logit, W = the output-layer weight, π = softmax(W h), a = the sampled token, v = e_a − π.
/// G = A v hᵀ (gradient of A log π(a) w.r.t. W); D = the optimizer's direction for G (<see cref="CapoShadowAdam"/>, or
/// G for the SGD model); u = D h; ⟨G, D⟩; H = A[(vᵀu)² − uᵀ(diag π − ππᵀ)u]; ΔJ = η⟨G, D⟩ + ½η²H;
/// ΔKL = ½η²(vᵀu)², η the learning rate. A token is kept iff −τ_H &lt; ΔJ &lt; τ_H (symmetric; else 0 ≤ ΔJ &lt; τ_H) and
/// ΔKL &lt; τ_F. Loss: the GRPO clipped surrogate (β = 0) averaged per sequence over kept tokens,
/// Σ_t x_t k_t m_t / max(1, Σ_t k_t m_t), then over sequences. After the step the shadow state takes the mean G over
/// kept tokens (<see cref="CapoTokenEffects.MeanGradient"/>). Advantages: r − group mean (the recipes do not divide by
/// the std).</para>
/// <para>Deviations: (1) the hidden state is the one at the position that produced each logit (P − 1 + t); the official
/// code takes it one position later, which the brief reads as a bug. (2) π is over the full vocabulary: the official
/// code restricts it to the generation top-k (TRL's 50); with a 13-symbol vocabulary and no top-k sampling all rows
/// are the top-k. (3) When no token of a batch is kept the shadow state is left unchanged (the brief does not say;
/// with no kept occurrence no row has a mean to fold in). Sentence- and batch-level masks of the official code are not
/// implemented (the published recipes use token level).</para>
/// </summary>
public static class Capo
{
    /// <summary>CAPO's advantages: r − mean(r) per group (Grpo.Advantages without std scaling); G ≥ 2 per group.</summary>
    public static double[] Advantages(IReadOnlyList<double> rewards, IReadOnlyList<long> groupIds) =>
        Grpo.Advantages(rewards, groupIds, scaleByStd: false, epsilonStd: 0);

    /// <summary>Final hidden states [N, L, H] at the positions whose logits predict each completion token (P − 1 + t),
    /// from the same packed forward as <see cref="SequenceLogProbs"/>; applying the output layer gives its logits.</summary>
    public static Tensor HiddenStates(ICausalLanguageModelWithHead model, IReadOnlyList<long[]> prompts, Tensor completions)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(completions);
        return CompletionPositions.Gather(prompts, completions, model.BlockSize,
            (input, positions) => model.Hidden(input, positions, CausalAttention.Instance));
    }

    /// <summary>
    /// The per-token predictions and masks (class remarks) for hidden states <paramref name="hidden"/> [N, L, H], output
    /// weight <paramref name="headWeight"/> [V, H], sampled <paramref name="tokens"/> [N, L] (int64), completion
    /// <paramref name="mask"/> [N, L] (0/1, hidden's dtype), per-completion <paramref name="advantages"/> and learning
    /// rate η = <paramref name="learningRate"/>, with the optimizer modelled by <paramref name="shadow"/> (read only;
    /// ignored when <see cref="CapoOptions.AdamModel"/> is false). Computed without gradient.
    /// </summary>
    public static CapoTokenEffects TokenEffects(Tensor hidden, Tensor headWeight, Tensor tokens, Tensor mask, IReadOnlyList<double> advantages,
        double learningRate, CapoShadowAdam shadow, CapoOptions? options = null)
    {
        options ??= new CapoOptions();
        options.Validate();
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(headWeight);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(mask);
        ArgumentNullException.ThrowIfNull(shadow);
        if (hidden.dim() != 3 || hidden.shape[0] == 0 || hidden.shape[1] == 0 || !hidden.is_floating_point())
            throw new ArgumentException($"hidden must be a non-empty floating [completions, tokens, hidden] tensor; got {hidden.dtype} [{string.Join(", ", hidden.shape)}].", nameof(hidden));
        long n = hidden.shape[0], l = hidden.shape[1], h = hidden.shape[2];
        if (headWeight.dim() != 2 || headWeight.shape[1] != h || headWeight.dtype != hidden.dtype)
            throw new ArgumentException($"headWeight must be {hidden.dtype} [V, {h}]; got {headWeight.dtype} [{string.Join(", ", headWeight.shape)}].", nameof(headWeight));
        long vocab = headWeight.shape[0];
        if (tokens.dtype != ScalarType.Int64 || tokens.dim() != 2 || tokens.shape[0] != n || tokens.shape[1] != l)
            throw new ArgumentException($"tokens must be int64 [{n}, {l}]; got {tokens.dtype} [{string.Join(", ", tokens.shape)}].", nameof(tokens));
        if (tokens.numel() > 0)
        {
            using var min = tokens.min();
            using var max = tokens.max();
            long lo = min.item<long>(), hi = max.item<long>();
            if (lo < 0 || hi >= vocab) throw new ArgumentException(FormattableString.Invariant($"token ids must lie in [0, {vocab}); got {lo}..{hi}."), nameof(tokens));
        }
        using (var first = hidden.select(2, 0)) PolicyInputs.CheckTokens(first, mask);
        double[] lengths = PolicyInputs.Lengths(mask);
        PolicyInputs.CheckPerCompletion(advantages, n, nameof(advantages));
        if (!(learningRate > 0) || double.IsInfinity(learningRate))
            throw new ArgumentException($"learningRate = {learningRate}; it must be finite and positive.", nameof(learningRate));
        if (options.AdamModel && shadow.FirstMoment is not null && !shadow.FirstMoment.shape.SequenceEqual(headWeight.shape))
            throw new ArgumentException($"the shadow state is [{string.Join(", ", shadow.FirstMoment.shape)}]; headWeight is [{string.Join(", ", headWeight.shape)}].", nameof(shadow));

        using var s = new ScalarHold();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var hd = hidden.detach();
        var w = headWeight.detach();
        var pi = hd.matmul(w.t()).softmax(-1);                                              // [N, L, V]
        var v = nn.functional.one_hot(tokens, vocab).to(hd.dtype).sub(pi);
        var a = PolicyInputs.Column(advantages, hd);                                        // [N, 1]
        var g = v.unsqueeze(-1).mul(hd.unsqueeze(-2)).mul(a.reshape(n, 1, 1, 1));         // [N, L, V, H]
        var d = options.AdamModel ? shadow.Direction(g) : g;
        var u = d.mul(hd.unsqueeze(-2)).sum(-1);                                            // [N, L, V]
        var firstOrder = g.mul(d).sum(new long[] { -1, -2 });
        var vu = v.mul(u).sum(-1);
        var pu = pi.mul(u).sum(-1);
        var uFu = pi.mul(u).mul(u).sum(-1).sub(pu.mul(pu));
        var curvature = vu.mul(vu).sub(uFu).mul(a);
        var deltaJ = firstOrder.mul(s[learningRate]).add(curvature, s[0.5 * learningRate * learningRate]);
        var deltaKl = vu.mul(vu).mul(s[0.5 * learningRate * learningRate]);
        var keepJ = options.Symmetric
            ? deltaJ.gt(s[-options.TauHessian]).logical_and(deltaJ.lt(s[options.TauHessian]))
            : deltaJ.ge(s[0]).logical_and(deltaJ.lt(s[options.TauHessian]));
        var keep = keepJ.logical_and(deltaKl.lt(s[options.TauFisher])).logical_and(mask.gt(s[0])).to(hd.dtype);
        long kept = keep.gt(s[0]).sum().item<long>();
        Tensor? mean = kept == 0 ? null
            : g.mul(keep.unsqueeze(-1).unsqueeze(-1)).sum(new long[] { 0, 1 }).div(s[(double)kept]).MoveToOuterDisposeScope();
        return new CapoTokenEffects(firstOrder.MoveToOuterDisposeScope(), curvature.MoveToOuterDisposeScope(), deltaJ.MoveToOuterDisposeScope(),
            deltaKl.MoveToOuterDisposeScope(), keep.MoveToOuterDisposeScope(), mean, kept, (long)lengths.Sum());
    }

    /// <summary>CAPO's loss: the GRPO clipped surrogate x = max(−Aρ, −A clip(ρ, 1 − ε, 1 + ε)), ρ = exp(ℓ − ℓ^old),
    /// averaged per sequence over kept tokens (Σ_t x k m / max(1, Σ_t k m)) and then over sequences. <paramref name="keep"/>
    /// is <see cref="CapoTokenEffects.Keep"/> (treated as data).</summary>
    public static Tensor Loss(Tensor logProbs, Tensor oldLogProbs, Tensor mask, Tensor keep, IReadOnlyList<double> advantages, CapoOptions? options = null)
    {
        options ??= new CapoOptions();
        options.Validate();
        var (n, _) = PolicyInputs.CheckTokens(logProbs, mask, (oldLogProbs, nameof(oldLogProbs)), (keep, nameof(keep)));
        ArgumentNullException.ThrowIfNull(oldLogProbs);
        ArgumentNullException.ThrowIfNull(keep);
        PolicyInputs.CheckPerCompletion(advantages, n, nameof(advantages));
        PolicyInputs.Lengths(mask);
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        if (keep.ne(s[0]).logical_and(keep.ne(s[1])).any().item<bool>())
            throw new ArgumentException("keep must hold only 0 and 1.", nameof(keep));
        var a = PolicyInputs.Column(advantages, logProbs);
        var negA = a.neg();
        var ratio = logProbs.sub(oldLogProbs).exp();
        var x = maximum(negA.mul(ratio), negA.mul(ratio.clamp(s[1 - options.Clip], s[1 + options.Clip])));
        var w = keep.detach().mul(mask);
        return x.mul(w).sum(1).div(w.sum(1).clamp_min(s[1])).mean().MoveToOuterDisposeScope();
    }
}
