using SharpOptim.Policy;
using SharpOptim.Tasks.Models;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// The tensor-temporary rule (README, Compatibility: "TorchSharp's tensor-temporary race"; see
/// <see cref="NativeTemporaryTests"/>) for the policy family: rollouts with and without the key/value cache, greedy
/// rollouts, the training forward's log-probabilities, every loss (REINFORCE/RLOO, ReMax, GRPO, DisCO, PPO with GAE, CAPO with its token effects), PPO's critic and the Prefix Grouper forward, each called
/// outside any dispose scope, leave 0 tensors to the finalizer once the caller disposed what it was given. The count
/// is TorchSharp's exact per-thread statistic, so this cannot pass by luck.
/// </summary>
public class PolicyNativeTemporaryTests
{
    [Fact]
    public void PolicyPathsLeaveNoTensorToTheFinalizer()
    {
        var findings = new List<string>();
        manual_seed(7);
        using var model = new CharTransformer(vocabulary: 13, blockSize: 16, dim: 16, heads: 2, layers: 2);
        var prompts = new[] { new long[] { 0, 3, 4, 1, 5, 12 }, new long[] { 0, 7, 1, 2, 12 } };
        long[] ids = { 1, 2 };
        foreach (bool cache in new[] { true, false })
        {
            var sampler = new RolloutSampler(model, 0, 4, temperature: 1.2, topK: 5, useCache: cache);
            Check(findings, $"RolloutSampler.Sample (cache {cache})", () => { using var b = sampler.Sample(prompts, ids, 3, 11); });
            Check(findings, $"RolloutSampler.Greedy (cache {cache})", () => { using var b = sampler.Greedy(prompts, ids); });
        }
        using var batch = new RolloutSampler(model, 0, 4).Sample(prompts, ids, 3, 5);
        Check(findings, "RolloutBatch.CompletionOf", () => { _ = batch.CompletionOf(1); });
        var expanded = Enumerable.Range(0, 6).Select(i => prompts[i / 3]).ToList();
        Check(findings, "SequenceLogProbs.Compute", () => { using var l = SequenceLogProbs.Compute(model, expanded, batch.Completions); });
        Check(findings, "SequenceLogProbs.Distributions", () => { using var l = SequenceLogProbs.Distributions(model, expanded, batch.Completions); });
        var rewards = new double[] { 1, 0, 1, 0, 0, 1 };
        var groups = new long[] { 1, 1, 1, 2, 2, 2 };
        using (var logProbs = SequenceLogProbs.Compute(model, expanded, batch.Completions))
            Check(findings, "Grpo.Loss", () => { using var loss = Grpo.Loss(logProbs, batch.OldLogProbs, batch.OldLogProbs, batch.Mask, rewards, groups); });
        using (var logProbs = SequenceLogProbs.Compute(model, expanded, batch.Completions))
        {
            var greedy = new double[] { 0, 0, 0, 1, 1, 1 };
            Check(findings, "Reinforce.Loss (RLOO)", () => { using var loss = Reinforce.Loss(logProbs, batch.Mask, rewards, ReinforceBaseline.LeaveOneOut, groupIds: groups); });
            Check(findings, "ReMax.Loss", () => { using var loss = ReMax.Loss(logProbs, batch.OldLogProbs, batch.Mask, rewards, greedy, klCoefficient: 0.1); });
            Check(findings, "Disco.Loss", () => { using var loss = Disco.Loss(logProbs, batch.OldLogProbs, batch.Mask, rewards, groups); });
            Check(findings, "Ppo (token rewards, GAE, both losses)", () =>
            {
                using var values = batch.OldLogProbs.mul(batch.Mask);
                using var tokenRewards = Ppo.TokenRewards(rewards, batch.Mask, batch.OldLogProbs, batch.OldLogProbs, 0.05);
                var (advantages, returns) = Ppo.Gae(tokenRewards, values, batch.Mask);
                using (advantages)
                using (returns)
                using (var policyLoss = Ppo.PolicyLoss(logProbs, batch.OldLogProbs, advantages, batch.Mask))
                using (var valueLoss = Ppo.ValueLoss(values, values, returns, batch.Mask)) { }
            });
        }
        using (var critic = new PpoCritic(new CharTransformer(vocabulary: 13, blockSize: 16, dim: 16, heads: 2, layers: 2)))   // owns its trunk
            Check(findings, "PpoCritic.Values", () => { using var v = critic.Values(expanded, batch.Completions); });
        Check(findings, "Capo (hidden states, token effects, loss)", () =>
        {
            using var shadow = new CapoShadowAdam();
            var advantages = Grpo.Advantages(rewards, groups);
            using var hidden = Capo.HiddenStates(model, expanded, batch.Completions);
            using var effects = Capo.TokenEffects(hidden, model.HeadWeight, batch.Completions, batch.Mask, advantages, 1e-3, shadow);
            using var logProbs = SequenceLogProbs.Compute(model, expanded, batch.Completions);
            using var loss = Capo.Loss(logProbs, batch.OldLogProbs, batch.Mask, effects.Keep, advantages);
        });
        var completions = new List<IReadOnlyList<long[]>> { new[] { new long[] { 3, 4 }, new long[] { 5 } }, new[] { new long[] { 6, 7, 8 }, new long[] { 9, 2 } } };
        Check(findings, "PrefixGrouper.Grouped", () => { using var r = PrefixGrouper.Grouped(model, prompts, completions); });
        Assert.True(findings.Count == 0, "Tensors left to the finalizer:\n" + string.Join("\n", findings));
    }

    private static void Check(List<string> findings, string what, Action run)
    {
        long before = NativeTemporaryTests.LiveOutsideScopes();
        run();
        long left = NativeTemporaryTests.LiveOutsideScopes() - before;
        if (left != 0) findings.Add($"{what}: {left}");
    }
}
