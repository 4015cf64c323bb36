using SharpOptim.Tasks.Policy;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>Several policy updates per rollout batch (<see cref="PolicyRunSettings.Epochs"/>,
/// <see cref="PolicyRunSettings.MiniBatches"/>): the defaults reproduce a run recorded with the code before the change, the
/// first mini-batch's update sees ρ = 1 exactly and the second does not, mini-batches are whole groups covering the batch,
/// the clip fraction equals a direct count, and bad settings fail before anything changes.</summary>
[Collection("kernel-threads")]
public class RlMiniBatchTests
{
    private static T OneThread<T>(Func<T> body)
    {
        int before = get_num_threads();
        set_num_threads(1);
        try { return body(); }
        finally { set_num_threads(before); }
    }

    /// <summary>Recorded with the build of commit aed2b96 (before Epochs/MiniBatches existed):
    /// <c>sharpoptim rl --layers 1 --dim 16 --heads 2 --sft-steps 40 --no-cache-model --steps 3 --seeds 1 --prompts 8
    /// --group 8 --eval-every 1 --no-bench --no-progress --methods grpo,ppo,disco,rloo</c>, results.json (k3, exact KL,
    /// entropy per step; sampled accuracy after). Step 2 draws one correct completion, so step 3's KL is the update's.</summary>
    [Fact]
    public void DefaultsReproduceTheSingleUpdateRunBitForBit()
    {
        var recorded = new Dictionary<string, (double[] K3, double[] Exact, double[] Entropy, double SampledAfter)>
        {
            ["grpo"] = (new[] { 0, 0, 0.014847812242805958 }, new[] { 0, 0, 0.013816148974001408 }, new[] { 2.332414150238037, 2.342937469482422, 2.33367919921875 }, 0.00375),
            ["ppo"] = (new[] { 0, 0.025325877591967583, 0.04747280105948448 }, new[] { 0, 0.024386441335082054, 0.04369775205850601 }, new[] { 2.332414150238037, 2.3425002098083496, 2.317927837371826 }, 0.00375),
            ["disco"] = (new[] { 0, 0, 0.014841431751847267 }, new[] { 0, 0, 0.013813056983053684 }, new[] { 2.332414150238037, 2.342937469482422, 2.333716630935669 }, 0.00375),
            ["rloo"] = (new[] { 0, 0, 0.014847420156002045 }, new[] { 0, 0, 0.01381591521203518 }, new[] { 2.332414150238037, 2.342937469482422, 2.33367919921875 }, 0.00375),
        };
        OneThread(() =>
        {
            var task = new NoisyAddition(variant: NoisyAdditionVariant.ByTaskName["addition"]);
            var model = new AdditionModelSettings(Layers: 1, Dim: 16, Heads: 2, Steps: 40);
            var (sft, _, _) = AdditionPretraining.LoadOrTrain(task, model, null);
            PolicyTraining.GreedyAccuracy(sft, task, task.HeldOutIds);
            PolicyTraining.SampledAccuracy(sft, task, task.HeldOutIds, 4, 12345);
            foreach (var (method, want) in recorded)
            {
                using var policy = AdditionPretraining.Copy(sft, task, model);
                using var reference = AdditionPretraining.Copy(sft, task, model);
                var r = PolicyTraining.Run(policy, reference, task, new PolicyRunSettings(method, Steps: 3, PromptsPerStep: 8, GroupSize: 8, EvalEvery: 1), seed: 1);
                Assert.Equal(want.K3, r.Steps.Select(s => s.K3).ToArray());
                Assert.Equal(want.Exact, r.Steps.Select(s => s.ExactKl).ToArray());
                Assert.Equal(want.Entropy, r.Steps.Select(s => s.Entropy).ToArray());
                Assert.Equal(want.SampledAfter, r.SampledAfter);
                Assert.All(r.Steps, s => Assert.Single(s.Updates!));
            }
            return 0;
        });
    }

    private static (NoisyAddition Task, AdditionModelSettings Model, Tasks.Models.CharTransformer Sft) Small()
    {
        var small = new NoisyAddition(sftLines: 1000, operandRange: 10);
        var model = new AdditionModelSettings(Layers: 1, Dim: 16, Heads: 2, BlockSize: 12, Steps: 40, Batch: 16, Window: 12, Seed: 3);
        return (small, model, AdditionPretraining.Train(small, model).Model);
    }

    [Fact]
    public void FirstMiniBatchSeesRatioOneExactlyAndTheSecondDoesNot()
    {
        OneThread(() =>
        {
            var (task, model, sft) = Small();
            foreach (var method in new[] { "ppo", "arpo" })
            {
                using var policy = AdditionPretraining.Copy(sft, task, model);
                using var reference = AdditionPretraining.Copy(sft, task, model);
                var settings = new PolicyRunSettings(method, Steps: 2, PromptsPerStep: 4, GroupSize: 4, EvalEvery: 10, MiniBatches: 2, RecomputeOld: true);
                var r = PolicyTraining.Run(policy, reference, task, settings, seed: 1);
                foreach (var step in r.Steps)
                {
                    var u = step.Updates!;
                    Assert.Equal(2, u.Count);
                    // ℓ^old was computed by the same forward at the same weights: ρ = 1 bit for bit, no token clipped.
                    Assert.Equal(0.0, u[0].RatioDeviation);
                    Assert.Equal(0.0, u[0].ClipFraction);
                    Assert.Equal((u[0].RatioDeviation + u[1].RatioDeviation) / 2, step.RatioDeviation);
                }
                // PPO's advantages come from the critic, so its first update always moves the policy.
                if (method == "ppo") Assert.All(r.Steps, s => Assert.True(s.Updates![1].RatioDeviation > 1e-6));
            }
            // DisCO logs K to π_old per update: 0 at the first (ρ = 1 exactly gives k1 = 0 exactly), and penalty inactive.
            using var p2 = AdditionPretraining.Copy(sft, task, model);
            using var r2 = AdditionPretraining.Copy(sft, task, model);
            var d = PolicyTraining.Run(p2, r2, task, new PolicyRunSettings("disco", Steps: 1, PromptsPerStep: 4, GroupSize: 4, MiniBatches: 2, Epochs: 2, RecomputeOld: true), seed: 1);
            var du = d.Steps[0].Updates!;
            Assert.Equal(4, du.Count);
            Assert.Equal(new[] { (1, 1), (1, 2), (2, 1), (2, 2) }, du.Select(x => (x.Epoch, x.MiniBatch)).ToArray());
            Assert.Equal(0.0, du[0].DiscoKl);
            Assert.False(du[0].DiscoPenaltyActive);
            Assert.True(double.IsNaN(du[0].ClipFraction));
            return 0;
        });
    }

    /// <summary>Every method runs with E = 2 epochs × M = 2 mini-batches: 4 logged updates per step in verl's order, each on
    /// 2 whole groups, finite metrics, and the clip fraction defined exactly for the methods with a ratio clip.</summary>
    [Fact]
    public void EveryMethodRunsSeveralUpdatesPerBatch()
    {
        var (task, model, sft) = Small();
        foreach (var method in PolicyRunSettings.Methods)
        {
            using var policy = AdditionPretraining.Copy(sft, task, model);
            using var reference = AdditionPretraining.Copy(sft, task, model);
            var r = PolicyTraining.Run(policy, reference, task, new PolicyRunSettings(method, Steps: 1, PromptsPerStep: 4, GroupSize: 4, EvalEvery: 10, Epochs: 2, MiniBatches: 2), seed: 2);
            var u = r.Steps[0].Updates!;
            Assert.Equal(new[] { (1, 1), (1, 2), (2, 1), (2, 2) }, u.Select(x => (x.Epoch, x.MiniBatch)).ToArray());
            Assert.All(u, x => Assert.Equal(8, x.Rows.Count));
            Assert.Equal(Enumerable.Range(0, 16), u.Take(2).SelectMany(x => x.Rows).Order());
            Assert.Equal(Enumerable.Range(0, 16), u.Skip(2).SelectMany(x => x.Rows).Order());
            bool clipped = method is "grpo" or "dr-grpo" or "arpo" or "capo" or "ppo";
            Assert.All(u, x => Assert.Equal(clipped, !double.IsNaN(x.ClipFraction)));
            Assert.All(u, x => Assert.True(double.IsFinite(x.RatioDeviation)));
            Assert.Equal(method is "disco" or "disco-b", !double.IsNaN(r.Steps[0].DiscoKl));
            Assert.True(double.IsFinite(r.Steps[0].K3) && double.IsFinite(r.Steps[0].Entropy));
        }
    }

    [Fact]
    public void MiniBatchesAreWholeGroupsThatCoverTheBatch()
    {
        for (int m = 1; m <= 8; m *= 2)
            foreach (var order in new[] { null, new Random(5) })
            {
                var parts = PolicyTraining.MiniBatchRows(8, 4, m, order);
                Assert.Equal(m, parts.Length);
                Assert.Equal(Enumerable.Range(0, 32), parts.SelectMany(p => p).Order());
                foreach (var p in parts)
                {
                    Assert.Equal(32 / m, p.Length);
                    var groups = p.Select(r => r / 4).Distinct().ToArray();
                    Assert.All(groups, j => Assert.Equal(Enumerable.Range(j * 4, 4), p.Where(r => r / 4 == j)));   // no group split
                    Assert.Equal(p.Order(), p);   // prompt-major inside a mini-batch
                }
                if (order is null) Assert.Equal(Enumerable.Range(0, 32 / m), parts[0]);
            }
        // The order is the seed's: the same seed gives the same split, and some seed differs from the identity order.
        Assert.Equal(PolicyTraining.MiniBatchRows(8, 4, 4, new Random(11)), PolicyTraining.MiniBatchRows(8, 4, 4, new Random(11)));
        Assert.Contains(Enumerable.Range(0, 10), s => !PolicyTraining.MiniBatchRows(8, 4, 4, new Random(s))[0].SequenceEqual(Enumerable.Range(0, 8)));
    }

    [Fact]
    public void ClipFractionEqualsADirectCount()
    {
        // 3 completions × 4 positions; the last column of row 2 is padding. ρ = exp(ℓ − ℓ^old) set per token.
        double[,] ratio = { { 1.0, 1.3, 0.7, 1.1 }, { 0.75, 1.25, 1.0, 0.9 }, { 1.5, 0.5, 1.19, 5.0 } };
        double[] adv = { 1.0, -2.0, 0.5 };
        float[,] mask = { { 1, 1, 1, 1 }, { 1, 1, 1, 1 }, { 1, 1, 1, 0 } };
        int clipped = 0, tokens = 0;
        double absDev = 0;
        var logp = new float[12];
        for (int i = 0; i < 3; i++)
            for (int t = 0; t < 4; t++)
            {
                logp[i * 4 + t] = (float)Math.Log(ratio[i, t]);
                if (mask[i, t] == 0) continue;
                tokens++;
                double rho = Math.Exp(logp[i * 4 + t]);
                absDev += Math.Abs(rho - 1);
                if ((adv[i] > 0 && rho > 1.2) || (adv[i] < 0 && rho < 0.8)) clipped++;
            }
        // Row 0 (A > 0): 1.3 clipped; row 1 (A < 0): 0.75 clipped; row 2 (A > 0): 1.5 clipped, 5.0 is padding.
        Assert.Equal(3, clipped);
        using var lp = tensor(logp).reshape(3, 4);
        using var old = zeros(3, 4);
        using var a = tensor(adv.Select(x => (float)x).ToArray()).reshape(3, 1);
        using var mk = tensor(new float[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 }).reshape(3, 4);
        Assert.Equal(clipped / (double)tokens, PolicyTraining.ClipFraction(lp, old, a, mk, 0.2, 0.2), 7);
        Assert.Equal(absDev / tokens, PolicyTraining.RatioDeviation(lp, old, mk), 6);
        // Asymmetric bounds ε_low = 0.2, ε_high = 0.31: row 0's 1.3 is now inside; row 1's 0.75 and row 2's 1.5 still count.
        Assert.Equal(2 / (double)tokens, PolicyTraining.ClipFraction(lp, old, a, mk, 0.2, 0.31), 7);
    }

    [Fact]
    public void BadSettingsFailBeforeAnythingChanges()
    {
        var ex = Assert.Throws<ArgumentException>(() => PolicyTraining.MiniBatchRows(8, 4, 3, null));
        Assert.Contains("3", ex.Message);
        Assert.Throws<ArgumentException>(() => PolicyTraining.MiniBatchRows(8, 4, 0, null));
        Assert.Throws<ArgumentException>(() => PolicyTraining.MiniBatchRows(0, 4, 1, null));
        var (task, model, sft) = Small();
        using var policy = AdditionPretraining.Copy(sft, task, model);
        using var reference = AdditionPretraining.Copy(sft, task, model);
        var before = policy.parameters().Select(p => p.detach().clone()).ToArray();
        var e1 = Assert.Throws<ArgumentException>(() => PolicyTraining.Run(policy, reference, task, new PolicyRunSettings("grpo", PromptsPerStep: 8, MiniBatches: 3), seed: 1));
        Assert.Contains("MiniBatches = 3", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => PolicyTraining.Run(policy, reference, task, new PolicyRunSettings("grpo", Epochs: 0), seed: 1));
        Assert.Contains("Epochs = 0", e2.Message);
        Assert.All(policy.parameters().Zip(before), x => Assert.True(x.First.equal(x.Second).all().item<bool>()));
        var (c, _, err) = CliTests.Run("rl", "--minibatches", "3", "--prompts", "8", "--out", "/no/such/dir");
        Assert.Equal(2, c);
        Assert.Contains("--minibatches 3", err);
        Assert.False(Directory.Exists("/no/such/dir"));
    }
}
