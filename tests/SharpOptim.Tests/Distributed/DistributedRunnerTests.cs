using SharpOptim.Distributed;
using SharpOptim.Tasks.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>The per-rank body of <c>sharpoptim dist</c> on the real digits task: traffic accounting and checks.</summary>
public class DistributedRunnerTests
{
    private static readonly Lazy<DistributedTask> Digits = new(() => new DistributedTask("digits"));

    private static DistributedRunResult Run(string algorithm, int workers, int rounds, Dictionary<string, double> hyper, string topology = "ring")
    {
        var options = new DistributedRunOptions(algorithm, Digits.Value, workers, topology, "iid", 0.1, rounds, 1, 16, 0, hyper);
        DistributedRunResult? result = null;
        InProcessWorld.Run(workers, comm =>
        {
            var r = DistributedRunner.RunRank(comm, options);
            if (comm.Rank == 0) result = r;
            else Assert.Null(r);
        }, TimeSpan.FromSeconds(60));
        return result!;
    }

    [Fact]
    public void BytesFollowTheConventionsAndExcludeEvaluation()
    {
        int d = 64 * 64 + 64 + 64 * 10 + 10;
        // D-SGD on a ring: each round sends d floats to each of 2 out-neighbours.
        var dsgd = Run("dsgd", 4, 3, new());
        Assert.Equal(3.0 * 2 * d * 4, dsgd.Final.BytesSent);
        Assert.Equal(4, dsgd.Curve.Count);                 // round 0 and after every round
        Assert.Equal(0, dsgd.Curve[0].ConsensusError);     // common start
        Assert.True(dsgd.Final.ConsensusError > 0);
        Assert.Equal(3, dsgd.Final.GradientEvaluations);
        // DiLoCo: one ring all-reduce of d floats (2·d·(n−1)/n per worker) per H = 5 inner steps.
        var diloco = Run("diloco", 4, 3, new() { ["inner_steps"] = 5 });
        Assert.Equal(3.0 * (2L * d * 3 / 4) * 4, diloco.Final.BytesSent);
        Assert.Equal(15, diloco.Final.GradientEvaluations);
        Assert.Equal(3, diloco.GlobalSyncs);
        Assert.Equal(0, diloco.Final.ConsensusError);      // every worker reports the same global model
        Assert.True(diloco.Final.Metrics["train_loss"] < diloco.Curve[0].Metrics["train_loss"]);
    }

    [Fact]
    public void MismatchesAndTyposFailBeforeRunning()
    {
        var options = new DistributedRunOptions("dsgd", Digits.Value, 3, "ring", "iid", 0.1, 2, 1, 16, 0, new Dictionary<string, double>());
        var e = Assert.Throws<ArgumentException>(() => InProcessWorld.Run(4, comm => DistributedRunner.RunRank(comm, options)));
        Assert.Contains("3 workers", e.Message);
        var typo = options with { Workers = 4, Hyperparameters = new Dictionary<string, double> { ["lr_"] = 0.1 } };
        var e2 = Assert.Throws<ArgumentException>(() => InProcessWorld.Run(4, comm => DistributedRunner.RunRank(comm, typo)));
        Assert.Contains("lr_", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => DistributedAlgorithms.Get("dsgd2"));
        Assert.Contains("diloco", e3.Message);
    }
}
