using SharpOptim.Cli;
using SharpOptim.Distributed.Mpi;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// Starts the built <c>sharpoptim</c> (the SharpOptim.Cli.dll copied beside the test assembly, run by the same dotnet
/// host) as a real Open MPI job: <c>mpirun -np RANKS [one-machine flags] dotnet SharpOptim.Cli.dll ARGS</c>, with a
/// timeout that kills the whole process tree. For tests such as "D-SGD under mpirun equals the in-process run":
/// <code>var job = MpiTestRunner.Run(4, ["dist", "--backend", "mpi", ...], TimeSpan.FromSeconds(60));
/// Assert.True(job.ExitCode == 0, job.Describe()); string rank0 = job.RankStdout[0];</code>
/// </summary>
public static class MpiTestRunner
{
    /// <summary>Runs <paramref name="cliArgs"/> as <paramref name="ranks"/> processes; each rank's stdout and stderr
    /// are in the result, indexed by rank. Throws only when Open MPI is missing (use <see cref="MpiFactAttribute"/>).</summary>
    public static MpiJobResult Run(int ranks, string[] cliArgs, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(cliArgs);
        var start = CliProcess.StartInfo(cliArgs);
        var command = new List<string> { start.FileName };
        command.AddRange(start.ArgumentList);
        return MpiJob.Run(ranks, command, timeout);
    }

    /// <summary>The values of the line "RESULT NAME RANK v1 v2 ..." in <paramref name="stdout"/> (what
    /// <c>mpi-selftest</c> prints), or throws naming what is missing.</summary>
    public static string[] Result(string stdout, string name, int rank) => Line(stdout, "RESULT", name, rank);

    /// <summary>The fields after "PREFIX NAME RANK" of the first such line.</summary>
    public static string[] Line(string stdout, string prefix, string name, int rank)
    {
        string key = FormattableString.Invariant($"{prefix} {name} {rank}");
        foreach (var line in stdout.Split('\n'))
        {
            int at = line.IndexOf(key, StringComparison.Ordinal);
            if (at < 0) continue;
            string rest = line[(at + key.Length)..].Trim();
            if (at + key.Length < line.Length && line[at + key.Length] != ' ') continue;
            return rest.Length == 0 ? [] : rest.Split(' ');
        }
        throw new Xunit.Sdk.XunitException($"no '{key}' line in:\n{stdout}");
    }
}
