using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// PPO-style actor-critic for language models, the baseline ReMax (Li et al., arXiv 2310.10505) compares against:
/// PPO's clipped surrogate (John Schulman, Filip Wolski, Prafulla Dhariwal, Alec Radford, Oleg Klimov, "Proximal Policy
/// Optimization Algorithms", arXiv 1707.06347) with token-level generalized advantage estimation (Schulman, Moritz,
/// Levine, Jordan, Abbeel, "High-Dimensional Continuous Control Using Generalized Advantage Estimation", arXiv
/// 1506.02438) from a learned value model (<see cref="PpoCritic"/>), in the form of the standard RLHF implementation
/// (verl, <c>verl/trainer/ppo/core_algos.py</c>: <c>compute_gae_advantage_return</c>, <c>compute_policy_loss</c>
/// "vanilla", <c>compute_value_loss</c>, and <c>apply_kl_penalty</c> in the trainer; read, not copied).
/// <para>Rule, per completion i of |o_i| tokens (mask m right-padded):
/// token rewards r_{i,t} = R_i·[t = |o_i| − 1] − β m_{i,t}(ℓ^old_{i,t} − ℓ^ref_{i,t}) (outcome reward on the last token,
/// optional k1 KL penalty); backwards over t with V the critic's values before the update,
/// δ_t = r_t + γ V'_{t+1} − V_t, A_t = δ_t + γλ A'_{t+1}, where on a padding position (m = 0) V' and A' carry the later
/// values through unchanged (verl's recurrence; the carry starts at 0); returns R_t = A_t + V_t; advantages whitened over
/// all completion tokens of the batch, (A − mean)/√(var + 1e-8) with the unbiased variance. Policy loss, token mean:
/// x = max(−A ρ, −A clip(ρ, 1 − ε_low, 1 + ε_high)), ρ = exp(ℓ − ℓ^old), and where A &lt; 0 (dual clip c)
/// x = min(x, −c A). Value loss, token mean: ½ max((v − R)², (clip(v, V − c_v, V + c_v) − R)²) with v the critic's
/// new prediction.</para>
/// <para>Deviations from verl: (1) the ratio's log is not clamped to [−20, 20] before exp (as in <see cref="Grpo"/>);
/// (2) verl's masked mean divides by Σm in the version read (newer versions add 1e-8): Σm here; (3) the masks must be
/// right-padded (a completion is its first |o_i| tokens; the rollouts of this library always are), so the outcome reward
/// sits at index |o_i| − 1; verl finds the same index from the attention mask. Multiple PPO epochs / mini-batches are the
/// caller's loop (the library's RL loop takes one step per rollout batch, as for every other method).</para>
/// </summary>
public static class Ppo
{
    /// <summary>Token rewards [N, L] (see the class remarks) in <paramref name="mask"/>'s dtype and device. With
    /// <paramref name="klCoefficient"/> &gt; 0, <paramref name="oldLogProbs"/> and <paramref name="refLogProbs"/> are needed.</summary>
    public static Tensor TokenRewards(IReadOnlyList<double> rewards, Tensor mask, Tensor? oldLogProbs = null, Tensor? refLogProbs = null, double klCoefficient = 0)
    {
        ArgumentNullException.ThrowIfNull(mask);
        var (n, l) = PolicyInputs.CheckTokens(mask, mask, (oldLogProbs, nameof(oldLogProbs)), (refLogProbs, nameof(refLogProbs)));
        PolicyInputs.CheckPerCompletion(rewards, n, nameof(rewards));
        if (!(klCoefficient >= 0) || double.IsInfinity(klCoefficient)) throw new ArgumentException($"klCoefficient = {klCoefficient}; it must be finite and ≥ 0.", nameof(klCoefficient));
        if (klCoefficient > 0 && (oldLogProbs is null || refLogProbs is null))
            throw new ArgumentException("klCoefficient > 0 needs the old and the reference log-probabilities.", nameof(refLogProbs));
        var lengths = RightPaddedLengths(mask);
        var r = new double[n * l];
        for (long i = 0; i < n; i++) r[i * l + lengths[i] - 1] = rewards[(int)i];
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var result = tensor(r, dtype: ScalarType.Float64).to(mask.dtype, mask.device).reshape(n, l);
        if (klCoefficient > 0)
            result = result.add(oldLogProbs!.detach().sub(refLogProbs!.detach()).mul(mask), s[-klCoefficient]);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Token-level GAE (see the class remarks), computed without gradient in float64 and returned in
    /// <paramref name="values"/>' dtype: the (whitened, if <see cref="PpoOptions.WhitenAdvantages"/>) advantages and the
    /// returns R = A + V (before whitening), both [N, L].</summary>
    public static (Tensor Advantages, Tensor Returns) Gae(Tensor tokenRewards, Tensor values, Tensor mask, PpoOptions? options = null)
    {
        options ??= new PpoOptions();
        options.Validate();
        var (n, l) = PolicyInputs.CheckTokens(values, mask, (tokenRewards, nameof(tokenRewards)));
        var lengths = RightPaddedLengths(mask);
        var rew = Finite(tokenRewards, nameof(tokenRewards));
        var v = Finite(values, nameof(values));
        var m = Doubles(mask);
        long tokens = lengths.Sum();
        if (options.WhitenAdvantages && tokens < 2)
            throw new ArgumentException($"whitening needs at least 2 completion tokens (unbiased variance); the batch has {tokens}.", nameof(mask));
        double gamma = options.Gamma, lambda = options.Lambda;
        var adv = new double[n * l];
        var ret = new double[n * l];
        for (long i = 0; i < n; i++)
        {
            double nextValue = 0, last = 0;
            for (long t = l - 1; t >= 0; t--)
            {
                long k = i * l + t;
                double delta = rew[k] + gamma * nextValue - v[k];
                double candidate = delta + gamma * lambda * last;
                nextValue = v[k] * m[k] + (1 - m[k]) * nextValue;
                last = candidate * m[k] + (1 - m[k]) * last;
                adv[k] = last;
                ret[k] = last + v[k];
            }
        }
        if (options.WhitenAdvantages)
        {
            double count = 0, sum = 0;
            for (long k = 0; k < adv.Length; k++) { sum += adv[k] * m[k]; count += m[k]; }
            double mean = sum / count, sq = 0;
            for (long k = 0; k < adv.Length; k++) sq += (adv[k] - mean) * (adv[k] - mean) * m[k];
            double variance = sq / count * count / (count - 1);
            double scale = 1 / Math.Sqrt(variance + 1e-8);
            for (long k = 0; k < adv.Length; k++) adv[k] = (adv[k] - mean) * scale;
        }
        // Scoped: the float64 tensor and its converted copy are temporaries passed to native calls (README,
        // Compatibility: TorchSharp's tensor-temporary race).
        using var scope = NewDisposeScope();
        Tensor T(double[] x) => tensor(x, dtype: ScalarType.Float64).to(values.dtype, values.device).reshape(n, l).MoveToOuterDisposeScope();
        return (T(adv), T(ret));
    }

    /// <summary>The clipped policy surrogate, token mean (see the class remarks); <paramref name="advantages"/> [N, L] is
    /// data (detached).</summary>
    public static Tensor PolicyLoss(Tensor logProbs, Tensor oldLogProbs, Tensor advantages, Tensor mask, PpoOptions? options = null)
    {
        options ??= new PpoOptions();
        options.Validate();
        ArgumentNullException.ThrowIfNull(oldLogProbs);
        ArgumentNullException.ThrowIfNull(advantages);
        PolicyInputs.CheckTokens(logProbs, mask, (oldLogProbs, nameof(oldLogProbs)), (advantages, nameof(advantages)));
        PolicyInputs.Lengths(mask);
        Finite(advantages, nameof(advantages));
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var a = advantages.detach();
        var negA = a.neg();
        var ratio = logProbs.sub(oldLogProbs.detach()).exp();
        var x = maximum(negA.mul(ratio), negA.mul(ratio.clamp(s[1 - options.ClipLow], s[1 + options.ClipHigh])));
        if (!double.IsNaN(options.DualClip))
            x = where(a.lt(s[0]), minimum(x, negA.mul(s[options.DualClip])), x);
        return PolicyInputs.Aggregate(x, mask, PolicyLossAggregation.TokenMean, 0).MoveToOuterDisposeScope();
    }

    /// <summary>The clipped value loss, ½ · token mean (see the class remarks); <paramref name="values"/> are the critic's
    /// new predictions (with gradient), <paramref name="oldValues"/> those GAE used, <paramref name="returns"/> from
    /// <see cref="Gae"/>.</summary>
    public static Tensor ValueLoss(Tensor values, Tensor oldValues, Tensor returns, Tensor mask, PpoOptions? options = null)
    {
        options ??= new PpoOptions();
        options.Validate();
        ArgumentNullException.ThrowIfNull(oldValues);
        ArgumentNullException.ThrowIfNull(returns);
        PolicyInputs.CheckTokens(values, mask, (oldValues, nameof(oldValues)), (returns, nameof(returns)));
        PolicyInputs.Lengths(mask);
        Finite(oldValues, nameof(oldValues));
        Finite(returns, nameof(returns));
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var old = oldValues.detach();
        var target = returns.detach();
        var clipped = maximum(minimum(values, old.sub(s[-options.ValueClip])), old.sub(s[options.ValueClip]));
        var d1 = values.sub(target);
        var d2 = clipped.sub(target);
        var x = maximum(d1.mul(d1), d2.mul(d2));
        return PolicyInputs.Aggregate(x, mask, PolicyLossAggregation.TokenMean, 0).mul(s[0.5]).MoveToOuterDisposeScope();
    }

    /// <summary>Completion lengths of a 0/1 mask whose rows are 1…1 0…0 (at least one 1).</summary>
    private static long[] RightPaddedLengths(Tensor mask)
    {
        var lengths = PolicyInputs.Lengths(mask);
        var m = Doubles(mask);
        long n = mask.shape[0], l = mask.shape[1];
        var result = new long[n];
        for (long i = 0; i < n; i++)
        {
            result[i] = (long)lengths[i];
            for (long t = 0; t < l; t++)
                if (m[i * l + t] != (t < result[i] ? 1 : 0))
                    throw new ArgumentException(FormattableString.Invariant($"mask row {i} is not right-padded (1…1 then 0…0): the outcome reward needs its last token at index |o| − 1."), nameof(mask));
        }
        return result;
    }

    private static double[] Doubles(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().to(ScalarType.Float64).cpu().contiguous().reshape(-1).data<double>().ToArray();
    }

    private static double[] Finite(Tensor t, string name)
    {
        var x = Doubles(t);
        for (int k = 0; k < x.Length; k++)
            if (!double.IsFinite(x[k]))
                throw new ArgumentException(FormattableString.Invariant($"{name}[{k / t.shape[1]}, {k % t.shape[1]}] = {x[k]} is not finite."), name);
        return x;
    }
}
