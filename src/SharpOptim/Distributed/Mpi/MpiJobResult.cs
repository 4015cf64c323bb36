namespace SharpOptim.Distributed.Mpi;

/// <summary>What an <c>mpirun</c> job started by <see cref="MpiJob.Run"/> left behind.</summary>
/// <param name="ExitCode">mpirun's exit code (non-zero when a rank failed or aborted; -1 when it was killed at the timeout).</param>
/// <param name="TimedOut">True when the job ran past its timeout and its whole process tree was killed.</param>
/// <param name="Elapsed">Wall time from the start of mpirun to its end (or to the kill).</param>
/// <param name="RankStdout">Each rank's standard output (from mpirun's <c>--tag-output</c> prefixes), indexed by rank.</param>
/// <param name="RankStderr">Each rank's standard error, indexed by rank.</param>
/// <param name="LauncherOutput">What mpirun printed itself (lines without a rank prefix, stdout and stderr), such as
/// its own report of an aborted job.</param>
/// <param name="CommandLine">The command line that was run, for messages.</param>
public sealed record MpiJobResult(int ExitCode, bool TimedOut, TimeSpan Elapsed, IReadOnlyList<string> RankStdout,
    IReadOnlyList<string> RankStderr, string LauncherOutput, string CommandLine)
{
    /// <summary>Everything the job printed, rank by rank and then mpirun's own lines: for failure messages.</summary>
    public string Describe()
    {
        var b = new System.Text.StringBuilder();
        b.AppendLine($"$ {CommandLine}");
        b.AppendLine(TimedOut ? $"killed after {Elapsed.TotalSeconds:F1} s (timeout)" : $"exit code {ExitCode} after {Elapsed.TotalSeconds:F1} s");
        for (int r = 0; r < RankStdout.Count; r++)
        {
            if (RankStdout[r].Length > 0) b.Append($"--- rank {r} stdout\n{RankStdout[r]}");
            if (RankStderr[r].Length > 0) b.Append($"--- rank {r} stderr\n{RankStderr[r]}");
        }
        if (LauncherOutput.Length > 0) b.Append($"--- mpirun\n{LauncherOutput}");
        return b.ToString();
    }
}
