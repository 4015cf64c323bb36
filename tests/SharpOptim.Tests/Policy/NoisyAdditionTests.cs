using SharpOptim.Tasks.Policy;
using Xunit;
using Xunit.Abstractions;

namespace SharpOptim.Tests.Policy;

/// <summary>The noisy-addition task (brief §0.2): exact rewards, the corpus mix, and a tiny end-to-end GRPO run that must
/// raise the sampled accuracy.</summary>
public class NoisyAdditionTests(ITestOutputHelper output)
{
    [Fact]
    public void RewardsAreExact()
    {
        var task = new NoisyAddition(sftLines: 2000);
        Assert.Equal(13, task.Vocabulary);
        int id = task.Problems.Select((p, i) => (p, i)).First(x => x.p == (47, 8)).i;
        Assert.Equal("\n47+8=", task.Decode(task.Prompt(id)));
        Assert.Equal(1.0, task.Reward(id, task.Encode("55\n")));
        Assert.Equal(1.0, task.Reward(id, task.Encode("55\n\n")));
        Assert.Equal(0.0, task.Reward(id, task.Encode("56\n")));
        Assert.Equal(0.0, task.Reward(id, task.Encode("5555")));   // no end token within the budget
        Assert.Equal(0.0, task.Reward(id, task.Encode("055\n")));
        Assert.Equal(1.0, task.FormatReward(task.Encode("56\n")));
        Assert.Equal(0.0, task.FormatReward(task.Encode("5+\n")));
        Assert.Equal(0.0, task.FormatReward(task.Encode("\n")));
        Assert.Equal(800, task.TrainIds.Length);
        Assert.Equal(200, task.HeldOutIds.Length);
        Assert.Empty(task.TrainIds.Intersect(task.HeldOutIds));
    }

    [Fact]
    public void TheCorpusHasTheBriefsMixOfCorrectOffByOneAndRandomSums()
    {
        var task = new NoisyAddition(sftLines: 20_000);
        int correct = 0, offByOne = 0, lines = 0;
        foreach (var line in task.SftText.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('+', '=');
            int a = int.Parse(parts[0]), b = int.Parse(parts[1]), c = int.Parse(parts[2]);
            lines++;
            if (c == a + b) correct++;
            else if (c == a + b + 1) offByOne++;
        }
        Assert.Equal(20_000, lines);
        // Expected 0.3 + 0.2/109 and 0.5 + 0.2/109; 4 standard deviations of a 20,000-line frequency are ≤ 0.0142.
        Assert.InRange(correct / (double)lines, 0.3018 - 0.0142, 0.3018 + 0.0142);
        Assert.InRange(offByOne / (double)lines, 0.5018 - 0.0142, 0.5018 + 0.0142);
    }

    [Fact]
    public void AFewGrpoStepsRaiseTheSampledAccuracyOnATinyModel()
    {
        // Tiny setting: a < 10 (100 problems), a 1-layer width-32 model, 300 supervised steps, 60 GRPO steps at lr 3e-3.
        // Measured (one run, seeded, so deterministic): sampled accuracy on the 80 training prompts 0.125 -> 0.210; with
        // lr 1e-2 the same run fell to 0.061, with 30 steps at 3e-3 it reached 0.171.
        var task = new NoisyAddition(sftLines: 3000, operandRange: 10);
        var model = new AdditionModelSettings(Layers: 1, Dim: 32, Heads: 4, BlockSize: 12, Steps: 300, Batch: 32, Window: 12, LearningRate: 1e-2, Seed: 2);
        var (policy, loss) = AdditionPretraining.Train(task, model);
        var reference = AdditionPretraining.Copy(policy, task, model);
        double before = PolicyTraining.SampledAccuracy(policy, task, task.TrainIds, 10, 77);
        var settings = new PolicyRunSettings("grpo", Steps: 60, PromptsPerStep: 8, GroupSize: 8, LearningRate: 3e-3, EvalEvery: 100);
        var run = PolicyTraining.Run(policy, reference, task, settings, seed: 1);
        double after = PolicyTraining.SampledAccuracy(policy, task, task.TrainIds, 10, 77);
        output.WriteLine($"SFT loss {loss:F3}; sampled accuracy on the 80 training prompts {before:F3} -> {after:F3}; held-out greedy {run.GreedyBefore:F3} -> {run.GreedyAfter:F3}; {run.Seconds:F1} s");
        // 800 samples per estimate (80 prompts x 10) at p ≈ 0.15: sd ≈ 0.013 each, 0.018 for the difference; a rise of
        // 0.05 is 2.8 sd, so a run that did not learn passes rarely, and the measured rise (0.085) leaves 0.035 of margin
        // for thread-count rounding differences in the sampled stream.
        Assert.True(after - before >= 0.05, $"sampled accuracy {before:F3} -> {after:F3}");
    }
}
