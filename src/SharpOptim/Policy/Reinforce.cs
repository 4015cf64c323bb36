using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// REINFORCE with a baseline: Williams (1992), "Simple statistical gradient-following algorithms for connectionist
/// reinforcement learning"; leave-one-out baseline from Kool, van Hoof &amp; Welling (2019), "Buy 4 REINFORCE samples,
/// get a baseline for free!", used for LLMs as RLOO by Ahmadian et al., "Back to Basics", arXiv 2402.14740.
/// <para>Estimator: g = (r − b) Σ_t ∇ℓ_t, unbiased for any b independent of the sample. As a loss over a batch of N
/// completions: L = −agg((r_i − b_i) · ℓ_{i,t}), with agg one of <see cref="PolicyLossAggregation"/>
/// (default <see cref="PolicyLossAggregation.SequenceSum"/>: L = −(1/N) Σ_i (r_i − b_i) Σ_t m_{i,t} ℓ_{i,t}).</para>
/// <para>A pure function of tensors: ℓ [N, L] (the trained policy's log-probabilities of the sampled tokens, with
/// gradient), the completion mask m [N, L] (same dtype), rewards r (N) and, for RLOO, the prompt ids. No state.</para>
/// </summary>
public static class Reinforce
{
    /// <summary>The advantages r_i − b_i. <paramref name="groupIds"/> is needed (and every group must have G ≥ 2) for
    /// <see cref="ReinforceBaseline.LeaveOneOut"/> only.</summary>
    public static double[] Advantages(IReadOnlyList<double> rewards, ReinforceBaseline baseline = ReinforceBaseline.None,
        double baselineValue = 0, IReadOnlyList<long>? groupIds = null)
    {
        ArgumentNullException.ThrowIfNull(rewards);
        if (rewards.Count == 0) throw new ArgumentException("no rewards (empty batch).", nameof(rewards));
        PolicyInputs.CheckPerCompletion(rewards, rewards.Count, nameof(rewards));
        if (!Enum.IsDefined(baseline)) throw new ArgumentException($"unknown baseline {baseline}.", nameof(baseline));
        if (!double.IsFinite(baselineValue)) throw new ArgumentException($"baselineValue = {baselineValue} is not finite.", nameof(baselineValue));
        var a = new double[rewards.Count];
        switch (baseline)
        {
            case ReinforceBaseline.None:
                for (int i = 0; i < a.Length; i++) a[i] = rewards[i];
                break;
            case ReinforceBaseline.Constant:
                for (int i = 0; i < a.Length; i++) a[i] = rewards[i] - baselineValue;
                break;
            default:
                if (groupIds is null) throw new ArgumentException("the leave-one-out baseline needs the prompt ids of the completions.", nameof(groupIds));
                var groups = CompletionGroups.FromIds(groupIds, 2, rewards.Count, nameof(groupIds));
                foreach (var rows in groups.Rows)
                {
                    double sum = rows.Sum(i => rewards[i]);
                    foreach (int i in rows) a[i] = rewards[i] - (sum - rewards[i]) / (rows.Length - 1);
                }
                break;
        }
        return a;
    }

    /// <summary>The loss L = −agg((r_i − b_i) ℓ_{i,t}); see the class remarks. <paramref name="maxLength"/> is the
    /// generation budget used by <see cref="PolicyLossAggregation.ConstantLength"/>.</summary>
    public static Tensor Loss(Tensor logProbs, Tensor mask, IReadOnlyList<double> rewards, ReinforceBaseline baseline = ReinforceBaseline.None,
        double baselineValue = 0, IReadOnlyList<long>? groupIds = null, PolicyLossAggregation aggregation = PolicyLossAggregation.SequenceSum, int maxLength = 0)
    {
        var (n, l) = PolicyInputs.CheckTokens(logProbs, mask);
        PolicyInputs.CheckPerCompletion(rewards, n, nameof(rewards));
        PolicyInputs.CheckAggregation(aggregation, maxLength, l);
        PolicyInputs.Lengths(mask);
        var adv = Advantages(rewards, baseline, baselineValue, groupIds);
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var x = logProbs.mul(PolicyInputs.Column(adv, logProbs));
        return PolicyInputs.Aggregate(x, mask, aggregation, maxLength).neg().MoveToOuterDisposeScope();
    }
}
