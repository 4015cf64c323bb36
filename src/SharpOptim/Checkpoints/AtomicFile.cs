namespace SharpOptim.Checkpoints;

/// <summary>
/// Writes a file so that readers see either the old contents or the complete new ones: the data go to
/// "PATH.partial" beside the target, are flushed to disk, and the temporary file is renamed over the target.
/// (<see cref="Checkpoint.Save"/> adds a directory fsync and an integrity trailer on top of the same idea.)
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>; on failure the target is untouched.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        string tmp = path + ".partial";
        try
        {
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                write(f);
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }
}
