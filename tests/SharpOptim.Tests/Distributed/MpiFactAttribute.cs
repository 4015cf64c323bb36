using SharpOptim.Distributed.Mpi;
using Xunit;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// A fact that needs Open MPI (mpirun and libmpi.so.40): where it is missing the test is reported as SKIPPED with the
/// reason and the packages to install, never as a silent pass. CI (.ci/run) installs Open MPI first, so there the
/// tests run.
/// </summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (SkipReason(MpiRuntime.UnavailableReason) is { } reason) Skip = reason;
    }

    /// <summary>The skip message for an unavailability reason (null when Open MPI is available).</summary>
    public static string? SkipReason(string? unavailableReason) => unavailableReason is null
        ? null
        : unavailableReason.StartsWith("Open MPI not", StringComparison.Ordinal)
            ? unavailableReason
            : $"Open MPI not usable ({unavailableReason}): {MpiRuntime.InstallHint}";
}
