using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// Smoke runs on the character-level transformer of the task suite (a reduced size so each takes about a second):
/// the matrix-aware and memory-efficient optimizers, fed the model's real parameter names, must cut the held-out
/// loss well below the untrained model's (≈ log 96 ≈ 4.56 nats per character; 1.0 nat less after 60 steps is far
/// beyond what an optimizer that does not work could reach) with finite values throughout.
/// </summary>
public class CharLmSmokeTests
{
    public static IEnumerable<object[]> Settings() => new[]
    {
        new object[] { "adamw", new Dictionary<string, double> { ["lr"] = 3e-3 } },
        new object[] { "muon", new Dictionary<string, double> { ["lr"] = 0.02, ["adam_lr"] = 3e-3 } },
        new object[] { "adam-mini", new Dictionary<string, double> { ["lr"] = 3e-3, ["dim"] = 32, ["n_heads"] = 4 } },
        new object[] { "galore", new Dictionary<string, double> { ["lr"] = 1e-2, ["rank"] = 8, ["update_proj_gap"] = 20 } },
        new object[] { "lanton", new Dictionary<string, double> { ["lr"] = 0.02, ["sign_lr"] = 3e-3, ["adam_lr"] = 3e-3 } },
        new object[] { "frugal", new Dictionary<string, double> { ["lr"] = 3e-3, ["update_gap"] = 20, ["free_lr_scale"] = 0.3 } },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void TrainsTheSmallTransformer(string name, Dictionary<string, double> hyper)
    {
        using var task = new CharLmTask(layers: 1, dim: 32, heads: 4, blockSize: 32, batchSize: 16);
        manual_seed(11);
        using var run = task.Start(11);
        double before = run.Evaluate().Loss;
        using var opt = OptimizerCatalog.Get(name).Create(run.NamedParameters, hyper);
        var r = TaskTrainer.Train(run, opt, steps: 60);
        Assert.All(r.Losses, l => Assert.True(double.IsFinite(l)));
        Assert.True(r.TestLoss < before - 1.0, $"{name}: held-out loss {before:F3} -> {r.TestLoss:F3}");
    }
}
