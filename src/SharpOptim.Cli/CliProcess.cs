using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SharpOptim.Cli;

/// <summary>
/// Starts this same command line as a child process (the benchmark's neighbours and timed trainings, and the tests'
/// Ctrl-C checks) and sends it a real SIGINT. The child runs the apphost beside SharpOptim.Cli.dll when there is one,
/// otherwise <c>dotnet SharpOptim.Cli.dll</c>.
/// </summary>
public static class CliProcess
{
    /// <summary>A start description for <c>sharpoptim ARGS</c> with stdout and stderr redirected; environment
    /// variables mapped to null are removed from the child's environment.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        string dll = typeof(CliProcess).Assembly.Location;
        string apphost = Path.ChangeExtension(dll, OperatingSystem.IsWindows() ? ".exe" : null);
        var info = File.Exists(apphost) ? new ProcessStartInfo(apphost) : new ProcessStartInfo(DotnetHost());
        if (!File.Exists(apphost)) info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        if (environment is not null)
            foreach (var (k, v) in environment)
            {
                if (v is null) info.Environment.Remove(k);
                else info.Environment[k] = v;
            }
        return info;
    }

    /// <summary>Sends SIGINT (what Ctrl-C sends) to <paramref name="process"/>; false where signals do not exist
    /// (Windows) or the process is gone.</summary>
    public static bool Interrupt(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (OperatingSystem.IsWindows() || process.HasExited) return false;
        return kill(process.Id, 2) == 0;
    }

    private static string DotnetHost()
    {
        // Running as `dotnet SharpOptim.Cli.dll` (or inside a test host started by dotnet): the same host.
        string? root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        string exe = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (root is not null && File.Exists(Path.Combine(root, exe))) return Path.Combine(root, exe);
        string? self = Environment.ProcessPath;
        if (self is not null && Path.GetFileName(self).Equals(exe, StringComparison.OrdinalIgnoreCase)) return self;
        return exe;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
