using SharpOptim.Tasks.Policy;
using Xunit;

namespace SharpOptim.Tests.Policy;

/// <summary>The miniatures' task variants (<see cref="NoisyAdditionVariant"/>): the standard task is unchanged, the
/// leading-zeros variant changes only the answers' zeros, budget and reward, the hard subset has the stated size and
/// corpus mix, and the per-step length / hard metrics are consistent with the reward.</summary>
public class NoisyAdditionVariantTests
{
    [Fact]
    public void TheStandardTaskAndItsCacheKeyAreUnchanged()
    {
        var plain = new NoisyAddition(sftLines: 3000);
        var standard = new NoisyAddition(sftLines: 3000, variant: NoisyAdditionVariant.Standard);
        Assert.Equal(plain.SftText, standard.SftText);
        Assert.Equal(NoisyAddition.MaxNewTokens, standard.NewTokens);
        Assert.Empty(standard.HardIds);
        // The key of the cached π_ref the committed docs/policy runs used (file name in their cache directory).
        Assert.Equal("addition-sft-L2-d64-h4-b16-s2500-B64-w16-lr0.003-seed1-data1-30000-0.3-0.5-a100",
            new AdditionModelSettings().Key(new NoisyAddition()));
        Assert.NotEqual(new AdditionModelSettings().Key(new NoisyAddition()), new AdditionModelSettings().Key(new NoisyAddition(variant: NoisyAdditionVariant.LeadingZeros)));
        Assert.NotEqual(new AdditionModelSettings().Key(new NoisyAddition()), new AdditionModelSettings().Key(new NoisyAddition(variant: NoisyAdditionVariant.HardSubset)));
    }

    [Fact]
    public void LeadingZerosChangeOnlyTheAnswersZerosTheBudgetAndTheReward()
    {
        var plain = new NoisyAddition(sftLines: 4000);
        var task = new NoisyAddition(sftLines: 4000, variant: NoisyAdditionVariant.LeadingZeros);
        Assert.Equal(8, task.NewTokens);
        Assert.Equal(6, task.MaxPromptLength);
        var plainLines = plain.SftText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var lines = task.SftText.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(plainLines.Length, lines.Length);
        var zeroCounts = new int[6];
        for (int i = 0; i < lines.Length; i++)
        {
            string answer = lines[i][(lines[i].IndexOf('=') + 1)..], plainAnswer = plainLines[i][(plainLines[i].IndexOf('=') + 1)..];
            // Same problem and the same number: the zeros come from their own stream, so only the zeros differ.
            Assert.Equal(plainLines[i][..plainLines[i].IndexOf('=')], lines[i][..lines[i].IndexOf('=')]);
            Assert.EndsWith(plainAnswer, answer, StringComparison.Ordinal);
            string zeros = answer[..^plainAnswer.Length];
            Assert.True(zeros.All(c => c == '0') && zeros.Length <= 4, $"line {i}: '{lines[i]}' vs '{plainLines[i]}'");
            zeroCounts[zeros.Length]++;
        }
        // P(no zeros) = 0.5, P(k zeros) = 0.125 for k = 1..4; 4 standard deviations of a 4000-line frequency: ≤ 0.0317 and 0.021.
        Assert.InRange(zeroCounts[0] / 4000.0, 0.5 - 0.0317, 0.5 + 0.0317);
        for (int k = 1; k <= 4; k++) Assert.InRange(zeroCounts[k] / 4000.0, 0.125 - 0.021, 0.125 + 0.021);
        Assert.Equal(0, zeroCounts[5]);

        int id = task.Problems.Select((p, i) => (p, i)).First(x => x.p == (47, 8)).i;
        Assert.Equal(1.0, task.Reward(id, task.Encode("55\n")));
        Assert.Equal(1.0, task.Reward(id, task.Encode("055\n")));
        Assert.Equal(1.0, task.Reward(id, task.Encode("0000055\n")));   // 8 tokens: the whole budget
        Assert.Equal(0.0, task.Reward(id, task.Encode("0056\n")));
        Assert.Equal(0.0, task.Reward(id, task.Encode("550\n")));
        Assert.Equal(0.0, task.Reward(id, task.Encode("0055")));       // no end token
        Assert.Equal(0.0, plain.Reward(id, plain.Encode("055\n")));     // the standard task stays exact
        int zero = task.Problems.Select((p, i) => (p, i)).First(x => x.p == (0, 0)).i;
        Assert.Equal(1.0, task.Reward(zero, task.Encode("0\n")));
        Assert.Equal(1.0, task.Reward(zero, task.Encode("000\n")));
        Assert.Equal(0.0, task.Reward(zero, task.Encode("\n")));
        Assert.Equal(1.0, task.FormatReward(task.Encode("0000055\n")));
        Assert.Equal(0.0, plain.FormatReward(plain.Encode("0055\n")));
    }

    [Fact]
    public void TheHardSubsetHasItsSizeAndItsShareOfCorrectAnswers()
    {
        var task = new NoisyAddition(sftLines: 30_000, variant: NoisyAdditionVariant.HardSubset);
        Assert.Equal(200, task.HardIds.Length);
        Assert.Equal(task.HardIds.Length, Enumerable.Range(0, task.Problems.Count).Count(task.IsHard));
        Assert.Equal(task.HeldOutIds.Where(task.IsHard).OrderBy(i => i), task.HeldOutHardIds.OrderBy(i => i));
        Assert.Equal(Enumerable.Range(0, 1000).Where(i => task.Problems[i].B >= 8), task.HardIds);   // b ∈ {8, 9}
        var random = new NoisyAddition(sftLines: 200, variant: NoisyAdditionVariant.HardSubset with { HardRandom = true });
        Assert.Equal(200, random.HardIds.Length);
        Assert.NotEqual(task.HardIds, random.HardIds);
        Assert.Equal(random.HardIds, new NoisyAddition(sftLines: 300, variant: NoisyAdditionVariant.HardSubset with { HardRandom = true }).HardIds);   // depends only on the data seed
        Assert.Throws<ArgumentException>(() => new NoisyAddition(variant: new NoisyAdditionVariant(HardFraction: 0.25)));
        int hardLines = 0, hardCorrect = 0, hardOff = 0, lines = 0, correct = 0;
        foreach (var line in task.SftText.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('+', '=');
            int a = int.Parse(parts[0]), b = int.Parse(parts[1]), c = int.Parse(parts[2]);
            if (task.IsHard(a * 10 + b)) { hardLines++; if (c == a + b) hardCorrect++; else if (c == a + b + 1) hardOff++; }
            else { lines++; if (c == a + b) correct++; }
        }
        // Expected: 20% of 30,000 lines are hard (4 sd of the count: 277); correct 0.05 + 0.45/109 on hard lines
        // (4 sd at n ≈ 6000: 0.0118), off-by-one 0.5 + 0.45/109 (0.0258), and 0.3 + 0.2/109 on the others (0.0129 at n ≈ 24,000).
        Assert.InRange(hardLines, 6000 - 277, 6000 + 277);
        Assert.InRange(hardCorrect / (double)hardLines, 0.0541 - 0.0118, 0.0541 + 0.0118);
        Assert.InRange(hardOff / (double)hardLines, 0.5041 - 0.0258, 0.5041 + 0.0258);
        Assert.InRange(correct / (double)lines, 0.3018 - 0.0129, 0.3018 + 0.0129);
        Assert.Throws<ArgumentException>(() => new NoisyAddition(variant: new NoisyAdditionVariant(HardFraction: 1.5)));
        Assert.Throws<ArgumentException>(() => new NoisyAddition(variant: new NoisyAdditionVariant(MaxLeadingZeros: -1)));
    }

    [Fact]
    public void LengthAndHardMetricsAreConsistentWithTheRewards()
    {
        var task = new NoisyAddition(sftLines: 200, variant: NoisyAdditionVariant.HardSubset);
        int h = task.HardIds[0], e = Enumerable.Range(0, 1000).First(i => !task.IsHard(i));
        var (lw, lr, hr) = PolicyTraining.LengthAndHardMetrics(task, new long[] { h, h, e, e }, new[] { 2, 3, 4, 1 }, new[] { 1.0, 0, 0, 1 });
        Assert.Equal(3.5, lw);
        Assert.Equal(1.5, lr);
        Assert.Equal(0.5, hr);
        var (lw2, lr2, hr2) = PolicyTraining.LengthAndHardMetrics(new NoisyAddition(sftLines: 200), new long[] { 1, 2 }, new[] { 2, 3 }, new[] { 1.0, 1 });
        Assert.True(double.IsNaN(lw2) && double.IsNaN(hr2));
        Assert.Equal(2.5, lr2);
        Assert.Throws<ArgumentException>(() => PolicyTraining.LengthAndHardMetrics(task, new long[] { 1 }, new[] { 2, 3 }, new[] { 1.0, 1 }));

        // A tiny end-to-end run on the leading-zeros variant: the per-step lengths split the mean length exactly by reward.
        var small = new NoisyAddition(sftLines: 1000, operandRange: 10, variant: NoisyAdditionVariant.LeadingZeros);
        var model = new AdditionModelSettings(Layers: 1, Dim: 16, Heads: 2, BlockSize: 12, Steps: 40, Batch: 16, Window: 12, Seed: 3);
        var (policy, _) = AdditionPretraining.Train(small, model);
        using var reference = AdditionPretraining.Copy(policy, small, model);
        var run = PolicyTraining.Run(policy, reference, small, new PolicyRunSettings("dr-grpo", Steps: 3, PromptsPerStep: 4, GroupSize: 4, EvalEvery: 10), seed: 1);
        foreach (var s in run.Steps)
        {
            double wrong = double.IsNaN(s.LengthWrong) ? 0 : (1 - s.Reward) * s.LengthWrong, right = double.IsNaN(s.LengthRight) ? 0 : s.Reward * s.LengthRight;
            Assert.Equal(s.Length, wrong + right, 9);
            Assert.InRange(s.Length, 1, small.NewTokens);
            Assert.True(double.IsNaN(s.HardReward));
        }
        Assert.Throws<ArgumentException>(() => PolicyTraining.Run(policy, reference, small, new PolicyRunSettings("grpo", PromptsPerStep: 4, TrainPrompts: 3), seed: 1));
        Assert.Throws<ArgumentException>(() => PolicyTraining.Run(policy, reference, small, new PolicyRunSettings("grpo", PromptsPerStep: 4, TrainPrompts: small.TrainIds.Length + 1), seed: 1));
        policy.Dispose();
        Assert.Throws<ArgumentException>(() => AdditionPretraining.NewModel(small, model with { BlockSize = 11 }));
    }
}
