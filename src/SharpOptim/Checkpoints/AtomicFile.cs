using System.Diagnostics;
using System.Globalization;

namespace SharpOptim.Checkpoints;

/// <summary>
/// Writes a file so that readers see either the old contents or the complete new ones: the data go to a temporary
/// file beside the target, are flushed to disk, and the temporary file is renamed over the target.
/// (<see cref="Checkpoint.Save(string, SharpOptim.Optimizers.OptimizerBase, TorchSharp.torch.nn.Module)"/> adds a directory fsync and an integrity trailer on top of the same idea.)
/// <para>
/// A temporary is named <c>.NAME.PID.RANDOM.sharpoptim-tmp</c> (NAME: the target's file name, PID: the writing
/// process, RANDOM: 32 hex digits), so concurrent writers never share one and a temporary says whose it is. A
/// process killed mid-write leaves its temporary behind; after each successful write, the temporaries of the same
/// target whose process no longer runs and that have not been written to for <see cref="StaleAfter"/> are removed
/// (see <see cref="RemoveStaleTemporaries"/>).
/// </para>
/// </summary>
public static class AtomicFile
{
    /// <summary>The suffix of every temporary file this class and <see cref="Checkpoint"/> create.</summary>
    public const string TemporarySuffix = ".sharpoptim-tmp";

    /// <summary>
    /// How long a temporary must have gone unwritten before it may be removed, on top of its process having exited.
    /// The PID in the name only means something on this machine: a directory shared with other machines or
    /// containers can hold a live writer's temporary whose PID is unknown here, but a live writer keeps writing.
    /// </summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(10);

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>; on failure the target is untouched.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string tmp = NewTemporaryPath(full);
        try
        {
            using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(f);
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
        RemoveStaleTemporaries(full);
    }

    /// <summary>A fresh temporary path beside <paramref name="fullPath"/>, named for this process.</summary>
    internal static string NewTemporaryPath(string fullPath) =>
        Path.Combine(Path.GetDirectoryName(fullPath)!,
            string.Create(CultureInfo.InvariantCulture, $".{Path.GetFileName(fullPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}{TemporarySuffix}"));

    /// <summary>
    /// Removes the temporaries that interrupted writes of <paramref name="path"/> left behind, and returns their paths.
    /// A file is removed only if its name is exactly <c>.NAME.PID.RANDOM.sharpoptim-tmp</c> for this target (or
    /// <c>.NAME.PID.RANDOM.tmp</c>, the name checkpoints used before), it is a regular file, process PID is not
    /// running, and it was last written more than <see cref="StaleAfter"/> ago. Anything else — other targets'
    /// temporaries, a running save's, files that merely look similar — is left alone. Best effort: a file that cannot
    /// be inspected or removed is skipped.
    /// </summary>
    public static IReadOnlyList<string> RemoveStaleTemporaries(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        var dir = new DirectoryInfo(Path.GetDirectoryName(full)!);
        string prefix = "." + Path.GetFileName(full) + ".";
        var removed = new List<string>();
        IEnumerable<FileInfo> candidates;
        try
        {
            // The pattern only narrows the listing (names with wildcard characters list everything); the exact check
            // below decides. AttributesToSkip = 0: on Unix, names starting with '.' count as hidden.
            string pattern = prefix.AsSpan().IndexOfAny('*', '?') < 0 ? prefix + "*" : "*";
            candidates = dir.EnumerateFiles(pattern, new EnumerationOptions { RecurseSubdirectories = false, AttributesToSkip = 0, MatchType = MatchType.Simple })
                .Where(f => f.Name.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return removed;
        }
        var now = DateTime.UtcNow;
        foreach (var f in candidates)
        {
            if (OwnerPid(f.Name, prefix) is not { } pid) continue;
            try
            {
                f.Refresh();
                if ((f.Attributes & (FileAttributes.Directory | FileAttributes.ReparsePoint)) != 0) continue;
                if (now - f.LastWriteTimeUtc < StaleAfter) continue;
                if (IsRunning(pid)) continue;
                f.Delete();
                removed.Add(f.FullName);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone already (another process cleaned it) or not ours to remove: leave it.
            }
        }
        return removed;
    }

    /// <summary>The PID in a temporary's name if the name is exactly <paramref name="prefix"/> + PID + "." + 32
    /// lowercase hex digits + a temporary suffix; otherwise null.</summary>
    private static int? OwnerPid(string name, string prefix)
    {
        var rest = name.AsSpan(prefix.Length);
        if (rest.EndsWith(TemporarySuffix, StringComparison.Ordinal)) rest = rest[..^TemporarySuffix.Length];
        else if (rest.EndsWith(".tmp", StringComparison.Ordinal)) rest = rest[..^".tmp".Length];
        else return null;
        int dot = rest.IndexOf('.');
        if (dot <= 0 || dot > 10) return null;
        var pidText = rest[..dot];
        var random = rest[(dot + 1)..];
        if (random.Length != 32) return null;
        foreach (char c in pidText) if (c is < '0' or > '9') return null;
        foreach (char c in random) if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f'))) return null;
        return int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0 ? pid : null;
    }

    /// <summary>Whether a process with this id runs on this machine (a zombie or an unreadable one counts as running:
    /// when in doubt, the file stays).</summary>
    private static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;   // no such process
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return true;
        }
    }
}
