using System.Text.Json;
using SharpOptim.Optimizers;

namespace SharpOptim.Cli.Commands;

/// <summary><c>sharpoptim list [--json]</c>: every registered optimizer with its paper.</summary>
public static class ListCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool> { ["json"] = false };

    /// <summary>Library types that are not catalog optimizers (they wrap one, or are layers), listed for completeness.</summary>
    public static readonly (string Name, string What, string Paper)[] Extras =
    {
        ("Layers.PCLinear", "polynomially preconditioned linear layer, Merge() to Linear", "PC Layer: Polynomial Weight Preconditioning for Improving LLM Pre-Training (arXiv:2606.06470)"),
        ("Training.Lookahead", "k steps forward, 1 step back around any optimizer", "Zhang, Lucas, Hinton & Ba, NeurIPS 2019"),
        ("Training.AdaptiveBatchSize", "AdAdaGrad's norm / coordinate-wise batch-size tests", "Lau, Liu & Kolar, AdAdaGrad, 2024 (arXiv:2402.11215)"),
        ("Schedules.RefinedSchedule", "schedule refinement from gradient norms", "Defazio et al., When, Why and How Much?, 2023 (arXiv:2310.07831)"),
    };

    /// <summary>The methods of the families beyond the first-order optimizers, one list per family (each family adds
    /// its own line here).</summary>
    public static IEnumerable<MethodEntry> FamilyMethods => Array.Empty<MethodEntry>()
        .Concat(SharpOptim.GradientFree.GradientFreeMethods.All)
        .Concat(SharpOptim.MultiTask.MultiTaskMethods.All)
        .Concat(SharpOptim.Bilevel.BilevelMethods.All)
        .Concat(SharpOptim.Online.OnlineMethods.All)
        .Concat(SharpOptim.Analysis.AnalysisMethods.All)
        .Concat(SharpOptim.Distributed.DistributedMethods.All)
        .Concat(SharpOptim.Policy.PolicyMethods.All);

    public static int Run(Options o, TextWriter stdout)
    {
        var entries = OptimizerCatalog.All;
        var methods = FamilyMethods.ToList();
        if (o.Has("json"))
        {
            stdout.WriteLine(JsonSerializer.Serialize(entries.Select(e => new
            {
                name = e.Name,
                paper = e.Paper,
                state_bytes_per_param = e.StateBytesPerParameter,
                state_bytes_per_tensor = e.StateBytesPerTensor,
                fused = e.HasFusedPath,
            }).Cast<object>().Concat(methods.Select(m => new
            {
                name = m.Name,
                family = m.Family,
                type = m.Type,
                paper = m.Paper,
                reconstruction = m.Reconstruction,
            })), new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        int w = entries.Max(e => e.Name.Length);
        stdout.WriteLine($"{"name".PadRight(w)}  state B/param  fused  paper");
        foreach (var e in entries)
            stdout.WriteLine($"{e.Name.PadRight(w)}  {(e.StateBytesOfShape is not null ? "rank-dep." : e.StateBytesPerTensor == 0 ? e.StateBytesPerParameter.ToString(System.Globalization.CultureInfo.InvariantCulture) : FormattableString.Invariant($"{e.StateBytesPerParameter} +{e.StateBytesPerTensor}/tensor")),13}  {(e.HasFusedPath ? "yes" : "no"),5}  {e.Paper}");
        stdout.WriteLine();
        stdout.WriteLine("wrappers and layers (library types, not catalog entries):");
        foreach (var (name, what, paper) in Extras)
            stdout.WriteLine($"  {name,-26} {what}; {paper}");
        foreach (var family in methods.GroupBy(m => m.Family))
        {
            stdout.WriteLine();
            stdout.WriteLine($"{family.Key}:");
            foreach (var m in family)
                stdout.WriteLine($"  {m.Name,-22} {m.Type,-34} {(m.Reconstruction ? "[reconstruction] " : "")}{m.Paper}");
        }
        return 0;
    }
}
