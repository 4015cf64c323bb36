using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// DisCO: Gang Li, Ming Lin, Tomer Galanti, Zhengzhong Tu, Tianbao Yang, "DisCO: Reinforcing Large Reasoning Models with
/// Discriminative Constrained Optimization", arXiv 2505.12366 (NeurIPS 2025); losses as in the official code
/// (Optimization-AI/DisCO, <c>verl/verl/trainer/ppo/core_algos.py</c>, <c>compute_policy_loss_disco{,b}_{logL,Lratio}</c>).
/// <para>Binary rewards only. Per question q with positives S+ (r = 1) and negatives S− (r = 0) and a score s per
/// completion (<see cref="DiscoScore"/>): DisCO-b J_q = mean_{S+} s − mean_{S−} s; DisCO
/// J_q = mean_{S+} s − τ log mean_{S−} exp(s/τ). Questions with an empty S+ or S− are skipped but still counted in Q.
/// With K the batch token mean of the KL estimate (<see cref="DiscoKl"/>):
/// L = −(1/Q) Σ_q J_q + stopgrad([β(K − δ)]₊)·K, whose penalty gradient β[K − δ]₊∇K is that of the squared hinge
/// (β/2)[K − δ]₊².</para>
/// <para>Deviation (value only): the official DisCO loss builds the log-mean-exp as τ·S/stopgrad(S) with
/// S = Σ exp(s/τ − c), whose value is the constant τ and whose gradient is that of τ log Σ exp(s/τ); this class
/// evaluates τ(logsumexp(s/τ) − log|S−|) directly, so the gradient is the same and the value is the true objective.
/// Groups are formed from explicit prompt ids (the official code sorts uids inside each micro-batch and assumes n
/// rollouts per question); every group needs G ≥ 2.</para>
/// </summary>
public static class Disco
{
    /// <summary>The DisCO loss only; see <see cref="Compute"/>.</summary>
    public static Tensor Loss(Tensor logProbs, Tensor oldLogProbs, Tensor mask, IReadOnlyList<double> rewards, IReadOnlyList<long> groupIds, DiscoOptions? options = null) =>
        Compute(logProbs, oldLogProbs, mask, rewards, groupIds, options).Loss;

    /// <summary>The loss with the objective, K and the number of skipped groups (see the class remarks). Rewards must be
    /// exactly 0 or 1.</summary>
    public static DiscoResult Compute(Tensor logProbs, Tensor oldLogProbs, Tensor mask, IReadOnlyList<double> rewards, IReadOnlyList<long> groupIds, DiscoOptions? options = null)
    {
        options ??= new DiscoOptions();
        options.Validate();
        ArgumentNullException.ThrowIfNull(oldLogProbs);
        var (n, _) = PolicyInputs.CheckTokens(logProbs, mask, (oldLogProbs, nameof(oldLogProbs)));
        PolicyInputs.CheckPerCompletion(rewards, n, nameof(rewards));
        for (int i = 0; i < rewards.Count; i++)
            if (rewards[i] != 0 && rewards[i] != 1)
                throw new ArgumentException(FormattableString.Invariant($"rewards[{i}] = {rewards[i]}; DisCO needs binary rewards (0 or 1)."), nameof(rewards));
        var groups = CompletionGroups.FromIds(groupIds, 2, n, nameof(groupIds));
        PolicyInputs.Lengths(mask);

        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var lengths = mask.sum(1);
        var logRatio = logProbs.sub(oldLogProbs);
        var perToken = options.Score == DiscoScore.LogLikelihood ? logProbs : logRatio.exp();
        var score = perToken.mul(mask).sum(1).div(lengths);
        Tensor? total = null;
        int skipped = 0;
        foreach (var rows in groups.Rows)
        {
            var pos = rows.Where(i => rewards[i] == 1).Select(i => (long)i).ToArray();
            var neg = rows.Where(i => rewards[i] == 0).Select(i => (long)i).ToArray();
            if (pos.Length == 0 || neg.Length == 0) { skipped++; continue; }
            var sp = score.index_select(0, tensor(pos, device: score.device)).mean();
            var sn = score.index_select(0, tensor(neg, device: score.device));
            var negTerm = options.Robust
                ? sn.div(s[options.Tau]).logsumexp(0).sub(s[Math.Log(neg.Length)]).mul(s[options.Tau])
                : sn.mean();
            var j = sp.sub(negTerm);
            total = total is null ? j : total.add(j, s[1]);
        }
        total ??= zeros(Array.Empty<long>(), dtype: logProbs.dtype, device: logProbs.device);
        var objective = total.div(s[groups.Count]);
        var klTokens = options.Kl == DiscoKl.LogRatio
            ? logRatio.neg()
            : logRatio.exp().sub(s[1]).sub(logRatio);
        var k = klTokens.mul(mask).sum().div(mask.sum());
        var penalty = k.detach().sub(s[options.Delta]).mul(s[options.Beta]).clamp_min(s[0]);
        var loss = objective.neg().add(penalty.mul(k), s[1]);
        return new DiscoResult(loss.MoveToOuterDisposeScope(), objective.to_type(ScalarType.Float64).item<double>(), k.to_type(ScalarType.Float64).item<double>(), skipped);
    }
}
