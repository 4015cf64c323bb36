using SharpOptim.Cli;
using SharpOptim.Cli.Commands;
using SharpOptim.Distributed.Mpi;
using SharpOptim.Tasks.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// The inputs of the Prox-DASA miniature and of the speed-up part of <c>bench distributed</c>: digits-l1's ℓ1 weight
/// override (what the composite metrics use; rejected where it does not apply), the <c>--yield</c> settings, and
/// <see cref="MpiJob.EnvironmentFor"/>'s yield-when-idle default for oversubscribed jobs.
/// </summary>
public class DistProxDasaScalingTests
{
    [Fact]
    public void L1OverrideSetsTheCompositeWeight()
    {
        using var task = new DistributedTask("digits-l1", l1: 1e-4);
        Assert.Equal(1e-4, task.L1);
        Assert.Contains("0.0001", task.Description, StringComparison.Ordinal);
        // objective = train_loss + l1·‖x‖₁ exactly: on x = all ones (650 entries) the ℓ1 term is 650·1e-4.
        using var model = task.CreateModel();
        var ones = Enumerable.Repeat(1f, 650).ToArray();
        var m = task.Evaluate(model, ones);
        Assert.Equal(m["train_loss"] + 1e-4 * 650, m["objective"], 12);
        using var plain = new DistributedTask("digits-l1");
        Assert.Equal(1e-3, plain.L1);
    }

    [Theory]
    [InlineData("digits", 1e-4)]
    [InlineData("digits-l1", 0)]
    [InlineData("digits-l1", -1e-4)]
    [InlineData("digits-l1", double.NaN)]
    public void L1OverrideRejectsBadInput(string name, double l1)
    {
        var e = Assert.Throws<ArgumentException>(() => new DistributedTask(name, l1: l1));
        Assert.Equal("l1", e.ParamName);
    }

    [Fact]
    public void YieldSettingsParse()
    {
        Assert.Equal([0, 1], BenchDistributedCommand.ParseYield("0,1"));
        Assert.Equal([1], BenchDistributedCommand.ParseYield("1,1"));
        Assert.Throws<UsageException>(() => BenchDistributedCommand.ParseYield("2"));
        Assert.Throws<UsageException>(() => BenchDistributedCommand.ParseYield(","));
    }

    [Fact]
    public void OversubscribedJobsYieldWhenIdle()
    {
        int cores = Environment.ProcessorCount;
        Assert.Equal("1", MpiJob.EnvironmentFor(cores + 1)[MpiJob.YieldWhenIdleVariable]);
        Assert.False(MpiJob.EnvironmentFor(cores).ContainsKey(MpiJob.YieldWhenIdleVariable));
        foreach (var (k, v) in MpiJob.JobEnvironment) Assert.Equal(v, MpiJob.EnvironmentFor(1)[k]);
        Assert.Throws<ArgumentOutOfRangeException>(() => MpiJob.EnvironmentFor(0));
    }
}
