using SharpOptim.Cli;
using SharpOptim.Cli.Commands;
using SharpOptim.Distributed.Mpi;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>The parts of the Open MPI backend that run without mpirun: the traffic convention, the launcher's flags,
/// the per-rank output split, the skip message, and the refusal to initialise MPI outside mpirun.</summary>
public sealed class MpiBackendUnitTests
{
    [Fact]
    public void RingAllReduceTrafficIsTwoDTimesNMinusOneOverN()
    {
        Assert.Equal(0, MpiCommunicator.RingAllReduceFloats(1000, 1)); // one worker sends nothing
        Assert.Equal(1000, MpiCommunicator.RingAllReduceFloats(1000, 2));
        Assert.Equal(1500, MpiCommunicator.RingAllReduceFloats(1000, 4));
        Assert.Equal(10, MpiCommunicator.RingAllReduceFloats(7, 4)); // ⌊10.5⌋
        Assert.Equal(1750, MpiCommunicator.RingAllReduceFloats(1000, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => MpiCommunicator.RingAllReduceFloats(-1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => MpiCommunicator.RingAllReduceFloats(10, 0));
    }

    [Fact]
    public void TheLauncherRunsOnLoopbackAndSharedMemoryOnly()
    {
        var args = MpiJob.LauncherArguments(4);
        Assert.Equal(["-np", "4"], args.Take(2));
        string line = string.Join(' ', args);
        Assert.Contains("--oversubscribe", line);
        Assert.Contains("--bind-to none", line);
        Assert.Contains("--mca btl self,vader", line);
        Assert.Contains("--mca pml ob1", line);
        Assert.Contains("--mca oob_tcp_if_include lo", line);
        Assert.Contains("--tag-output", line);
        Assert.Equal("1", MpiJob.JobEnvironment["OMPI_ALLOW_RUN_AS_ROOT"]);
        Assert.Equal("1", MpiJob.JobEnvironment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"]);
        Assert.Equal("none", MpiJob.JobEnvironment["OMPI_MCA_btl_vader_single_copy_mechanism"]);
        Assert.Throws<ArgumentOutOfRangeException>(() => MpiJob.LauncherArguments(0));
        Assert.Throws<ArgumentException>(() => MpiJob.Run(2, [], TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void TaggedOutputIsSplitByRankEvenWhenWritesRunTogether()
    {
        string stdout = "[1,0]<stdout>:a\n[1,1]<stdout>:b\n[1,0]<stdout>:par[1,1]<stdout>:c\n[1,0]<stdout>:tial\nplain launcher line\n";
        string stderr = "[1,1]<stderr>:oops\n--------\n";
        var (outs, errs, launcher) = MpiJob.Split(2, stdout, stderr);
        Assert.Equal("a\npartial\n", outs[0]);
        Assert.Equal("b\nc\n", outs[1]);
        Assert.Equal("", errs[0]);
        Assert.Equal("oops\n", errs[1]);
        Assert.Equal("plain launcher line\n--------\n", launcher);
    }

    [Fact]
    public void WithoutOpenMpiTheTestsAreSkippedWithTheReasonAndTheInstallLine()
    {
        Assert.Null(MpiFactAttribute.SkipReason(null));
        string reason = MpiFactAttribute.SkipReason("Open MPI not found (mpirun is not on the PATH): install openmpi-bin libopenmpi-dev")!;
        Assert.StartsWith("Open MPI not found (mpirun", reason);
        Assert.EndsWith("install openmpi-bin libopenmpi-dev", reason);
        Assert.Contains("install openmpi-bin libopenmpi-dev", MpiFactAttribute.SkipReason("something else")!);
        // This machine's own answer is consistent: available, or a reason that names the packages.
        Assert.Equal(MpiRuntime.UnavailableReason is null, MpiRuntime.IsAvailable);
        if (!MpiRuntime.IsAvailable) Assert.Contains(MpiRuntime.InstallHint, MpiRuntime.UnavailableReason);
        else Assert.StartsWith("Open MPI v", MpiRuntime.LibraryVersion);
    }

    [Fact]
    public void MpiIsNeverInitialisedOutsideMpirun()
    {
        Assert.False(MpiRuntime.IsLaunchedByMpirun); // the test host is not an MPI rank
        var e = Assert.Throws<InvalidOperationException>(() => MpiCommunicator.InitializeWorld());
        Assert.Contains("not started by mpirun", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => MpiCommunicator.InitializeWorld(0));
        var (code, _, err) = CliTests.Run("mpi-selftest");
        Assert.Equal(2, code);
        Assert.Contains("runs under mpirun", err);
    }

    [Fact]
    public void TheBenchmarkRefusesBadSizesAndRankCounts()
    {
        var (helpCode, help, _) = CliTests.Run("bench", "allreduce", "--help");
        Assert.Equal(0, helpCode);
        Assert.StartsWith("usage: sharpoptim bench allreduce [options]", help);
        Assert.Contains("--ranks", help);
        Assert.DoesNotContain("mpi-selftest", help);
        Assert.Equal(2, CliTests.Run("bench", "allreduce", "--sizes", "3").Code);
        Assert.Equal([1024L, 65536, 1 << 20], BenchAllReduceCommand.ParseSizes("64K,1K,1M"));
        Assert.Equal(BenchAllReduceCommand.DefaultSizes, BenchAllReduceCommand.ParseSizes(null));
        Assert.Equal(9, BenchAllReduceCommand.DefaultSizes.Length);
        Assert.Equal(1L << 10, BenchAllReduceCommand.DefaultSizes[0]);
        Assert.Equal(64L << 20, BenchAllReduceCommand.DefaultSizes[^1]);
        foreach (var bad in new[] { "0", "3", "1G", "-4", "x", "2048M" })
            Assert.Contains("--sizes", Assert.Throws<UsageException>(() => BenchAllReduceCommand.ParseSizes(bad)).Message);
        Assert.Equal([2, 4], BenchAllReduceCommand.ParseRanks("4,2"));
        foreach (var bad in new[] { "1", "65", "two", "" })
            Assert.Contains("--ranks", Assert.Throws<UsageException>(() => BenchAllReduceCommand.ParseRanks(bad)).Message);
    }
}
