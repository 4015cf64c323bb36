using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpOptim.Tasks.Tuning;

/// <summary>
/// Finished trials as one JSON file each in a folder: written to a temporary name and renamed into place, so a file
/// that exists is complete, and an interrupted sweep loses at most the trial that was running. A file that does not
/// read back (a crash mid-write on a file system without atomic rename, a hand edit) is set aside as
/// <c>NAME.bad</c> and the trial runs again.
/// </summary>
public sealed class TrialStore
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>A store in <paramref name="directory"/> (created when needed).</summary>
    public TrialStore(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = System.IO.Path.GetFullPath(directory);
    }

    /// <summary>The folder.</summary>
    public string Directory { get; }

    /// <summary>The stored result of <paramref name="key"/>, or null when it has not finished.</summary>
    public TrialResult? TryLoad(TrialKey key)
    {
        string path = System.IO.Path.Combine(Directory, key.FileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<TrialResult>(File.ReadAllText(path), Json) ?? throw new JsonException("empty");
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            File.Move(path, path + ".bad", overwrite: true);
            return null;
        }
    }

    /// <summary>Stores <paramref name="result"/> as <paramref name="key"/>'s, atomically.</summary>
    public void Save(TrialKey key, TrialResult result)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string path = System.IO.Path.Combine(Directory, key.FileName);
        string temp = path + FormattableString.Invariant($".{Environment.ProcessId}.tmp");
        using (var s = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(s, result, Json);
            s.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Every stored trial (for reports).</summary>
    public int Count => System.IO.Directory.Exists(Directory) ? System.IO.Directory.GetFiles(Directory, "*.json").Length : 0;
}
