using System.Text.Json;
using SharpOptim.Optimizers;

namespace SharpOptim.Cli.Commands;

/// <summary><c>sharpoptim list [--json]</c>: every registered optimizer with its paper.</summary>
public static class ListCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool> { ["json"] = false };

    public static int Run(Options o, TextWriter stdout)
    {
        var entries = OptimizerCatalog.All;
        if (o.Has("json"))
        {
            stdout.WriteLine(JsonSerializer.Serialize(entries.Select(e => new
            {
                name = e.Name,
                paper = e.Paper,
                state_bytes_per_param = e.StateBytesPerParameter,
                state_bytes_per_tensor = e.StateBytesPerTensor,
                fused = e.HasFusedPath,
            }), new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        int w = entries.Max(e => e.Name.Length);
        stdout.WriteLine($"{"name".PadRight(w)}  state B/param  fused  paper");
        foreach (var e in entries)
            stdout.WriteLine($"{e.Name.PadRight(w)}  {(e.StateBytesOfShape is not null ? "rank-dep." : e.StateBytesPerTensor == 0 ? e.StateBytesPerParameter.ToString(System.Globalization.CultureInfo.InvariantCulture) : FormattableString.Invariant($"{e.StateBytesPerParameter} +{e.StateBytesPerTensor}/tensor")),13}  {(e.HasFusedPath ? "yes" : "no"),5}  {e.Paper}");
        return 0;
    }
}
