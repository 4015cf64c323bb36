using SharpOptim.Distributed;
using SharpOptim.Tasks.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// The runner's local-model evaluation (<see cref="DistributedRunOptions.EvaluateLocalModels"/>): exact invariants.
/// It only observes, so every point of a run (metrics of x̄, consensus, bytes, gradient counts) is bit for bit the
/// same with and without it; with one worker the local model is the merged model, so the local accuracy equals the
/// merged accuracy (up to the float32 the gathered accuracies travel in).
/// </summary>
public class DistLocalEvalTests
{
    private static readonly Lazy<DistributedTask> Task = new(() => new DistributedTask("digits"));

    private static DistributedRunResult Run(string algorithm, int workers, int rounds, int evalEvery, bool local, Dictionary<string, double> hyper)
    {
        var options = new DistributedRunOptions(algorithm, Task.Value, workers, workers >= 3 ? "ring" : "fully-connected", "dirichlet", 0.3, rounds, evalEvery, 8, 1, hyper,
            EvaluateLocalModels: local);
        DistributedRunResult? result = null;
        InProcessWorld.Run(workers, comm =>
        {
            var r = DistributedRunner.RunRank(comm, options);
            if (comm.Rank == 0) result = r;
        }, TimeSpan.FromSeconds(120));
        return result!;
    }

    private static readonly string[] LocalKeys = ["local_test_accuracy_mean", "local_test_accuracy_best", "local_test_accuracy_worst"];

    private static void AssertSameRun(DistributedRunResult off, DistributedRunResult on)
    {
        Assert.Equal(off.Curve.Count, on.Curve.Count);
        for (int i = 0; i < off.Curve.Count; i++)
        {
            var a = off.Curve[i];
            var b = on.Curve[i];
            Assert.Equal(a.Round, b.Round);
            Assert.Equal(a.GradientEvaluations, b.GradientEvaluations);
            Assert.Equal(a.BytesSent, b.BytesSent);
            Assert.Equal(a.ConsensusError, b.ConsensusError);
            Assert.Equal(a.Metrics.Count, b.Metrics.Keys.Count(k => !LocalKeys.Contains(k)));
            foreach (var (k, v) in a.Metrics) Assert.Equal(v, b.Metrics[k]);
            Assert.Equal(i == off.Curve.Count - 1, LocalKeys.All(b.Metrics.ContainsKey));
            Assert.DoesNotContain(a.Metrics.Keys, LocalKeys.Contains);
        }
        Assert.Equal(off.Messages, on.Messages);
        Assert.Equal(off.GlobalSyncs, on.GlobalSyncs);
    }

    [Fact]
    public void SingleMergingLocalEvaluationChangesNoNumberOfTheRun()
    {
        // r = 0.5 random gossip then the final merge: the hook fires inside the last round, right before the merge.
        var hyper = new Dictionary<string, double> { ["local_steps"] = 3, ["r_start"] = 0.5, ["point1"] = 1 };
        var off = Run("single-merging", 4, 6, 2, local: false, hyper);
        var on = Run("single-merging", 4, 6, 2, local: true, hyper);
        AssertSameRun(off, on);
        var m = on.Final.Metrics;
        // The merged models are equal (Ξ = 0 after the merge) while the local accuracies were taken before it: they differ
        // from one another on non-iid shards, so best > worst shows the hook saw the unmerged models.
        Assert.Equal(0, on.Final.ConsensusError);
        Assert.True(m["local_test_accuracy_best"] > m["local_test_accuracy_worst"], $"best {m["local_test_accuracy_best"]} worst {m["local_test_accuracy_worst"]}");
        Assert.InRange(m["local_test_accuracy_mean"], m["local_test_accuracy_worst"], m["local_test_accuracy_best"]);
    }

    [Fact]
    public void DsgdLocalEvaluationChangesNoNumberOfTheRun()
    {
        var hyper = new Dictionary<string, double>();
        AssertSameRun(Run("dsgd", 4, 6, 3, local: false, hyper), Run("dsgd", 4, 6, 3, local: true, hyper));
    }

    [Fact]
    public void OneWorkerWithoutGossipLocalAccuracyEqualsMergedAccuracy()
    {
        // r = 0 and one worker: the merge averages one model, so the model before the merge is the merged model.
        var r = Run("single-merging", 1, 4, 4, local: true, new Dictionary<string, double> { ["local_steps"] = 3, ["r_start"] = 0, ["point1"] = 1 });
        double merged = (float)r.Final.Metrics["test_accuracy"];
        foreach (var k in LocalKeys) Assert.Equal(merged, r.Final.Metrics[k]);
    }
}
