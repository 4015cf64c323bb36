namespace SharpOptim.Cli;

/// <summary>The machine's 1-, 5- and 15-minute load averages (/proc/loadavg), which benchmark reports print to say how
/// shared the machine was while they measured.</summary>
internal static class MachineLoad
{
    /// <summary>The three averages joined by <paramref name="separator"/>, or <paramref name="unavailable"/> where
    /// /proc/loadavg cannot be read (not Linux, no permission).</summary>
    public static string Averages(string separator = " ", string unavailable = "unknown")
    {
        try
        {
            return string.Join(separator, File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return unavailable;
        }
        catch (UnauthorizedAccessException)
        {
            return unavailable;
        }
    }
}
