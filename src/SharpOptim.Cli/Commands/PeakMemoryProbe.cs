using System.Diagnostics;
using System.Globalization;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// Peak resident memory of one piece of work, measured in a child process of this command (Linux): the parent starts
/// <c>sharpoptim ARGS</c> with glibc's mmap and trim thresholds at 4 KiB (allocations of 4 KiB and more are mapped and
/// unmapped, so freed tensors leave the resident set and resident size tracks live memory) and reads the
/// <c>NAME bytes</c> lines the child prints; the child calls <see cref="ResetPeak"/> (resets VmHWM to the current resident
/// size through /proc/self/clear_refs, Linux ≥ 4.0) before the work and reads <see cref="Peak"/> after it. Shared by
/// <c>bench prefix-grouper</c> and <c>bench remax-ppo</c>.
/// </summary>
internal static class PeakMemoryProbe
{
    /// <summary>Whether this system can measure (Linux with /proc/self/clear_refs).</summary>
    public static bool Available => OperatingSystem.IsLinux() && File.Exists("/proc/self/clear_refs");

    /// <summary>Collects garbage, resets the peak resident size to the current one and returns the resident size.</summary>
    public static long ResetPeak()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        File.WriteAllText("/proc/self/clear_refs", "5");
        return Resident;
    }

    /// <summary>Current resident size in bytes (VmRSS).</summary>
    public static long Resident => ProcStatus("VmRSS");

    /// <summary>Peak resident size in bytes since the last <see cref="ResetPeak"/> (VmHWM).</summary>
    public static long Peak => ProcStatus("VmHWM");

    /// <summary>Runs <c>sharpoptim <paramref name="args"/></c> as a measuring child and returns the values of its lines
    /// <c>NAME bytes</c> for every name in <paramref name="names"/>; <paramref name="what"/> names the child in errors.</summary>
    public static IReadOnlyDictionary<string, long> RunChild(IEnumerable<string> args, IReadOnlyList<string> names, string what)
    {
        var environment = new Dictionary<string, string?> { ["MALLOC_MMAP_THRESHOLD_"] = "4096", ["MALLOC_TRIM_THRESHOLD_"] = "4096" };
        using var process = Process.Start(CliProcess.StartInfo(args, environment))!;
        var errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var result = new Dictionary<string, long>();
        foreach (var name in names)
        {
            var line = output.Split('\n').FirstOrDefault(x => x.StartsWith(name + " ", StringComparison.Ordinal))
                ?? throw new InvalidOperationException($"{what}: the memory child printed no {name} measurement: {output} {errors.Result}");
            result[name] = long.Parse(line[(name.Length + 1)..].Trim(), CultureInfo.InvariantCulture);
        }
        return result;
    }

    private static long ProcStatus(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key + ":", StringComparison.Ordinal))
                return long.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        return -1;
    }
}
