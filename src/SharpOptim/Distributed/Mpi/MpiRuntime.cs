namespace SharpOptim.Distributed.Mpi;

/// <summary>
/// Whether this machine can run the Open MPI backend: <c>mpirun</c> on the PATH, Open MPI's C library
/// (<c>libmpi.so.40</c>) loadable, and that library being Open MPI 4.x or 5.x (the ABI <see cref="MpiCommunicator"/>
/// binds: handles as addresses of exported objects, see <see cref="MpiNative"/>). Checked once per process, without
/// initialising MPI, so a test host or the <c>sharpoptim</c> parent process may ask. On Debian/Ubuntu,
/// <see cref="InstallHint"/> installs what is missing.
/// </summary>
public static class MpiRuntime
{
    /// <summary>The packages that provide the launcher and the library on Debian 12 (Open MPI 4.1.4).</summary>
    public const string InstallHint = "install openmpi-bin libopenmpi-dev";

    private static readonly Lazy<(string? Mpirun, string? Version, string? Reason)> Probe = new(ProbeNow);

    /// <summary>True when <c>mpirun</c> and Open MPI's library are both present and the library is Open MPI 4 or 5.</summary>
    public static bool IsAvailable => Probe.Value.Reason is null;

    /// <summary>Why the backend is unavailable (names what is missing and how to install it), or null when it is available.</summary>
    public static string? UnavailableReason => Probe.Value.Reason;

    /// <summary>The full path of <c>mpirun</c> found on the PATH, or null.</summary>
    public static string? MpirunPath => Probe.Value.Mpirun;

    /// <summary><c>MPI_Get_library_version</c>'s first line (e.g. "Open MPI v4.1.4, package: Debian OpenMPI, ..."), or
    /// null when the library could not be loaded.</summary>
    public static string? LibraryVersion => Probe.Value.Version;

    /// <summary>True when this process was started by Open MPI's launcher (<c>mpirun</c> sets
    /// <c>OMPI_COMM_WORLD_SIZE</c> and <c>OMPI_COMM_WORLD_RANK</c> for every rank it starts).</summary>
    public static bool IsLaunchedByMpirun =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is { Length: > 0 } &&
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK") is { Length: > 0 };

    private static (string?, string?, string?) ProbeNow()
    {
        string? mpirun = FindOnPath("mpirun");
        string? version = null;
        string? libraryProblem = null;
        try
        {
            version = MpiNative.LibraryVersion().Split('\n')[0].Trim();
            if (!(version.StartsWith("Open MPI v4", StringComparison.Ordinal) || version.StartsWith("Open MPI v5", StringComparison.Ordinal)))
                libraryProblem = $"{MpiNative.Library} is '{version}', not Open MPI 4 or 5 (the only ABI this backend binds)";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or MpiException)
        {
            libraryProblem = $"{MpiNative.Library} not loadable ({e.Message.Split('\n')[0]})";
        }
        string? reason = (mpirun, libraryProblem) switch
        {
            (null, null) => $"Open MPI not found (mpirun is not on the PATH): {InstallHint}",
            (null, { } p) => $"Open MPI not found (mpirun is not on the PATH; {p}): {InstallHint}",
            (_, { } p) => $"Open MPI not usable ({p}): {InstallHint}",
            _ => null,
        };
        return (mpirun, version, reason);
    }

    private static string? FindOnPath(string program)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return Path.GetFullPath(candidate);
        }
        return null;
    }
}
