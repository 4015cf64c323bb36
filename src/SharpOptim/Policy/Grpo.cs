using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// GRPO: Zhihong Shao, Peiyi Wang, Qihao Zhu, Runxin Xu, Junxiao Song, Xiao Bi, Haowei Zhang, Mingchuan Zhang,
/// Y.K. Li, Y. Wu, Daya Guo, "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models",
/// arXiv 2402.03300, §4 (outcome supervision), with the aggregation variants of DAPO (arXiv 2503.14476) and
/// Dr. GRPO (Zichen Liu et al., "Understanding R1-Zero-Like Training: A Critical Perspective", arXiv 2503.20783).
/// <para>Advantages per group of G completions of one prompt: Â_i = (r_i − mean r) / (std r + ε_std), std unbiased
/// (TRL and verl; DeepSeekMath writes plain std), or r_i − mean r for Dr. GRPO. Per token, with
/// ρ = exp(ℓ − ℓ^old) and the k3 estimator k = exp(ℓ^ref − ℓ) − (ℓ^ref − ℓ) − 1:
/// x = max(−Â ρ, −Â clip(ρ, 1 − ε_low, 1 + ε_high)) (optionally dual-clipped: min(x, −c Â) where Â &lt; 0) + β k,
/// and L = agg(x) (<see cref="GrpoOptions.Aggregation"/>).</para>
/// <para>Note (brief §3): the k3 term used as a loss has expected gradient ∇KL(π_ref‖π_θ), not ∇KL(π_θ‖π_ref); it is
/// a valid pull toward the reference, but the logged k3 is not the optimized divergence. verl clamps k3 to [−10, 10];
/// TRL does not, nor does this class. G &lt; 2 is rejected (the unbiased std is undefined).</para>
/// </summary>
public static class Grpo
{
    /// <summary>Group-normalized advantages (see the class remarks); every group needs G ≥ 2.</summary>
    public static double[] Advantages(IReadOnlyList<double> rewards, IReadOnlyList<long> groupIds, bool scaleByStd = true, double epsilonStd = 1e-4)
    {
        ArgumentNullException.ThrowIfNull(rewards);
        if (rewards.Count == 0) throw new ArgumentException("no rewards (empty batch).", nameof(rewards));
        PolicyInputs.CheckPerCompletion(rewards, rewards.Count, nameof(rewards));
        if (!(epsilonStd >= 0) || double.IsInfinity(epsilonStd)) throw new ArgumentException($"epsilonStd = {epsilonStd}; it must be finite and ≥ 0.", nameof(epsilonStd));
        var groups = CompletionGroups.FromIds(groupIds, 2, rewards.Count, nameof(groupIds));
        var a = new double[rewards.Count];
        foreach (var rows in groups.Rows)
        {
            double mean = rows.Sum(i => rewards[i]) / rows.Length;
            double var = rows.Sum(i => (rewards[i] - mean) * (rewards[i] - mean)) / (rows.Length - 1);
            double scale = scaleByStd ? Math.Sqrt(var) + epsilonStd : 1;
            // All-equal rewards with ε_std = 0: the numerator is 0 too; the advantage is 0, not 0/0.
            foreach (int i in rows) a[i] = scale == 0 ? 0 : (rewards[i] - mean) / scale;
        }
        return a;
    }

    /// <summary>Schulman's k3 estimate of the per-token KL, exp(ℓ^ref − ℓ) − (ℓ^ref − ℓ) − 1 (≥ 0).</summary>
    public static Tensor K3(Tensor logProbs, Tensor refLogProbs)
    {
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var d = refLogProbs.sub(logProbs);
        return d.exp().sub(d).sub(s[1]).MoveToOuterDisposeScope();
    }

    /// <summary>The loss from rewards and prompt ids: advantages by <see cref="Advantages"/> with the options' std rule.</summary>
    public static Tensor Loss(Tensor logProbs, Tensor oldLogProbs, Tensor? refLogProbs, Tensor mask, IReadOnlyList<double> rewards,
        IReadOnlyList<long> groupIds, GrpoOptions? options = null)
    {
        options ??= new GrpoOptions();
        options.Validate();
        PolicyInputs.CheckTokens(logProbs, mask, (oldLogProbs, nameof(oldLogProbs)), (refLogProbs, nameof(refLogProbs)));
        PolicyInputs.CheckPerCompletion(rewards, logProbs.shape[0], nameof(rewards));
        var adv = Advantages(rewards, groupIds, options.ScaleByStd, options.EpsilonStd);
        return LossFromAdvantages(logProbs, oldLogProbs, refLogProbs, mask, adv, options);
    }

    /// <summary>The loss for given per-completion advantages (see the class remarks).</summary>
    public static Tensor LossFromAdvantages(Tensor logProbs, Tensor oldLogProbs, Tensor? refLogProbs, Tensor mask, IReadOnlyList<double> advantages, GrpoOptions? options = null)
    {
        options ??= new GrpoOptions();
        options.Validate();
        var (n, l) = PolicyInputs.CheckTokens(logProbs, mask, (oldLogProbs, nameof(oldLogProbs)), (refLogProbs, nameof(refLogProbs)));
        ArgumentNullException.ThrowIfNull(oldLogProbs);
        PolicyInputs.CheckPerCompletion(advantages, n, nameof(advantages));
        if (options.Beta > 0 && refLogProbs is null) throw new ArgumentException("Beta > 0 needs the reference log-probabilities.", nameof(refLogProbs));
        PolicyInputs.CheckAggregation(options.Aggregation, options.MaxLength, l);
        PolicyInputs.Lengths(mask);
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var a = PolicyInputs.Column(advantages, logProbs);
        var negA = a.neg();
        var ratio = logProbs.sub(oldLogProbs).exp();
        var x = maximum(negA.mul(ratio), negA.mul(ratio.clamp(s[1 - options.ClipLow], s[1 + options.ClipHigh])));
        if (!double.IsNaN(options.DualClip))
            x = where(a.lt(s[0]), minimum(x, negA.mul(s[options.DualClip])), x);
        if (options.Beta > 0)
            x = x.add(K3(logProbs, refLogProbs!), s[options.Beta]);
        return PolicyInputs.Aggregate(x, mask, options.Aggregation, options.MaxLength).MoveToOuterDisposeScope();
    }
}
