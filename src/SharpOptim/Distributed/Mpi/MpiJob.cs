using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace SharpOptim.Distributed.Mpi;

/// <summary>
/// Starts a real Open MPI job on this machine: <c>mpirun -np N [flags] COMMAND...</c> with the settings a one-machine
/// run needs (the brief's §15.11), a hard timeout that kills the whole process tree, and each rank's output separated.
/// Used by the tests, by <c>sharpoptim bench allreduce</c>, and by anyone who wants to start a distributed command
/// from .NET; users may equally type the same <c>mpirun</c> line (<see cref="LauncherArguments"/>) in a shell.
/// </summary>
/// <remarks>
/// Settings and why: <c>OMPI_ALLOW_RUN_AS_ROOT=1</c> and <c>OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1</c> (mpirun refuses
/// root otherwise; CI containers run as root); <c>--oversubscribe</c> (more ranks than cores, e.g. 4 on 2) and
/// <c>--bind-to none</c> (do not pin oversubscribed ranks); <c>--mca btl self,vader</c> (loopback and shared memory
/// only: nothing leaves the machine) and <c>--mca pml ob1</c> (no UCX/fabric layer that warns or fails without
/// hardware); <c>--mca oob_tcp_if_include lo</c> (the runtime's own wire-up on loopback);
/// <c>OMPI_MCA_btl_vader_single_copy_mechanism=none</c> (containers often forbid the cross-memory-attach copy, which
/// breaks every large message: open-mpi/ompi#4948); <c>OMPI_MCA_mpi_yield_when_idle=1</c> when the job has more ranks
/// than logical cores (<see cref="EnvironmentFor"/>: waiting ranks yield the core instead of spinning); <c>--tag-output</c> (prefix every line with its rank). The flags
/// are Open MPI 4.x's (Debian 12); Open MPI 5 renamed some of them.
/// </remarks>
public static partial class MpiJob
{
    /// <summary>The environment variables every job is started with (see the class remarks).</summary>
    public static readonly IReadOnlyDictionary<string, string> JobEnvironment = new Dictionary<string, string>
    {
        ["OMPI_ALLOW_RUN_AS_ROOT"] = "1",
        ["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1",
        ["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none",
        // .NET's console writes terminal set-up sequences when TERM names a capable terminal; they would land,
        // without a line end, in the middle of the ranks' tagged output.
        ["TERM"] = "dumb",
    };

    /// <summary>
    /// Open MPI's yield-when-idle parameter: with 1, a rank waiting inside an MPI call calls sched_yield between polls
    /// instead of spinning. <see cref="EnvironmentFor"/> sets it to 1 for oversubscribed jobs (more ranks than
    /// logical cores): measured by <c>sharpoptim bench distributed --part speedup</c> (docs/distributed/bench), 4 spinning
    /// ranks of data-parallel SGD on 2 shared cores took 3.7–4.1× longer per round than 4 yielding ones (two runs; 2
    /// ranks: 1.4–4.8×, so a loaded machine gains even without oversubscription, but the default follows the rank count,
    /// which is all a launcher knows). A caller's environment overrides it (e.g. "0" to measure spinning).
    /// </summary>
    public const string YieldWhenIdleVariable = "OMPI_MCA_mpi_yield_when_idle";

    /// <summary>
    /// The environment a job of <paramref name="ranks"/> ranks starts with: <see cref="JobEnvironment"/>, plus
    /// <see cref="YieldWhenIdleVariable"/> = 1 when <paramref name="ranks"/> exceeds <see cref="Environment.ProcessorCount"/>.
    /// </summary>
    public static IReadOnlyDictionary<string, string> EnvironmentFor(int ranks)
    {
        if (ranks < 1) throw new ArgumentOutOfRangeException(nameof(ranks), ranks, "an MPI job needs at least 1 rank.");
        var env = new Dictionary<string, string>(JobEnvironment);
        if (ranks > Environment.ProcessorCount) env[YieldWhenIdleVariable] = "1";
        return env;
    }

    /// <summary>mpirun's arguments before the command (see the class remarks).</summary>
    public static IReadOnlyList<string> LauncherArguments(int ranks)
    {
        if (ranks < 1) throw new ArgumentOutOfRangeException(nameof(ranks), ranks, "an MPI job needs at least 1 rank.");
        return
        [
            "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "--oversubscribe", "--bind-to", "none",
            "--mca", "btl", "self,vader", "--mca", "pml", "ob1", "--mca", "oob_tcp_if_include", "lo", "--tag-output",
        ];
    }

    /// <summary>
    /// Runs <paramref name="command"/> (program and arguments) as <paramref name="ranks"/> MPI processes and waits for
    /// the job to end or for <paramref name="timeout"/> to pass; at the timeout mpirun and every process under it are
    /// killed and <see cref="MpiJobResult.TimedOut"/> is set. Never throws for a failing job: the exit code and
    /// output say what happened.
    /// </summary>
    /// <exception cref="InvalidOperationException">Open MPI is not available (the message says how to install it).</exception>
    public static MpiJobResult Run(int ranks, IReadOnlyList<string> command, TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Count == 0) throw new ArgumentException("the command to run under mpirun is empty.", nameof(command));
        if (timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "the timeout must be positive.");
        var launcher = LauncherArguments(ranks);
        string mpirun = MpiRuntime.MpirunPath ?? throw new InvalidOperationException(MpiRuntime.UnavailableReason);

        var info = new ProcessStartInfo(mpirun)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in launcher) info.ArgumentList.Add(a);
        foreach (var a in command) info.ArgumentList.Add(a);
        // A job started from inside another MPI job must not inherit the outer job's identity.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("OMPI_COMM_WORLD", StringComparison.Ordinal) || k.StartsWith("PMIX_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(key);
        foreach (var (k, v) in EnvironmentFor(ranks)) info.Environment[k] = v;
        if (environment is not null)
            foreach (var (k, v) in environment)
            {
                if (v is null) info.Environment.Remove(k);
                else info.Environment[k] = v;
            }
        string commandLine = string.Join(' ', new[] { "mpirun" }.Concat(launcher).Concat(command).Select(Quote));

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {mpirun}.");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        bool timedOut = !process.WaitForExit(timeout);
        if (timedOut)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It ended between the wait and the kill.
            }
            process.WaitForExit();
        }
        else process.WaitForExit(); // drains the redirected streams
        // Ranks killed with the tree close their ends of the pipes; give the readers a bounded time all the same.
        Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(10));
        clock.Stop();
        string outText = stdout.IsCompletedSuccessfully ? stdout.Result : "";
        string errText = stderr.IsCompletedSuccessfully ? stderr.Result : "";
        var (rankOut, rankErr, launcherOut) = Split(ranks, outText, errText);
        return new MpiJobResult(timedOut ? -1 : process.ExitCode, timedOut, clock.Elapsed, rankOut, rankErr, launcherOut, commandLine);
    }

    /// <summary>Splits mpirun's <c>--tag-output</c> text ("[job,rank]&lt;stdout&gt;:line") into per-rank streams. A rank's
    /// write without a line end can run into the next tag on the same line, so tags are found anywhere in a line and
    /// each fragment goes to the tag before it.</summary>
    internal static (string[] Stdout, string[] Stderr, string Launcher) Split(int ranks, string stdout, string stderr)
    {
        var outs = Enumerable.Range(0, ranks).Select(_ => new StringBuilder()).ToArray();
        var errs = Enumerable.Range(0, ranks).Select(_ => new StringBuilder()).ToArray();
        var launcher = new StringBuilder();
        foreach (var raw in (stdout + "\n" + stderr).Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            var tags = TagPattern().Matches(line);
            if (tags.Count == 0 || tags[0].Index > 0)
                launcher.Append(tags.Count == 0 ? line : line[..tags[0].Index]).Append('\n');
            for (int t = 0; t < tags.Count; t++)
            {
                var m = tags[t];
                int end = t + 1 < tags.Count ? tags[t + 1].Index : line.Length;
                string text = line[(m.Index + m.Length)..end];
                bool last = t + 1 == tags.Count;
                if (int.TryParse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture, out int rank) && rank >= 0 && rank < ranks)
                {
                    var target = (m.Groups[2].Value == "stdout" ? outs : errs)[rank];
                    target.Append(text);
                    if (last) target.Append('\n');
                }
                else launcher.Append(m.Value).Append(text).Append(last ? "\n" : "");
            }
        }
        return (outs.Select(b => b.ToString()).ToArray(), errs.Select(b => b.ToString()).ToArray(), launcher.ToString());
    }

    private static string Quote(string a) => a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./,=:+@".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'";

    [GeneratedRegex(@"\[\d+,(\d+)\]<(stdout|stderr)>:")]
    private static partial Regex TagPattern();
}
