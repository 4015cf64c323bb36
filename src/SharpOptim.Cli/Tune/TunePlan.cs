using System.Text.Json;
using System.Text.Json.Serialization;
using SharpOptim.Tasks.Tuning;

namespace SharpOptim.Cli.Tune;

/// <summary>
/// Everything that decides a sweep's trials, written to <c>sweep.json</c> before the first trial: a later run with the
/// same plan continues from the trials on disk; a different plan in the same folder is refused (unless --force), so
/// trials of two different sweeps never mix.
/// </summary>
public sealed record TunePlan
{
    /// <summary>Task name.</summary>
    public required string Task { get; init; }
    /// <summary>Optimizer entries, in order.</summary>
    public required List<string> Optimizers { get; init; }
    /// <summary>Tuned dimensions per optimizer (ranges can differ: learning-rate ranges centre on each one's default).</summary>
    public required Dictionary<string, List<SearchDimension>> Spaces { get; init; }
    /// <summary>Fixed hyperparameters per optimizer (defaults and --opt values), tuned ones excluded.</summary>
    public required Dictionary<string, Dictionary<string, double>> Fixed { get; init; }
    /// <summary>Search budget per optimizer, in training steps.</summary>
    public required long Budget { get; init; }
    /// <summary>Steps of a full run (the last rung and the re-runs).</summary>
    public required int Steps { get; init; }
    /// <summary>Successive halving's η.</summary>
    public required int Eta { get; init; }
    /// <summary>The rungs.</summary>
    public required List<Rung> Rungs { get; init; }
    /// <summary>Seeds the selected configuration is re-run on.</summary>
    public required int Seeds { get; init; }
    /// <summary>Seed of the configuration sample.</summary>
    public required int SampleSeed { get; init; }
    /// <summary>Validation evaluations of the re-runs every this many steps.</summary>
    public required int EvalEvery { get; init; }
    /// <summary>The learning-rate schedule (compare's --schedule syntax), spanning each trial's length.</summary>
    public required string Schedule { get; init; }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The plan as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Whether <paramref name="other"/> decides the same trials (compared through their JSON form).</summary>
    public bool SameAs(TunePlan other) => ToJson() == other.ToJson();

    /// <summary>Reads a plan written by <see cref="ToJson"/>; null when the file does not hold one.</summary>
    public static TunePlan? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<TunePlan>(File.ReadAllText(path), Json) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
