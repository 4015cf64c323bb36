using SharpOptim.Optimizers;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// Muon, LANTON and Adam-mini route by module name; when no matrix is named as an embedding or output layer (an
/// nn.Sequential classifier), each writes one warning naming the matrices and how to route them, to a writer a user
/// can redirect or silence. Named heads, explicit routing and groups are not warned about. (The layer sizes here are
/// used by no other test, so the once-per-message rule cannot swallow these warnings.)
/// </summary>
[Collection("routing-warnings")]
public sealed class RoutingWarningTests : IDisposable
{
    private readonly StringWriter _captured = new();

    public RoutingWarningTests() => RoutingWarnings.Writer = TextWriter.Synchronized(_captured);

    public void Dispose() => RoutingWarnings.ResetWriter();

    private static nn.Module Classifier(int seed, long input, long hidden, long classes)
    {
        manual_seed(seed);
        return nn.Sequential(nn.Linear(input, hidden), nn.ReLU(), nn.Linear(hidden, classes));
    }

    /// <summary>The captured lines that mention <paramref name="shape"/> (other test classes, running meanwhile, may
    /// write their own warnings to the same writer).</summary>
    private string[] Lines(string shape) => _captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Where(l => l.Contains(shape, StringComparison.Ordinal)).ToArray();

    [Fact]
    public void AnUnnamedClassifierIsWarnedAboutOnceByEachNameRoutingOptimizer()
    {
        using var model = Classifier(1, 13, 11, 7);
        using (new Muon(model.named_parameters())) { }
        using (new Muon(model.named_parameters())) { }   // the same routing again: no second warning
        var muon = Assert.Single(Lines("[11, 13]"), l => l.Contains("Muon:", StringComparison.Ordinal));
        Assert.Contains("'0.weight' [11, 13], '2.weight' [7, 11] will be orthogonalized by Muon as hidden matrices", muon, StringComparison.Ordinal);
        Assert.Contains("useMuon", muon, StringComparison.Ordinal);
        Assert.Contains("RoutingWarnings.Writer = null", muon, StringComparison.Ordinal);

        using (new Lanton(model.named_parameters())) { }
        var lanton = Assert.Single(Lines("[11, 13]"), l => l.Contains("LANTON:", StringComparison.Ordinal));
        Assert.Contains("'0.weight' [11, 13], '2.weight' [7, 11] will be given LANTON's spectral step", lanton, StringComparison.Ordinal);
        Assert.Contains("kindOf", lanton, StringComparison.Ordinal);

        using (new AdamMini(model.named_parameters())) { }
        using (new AdamMini(model.parameters())) { }      // flat: named param0..param3, also no embedding or output
        var mini = Lines("[11, 13]").Where(l => l.Contains("Adam-mini:", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, mini.Count);
        Assert.Contains("'0.weight' [11, 13], '2.weight' [7, 11]", mini[0], StringComparison.Ordinal);
        Assert.Contains("'param0' [11, 13], 'param2' [7, 11]", mini[1], StringComparison.Ordinal);
        Assert.All(mini, m => Assert.Contains("partition", m, StringComparison.Ordinal));
    }

    [Fact]
    public void NamedHeadsExplicitRoutingAndGroupsAreNotWarnedAbout()
    {
        manual_seed(2);
        using var named = nn.Sequential(("fc", nn.Linear(17, 9)), ("act", nn.ReLU()), ("head", nn.Linear(9, 5)));
        using (new Muon(named.named_parameters())) { }
        using (new Lanton(named.named_parameters())) { }
        using var unnamed = Classifier(3, 17, 9, 5);
        using (new Muon(unnamed.named_parameters(), useMuon: (n, p) => n == "0.weight")) { }
        using (new Lanton(unnamed.named_parameters(), kindOf: (n, p) => n == "0.weight" ? LantonLayerKind.Spectral : p.ndim >= 2 ? LantonLayerKind.Sign : LantonLayerKind.AdamW)) { }
        using (new AdamMini(unnamed.named_parameters(), partition: (n, _) => n.StartsWith("2.", StringComparison.Ordinal) ? AdamMiniBlock.Row : null)) { }
        manual_seed(4);
        using var lm = nn.Sequential(("mlp", nn.Linear(17, 9)), ("lm_head", nn.Linear(9, 5)));
        using (new AdamMini(lm.named_parameters())) { }
        Assert.Empty(Lines("[9, 17]"));
        // Writing nowhere is allowed (null silences).
        RoutingWarnings.Writer = null;
        using var other = Classifier(5, 19, 9, 5);
        using (new Muon(other.named_parameters())) { }
        Assert.Empty(Lines("[9, 19]"));
    }
}
