using System.Diagnostics;
using SharpOptim.MultiTask;
using SharpOptim.Optimizers;
using SharpOptim.Tasks.Data;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.MultiTask;

/// <summary>Trains a <see cref="MultiTaskProblem"/> with one <see cref="GradientBalancer"/> and SharpOptim's Adam: per
/// step a batch, the trunk forward, the balancer's backward passes (in its preferred mode), Adam's step; held-out
/// metrics every few steps.</summary>
public static class MultiTaskTrainer
{
    /// <summary>One run. <paramref name="singleTask"/> marks a single-task reference (the balancer is then a one-hot
    /// <see cref="FixedWeights"/>). A non-finite loss ends the run, marked diverged.</summary>
    public static MultiTaskRunResult Train(MultiTaskProblem problem, ClassificationData data, MultiTaskTargets train, MultiTaskTargets test,
        string name, GradientBalancer balancer, int seed, int steps, int evalEvery, int? singleTask = null,
        CancellationToken cancel = default, Action<int>? progress = null)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "at least one step.");
        if (evalEvery < 1) throw new ArgumentOutOfRangeException(nameof(evalEvery), evalEvery, "at least 1.");
        random.manual_seed(seed);
        using var net = new MultiTaskNet(problem);
        using var opt = new Adam(net.parameters(), lr: problem.LearningRate);
        var shared = net.TrunkParameters.Cast<Tensor>().ToList();
        var batches = new BatchOrder((int)data.TrainX.shape[0], problem.BatchSize, seed);
        var result = new MultiTaskRunResult { Balancer = name, Seed = seed, SingleTask = singleTask };
        double conflicts = 0;
        var sw = new Stopwatch();
        net.train();
        for (int step = 1; step <= steps && !cancel.IsCancellationRequested; step++)
        {
            using (var scope = NewDisposeScope())
            {
                using var idx = tensor(batches.Next());
                var x = data.TrainX.index_select(0, idx);
                using var y = train.Select(idx);
                sw.Restart();
                opt.zero_grad();
                var z = net.Trunk(x);
                BalanceReport report;
                try
                {
                    report = balancer.PreferredMode == BalancingMode.SharedParameters
                        ? balancer.Backward(net.Losses(z, y), shared)
                        : balancer.Backward(z, r => net.Losses(r, y));
                }
                catch (ArgumentException e) when (e.Message.Contains("loss is", StringComparison.Ordinal))
                {
                    result.Diverged = true;
                    break;
                }
                opt.step();
                sw.Stop();
                result.StepMs.Add(sw.Elapsed.TotalMilliseconds);
                result.TrainLoss.Add(report.Losses.Sum());
                result.Weights.Add(report.Weights);
                result.Passes = report.Describe();
                result.PassCounts = (report.FullBackwardPasses, report.HeadBackwardPasses, report.TrunkBackwardPasses, report.ExtraHeadForwardPasses);
                if (balancer is PCGrad pc) conflicts += pc.LastConflictFraction;
            }
            result.Steps = step;
            if (step % evalEvery == 0 || step == steps)
                result.Evaluations.Add((step, net.Metrics(data.TestX, test)));
            progress?.Invoke(step);
        }
        result.Completed = result.Steps == steps && !result.Diverged;
        result.FinalMetrics = result.Evaluations.Count > 0 ? result.Evaluations[^1].Metrics : net.Metrics(data.TestX, test);
        if (balancer is PCGrad && result.Steps > 0) result.ConflictFraction = conflicts / result.Steps;
        return result;
    }
}
