using System.Runtime.InteropServices;

namespace SharpOptim.Cli;

/// <summary>
/// Looks for the native libtorch next to the program before anything touches TorchSharp. The tool package
/// carries the libtorch of the platform it was packed on; on another platform TorchSharp would fail inside a
/// type initializer with a message about package references that a tool user cannot act on, so the command
/// says instead which platform this machine is and which ones the installed copy has binaries for.
/// </summary>
public static class NativeLibTorch
{
    /// <summary>The portable runtime identifier of this process (linux-x64, win-arm64, osx-arm64, ...).</summary>
    /// <remarks>Built from the OS and architecture rather than RuntimeInformation.RuntimeIdentifier, which
    /// gives distribution-specific names (ubuntu.24.04-x64) under distribution-built .NET runtimes.</remarks>
    public static string CurrentRid()
    {
        string os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : OperatingSystem.IsLinux() ? "linux"
            : RuntimeInformation.OSDescription.Split(' ')[0].ToLowerInvariant();
        return $"{os}-{RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}";
    }

    /// <summary>libtorch's CPU library under its platform's file name (present in CPU and CUDA builds alike).</summary>
    public static string LibraryFileName(string rid) =>
        rid.StartsWith("win-", StringComparison.Ordinal) ? "torch_cpu.dll"
        : rid.StartsWith("osx-", StringComparison.Ordinal) ? "libtorch_cpu.dylib"
        : "libtorch_cpu.so";

    /// <summary>
    /// Null when <paramref name="baseDirectory"/> holds libtorch for <paramref name="rid"/> (flat, as a
    /// RID-specific publish lays it out, or under runtimes/RID/native); otherwise the message to print.
    /// </summary>
    public static string? Problem(string baseDirectory, string rid)
    {
        string file = LibraryFileName(rid);
        if (File.Exists(Path.Combine(baseDirectory, file)) || File.Exists(Path.Combine(baseDirectory, "runtimes", rid, "native", file)))
            return null;
        string runtimes = Path.Combine(baseDirectory, "runtimes");
        var carried = Directory.Exists(runtimes)
            ? Directory.GetDirectories(runtimes)
                .Select(d => Path.GetFileName(d)!)
                .Where(r => File.Exists(Path.Combine(runtimes, r, "native", LibraryFileName(r))))
                .Order(StringComparer.Ordinal)
                .ToArray()
            : [];
        string has = carried.Length == 0 ? "no platform" : string.Join(", ", carried);
        return $"no native libtorch for this machine ({rid}): '{file}' is not in '{baseDirectory}' nor in its runtimes/{rid}/native. "
            + $"This copy of sharpoptim carries libtorch for {has}. Install a SharpOptim.Cli package packed on {rid}, "
            + "or run from a clone of the repository: dotnet run --project src/SharpOptim.Cli -c Release -- <command>.";
    }
}
