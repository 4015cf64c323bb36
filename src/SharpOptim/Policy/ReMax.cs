using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// ReMax: Ziniu Li, Tian Xu, Yushun Zhang, Yang Yu, Ruoyu Sun, Zhi-Quan Luo, "ReMax: A Simple, Effective, and
/// Efficient Reinforcement Learning Method for Aligning Large Language Models", arXiv 2310.10505 (ICML 2024).
/// REINFORCE whose baseline is the reward of the greedy completion of the same prompt: no value model.
/// <para>Per completion i with sampled reward r_i and greedy reward r̄_i, per-token return (computed without gradient)
/// ret_{i,t} = −β_KL (ℓ_{i,t} − ℓ^ref_{i,t}) + γ^{T_i − t} · clip(r_i − r̄_i, −c, c), t = 0..T_i−1 (the last token gets
/// γ¹), and the loss L = −agg(ret_{i,t} · ℓ_{i,t}) with the token mean over the batch by default.</para>
/// <para>Defaults are the plain estimator (γ = 1, no clip, β_KL = 0: advantage r − r̄ on every token; the form of
/// verl's <c>compute_remax_outcome_advantage</c>). The official trainer (liziniu/ReMax
/// <c>remax_trainer.py</c>, <c>compute_returns</c> / <c>actor_loss_fn</c>) uses γ = 0.99, c = 5 and β_KL = 0.05 with the
/// k1 per-token KL to the reference as detached reward shaping: pass those values for the official form. Not done here:
/// the official code's replacement of a degenerate (≤ 1 token) answer by a space before scoring (the task's reward
/// decides that), and top-p 0.9 sampling (the sampler uses temperature / top-k; with top-p the log-probabilities would
/// not be those of the sampling distribution). The paper's own Algorithm 1 was not read; the rule above is the
/// official code's.</para>
/// </summary>
public static class ReMax
{
    /// <summary>The ReMax loss; see the class remarks. <paramref name="refLogProbs"/> may be null when
    /// <paramref name="klCoefficient"/> is 0.</summary>
    public static Tensor Loss(Tensor logProbs, Tensor? refLogProbs, Tensor mask, IReadOnlyList<double> rewards, IReadOnlyList<double> greedyRewards,
        double gamma = 1, double clip = double.PositiveInfinity, double klCoefficient = 0,
        PolicyLossAggregation aggregation = PolicyLossAggregation.TokenMean, int maxLength = 0)
    {
        var (n, l) = PolicyInputs.CheckTokens(logProbs, mask, (refLogProbs, nameof(refLogProbs)));
        PolicyInputs.CheckPerCompletion(rewards, n, nameof(rewards));
        PolicyInputs.CheckPerCompletion(greedyRewards, n, nameof(greedyRewards));
        if (!(gamma > 0 && gamma <= 1)) throw new ArgumentException($"gamma = {gamma}; it must lie in (0, 1].", nameof(gamma));
        if (!(clip > 0)) throw new ArgumentException($"clip = {clip}; it must be positive (∞ for no clip).", nameof(clip));
        if (!(klCoefficient >= 0) || double.IsInfinity(klCoefficient)) throw new ArgumentException($"klCoefficient = {klCoefficient}; it must be finite and ≥ 0.", nameof(klCoefficient));
        if (klCoefficient > 0 && refLogProbs is null) throw new ArgumentException("klCoefficient > 0 needs the reference log-probabilities.", nameof(refLogProbs));
        PolicyInputs.CheckAggregation(aggregation, maxLength, l);
        var lengths = PolicyInputs.Lengths(mask);

        var shaped = new double[n * l];
        for (long i = 0; i < n; i++)
        {
            double a = Math.Clamp(rewards[(int)i] - greedyRewards[(int)i], -clip, clip);
            for (long t = 0; t < l; t++) shaped[i * l + t] = Math.Pow(gamma, lengths[i] - t) * a;
        }
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var ret = tensor(shaped, dtype: ScalarType.Float64).to(logProbs.dtype, logProbs.device).reshape(n, l);
        if (klCoefficient > 0)
            ret = ret.add(logProbs.detach().sub(refLogProbs!), s[-klCoefficient]);
        return PolicyInputs.Aggregate(ret.mul(logProbs), mask, aggregation, maxLength).neg().MoveToOuterDisposeScope();
    }
}
