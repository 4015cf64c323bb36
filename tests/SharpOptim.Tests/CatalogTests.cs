using SharpOptim.Optimizers;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>The registry's claims hold for the optimizers it builds.</summary>
public class CatalogTests
{
    public static IEnumerable<object[]> Names() => OptimizerCatalog.All.Select(e => new object[] { e.Name });

    [Theory]
    [MemberData(nameof(Names))]
    public void StateBytesPerParameterMatchesTheAllocatedState(string name)
    {
        var entry = OptimizerCatalog.Get(name);
        const long n = 1001;   // a 7 x 143 matrix, so that Muon treats it as a hidden weight
        using var p = new Parameter(randn(7, 143));
        p.grad = randn(7, 143);
        using var opt = entry.Create(new[] { p }, new Dictionary<string, double>());
        Assert.Equal(0, opt.StateBytes);
        opt.step();
        Assert.Equal(entry.StateBytesFor(new long[] { 7, 143 }), opt.StateBytes);
        if (entry.StateBytesOfShape is null) Assert.Equal(entry.StateBytesPerParameter * n + entry.StateBytesPerTensor, opt.StateBytes);
        Assert.Equal(entry.HasFusedPath, opt.HasFusedPath);
        Assert.Equal(entry.HasFusedPath ? 1 : 0, opt.LastFusedCount);
        Assert.False(string.IsNullOrWhiteSpace(entry.Paper));
    }

    [Fact]
    public void UnknownNamesAreRejectedWithTheValidOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => OptimizerCatalog.Get("adamx"));
        Assert.Contains("adamx", e.Message);
        Assert.Contains("adamw", e.Message);
        using var p = new Parameter(randn(3));
        var h = Assert.Throws<ArgumentException>(() => OptimizerCatalog.Get("lion").Create(new[] { p }, new Dictionary<string, double> { ["momentum"] = 0.9 }));
        Assert.Contains("momentum", h.Message);
        Assert.Contains("beta2", h.Message);
        var f = Assert.Throws<ArgumentException>(() => OptimizerCatalog.Get("adam").Create(new[] { p }, new Dictionary<string, double> { ["amsgrad"] = 2 }));
        Assert.Contains("amsgrad", f.Message);
        // Counts are whole numbers: 2.5 Newton–Schulz steps is an error, not a silent 2.
        using var m = new Parameter(randn(3, 3));
        var c = Assert.Throws<ArgumentException>(() => OptimizerCatalog.Get("muon").Create(new[] { m }, new Dictionary<string, double> { ["ns_steps"] = 2.5 }));
        Assert.Contains("ns_steps: 2.5", c.Message);
        using var ok = OptimizerCatalog.Get("lanton").Create(new[] { m }, new Dictionary<string, double> { ["noise_every"] = 4 });
        Assert.Equal(4, ((Lanton.Options)ok.Groups[0].Options).NoiseEvery);
    }

    [Fact]
    public void HyperparametersReachTheOptimizer()
    {
        using var p = new Parameter(randn(3));
        using var opt = OptimizerCatalog.Get("lion").Create(new[] { p }, new Dictionary<string, double> { ["lr"] = 3e-4, ["weight_decay"] = 0.1 });
        var o = Assert.IsType<Lion.Options>(opt.Groups.Single().Options);
        Assert.Equal(3e-4, o.LearningRate);
        Assert.Equal(0.1, o.WeightDecay);
        Assert.Equal(0.99, o.Beta2);
    }
}
