using SharpOptim.Optimizers;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// TorchSharp's schedulers that cycle momentum (OneCycleLR, CyclicLR with cycle_momentum) drive SharpOptim's
/// optimizers as they drive TorchSharp's own: the same learning rates, momenta or β1, and the same training.
/// </summary>
public class SchedulerMomentumTests
{
    [Fact]
    public void OneCycleLRCyclesAdamWsBeta1AsForTorchSharpsAdamW()
    {
        var batch = TestModels.Batch();
        using var a = TestModels.Regression(5);
        using var b = TestModels.Regression(5);
        using var theirs = optim.AdamW(a.parameters(), lr: 0.01, weight_decay: 0.01);
        using var ours = new Optimizers.AdamW(b.parameters(), lr: 0.01, weight_decay: 0.01);
        var s1 = optim.lr_scheduler.OneCycleLR(theirs, max_lr: 0.05, total_steps: 40, cycle_momentum: true);
        var s2 = optim.lr_scheduler.OneCycleLR(ours, max_lr: 0.05, total_steps: 40, cycle_momentum: true);
        var seen = new HashSet<double>();
        for (int t = 0; t < 39; t++)
        {
            var g1 = theirs.ParamGroups.Single();
            var g2 = ours.ParamGroups.Single();
            Assert.Equal(g1.LearningRate, g2.LearningRate, 15);
            var beta1 = ((optim.IBetas)g1).Betas;
            Assert.Equal(beta1, ((optim.IBetas)g2).Betas);
            Assert.Equal(beta1.Item1, ((AdamBase.Options)ours.Groups.Single().Options).Beta1);
            seen.Add(Math.Round(beta1.Item1, 6));
            TestModels.TrainStep(a, theirs, batch);
            TestModels.TrainStep(b, ours, batch);
            s1.step();
            s2.step();
        }
        Assert.True(seen.Count > 20, $"β1 took only {seen.Count} values");   // it really cycled (0.95 → 0.85 → 0.95)
        Assert.Contains(0.85, seen);
        var pa = TestModels.Snapshot(a.parameters());
        var pb = TestModels.Snapshot(b.parameters());
        for (int i = 0; i < pa.Length; i++) Approx.AllClose(pa[i], pb[i], 1e-4, 1e-6, $"parameter {i} after 39 scheduled steps");
    }

    [Fact]
    public void CyclicLRCyclesSgdsMomentumPerGroupAsForTorchSharpsSgd()
    {
        var batch = TestModels.Batch();
        using var a = TestModels.Regression(6);
        using var b = TestModels.Regression(6);
        var pa = a.parameters().ToList();
        var pb = b.parameters().ToList();
        using var theirs = optim.SGD(new[] { new TorchSharp.Modules.SGD.ParamGroup(pa.Take(2), 0.01, momentum: 0.9), new TorchSharp.Modules.SGD.ParamGroup(pa.Skip(2), 0.02, momentum: 0.9) }, 0.01, momentum: 0.9);
        using var ours = new Optimizers.SGD(new[] { new TorchSharp.Modules.ParamGroup<Optimizers.SGD.Options>(pb.Take(2), new Optimizers.SGD.Options { LearningRate = 0.01 }), new TorchSharp.Modules.ParamGroup<Optimizers.SGD.Options>(pb.Skip(2), new Optimizers.SGD.Options { LearningRate = 0.02 }) }, lr: 0.01, momentum: 0.9);
        var s1 = optim.lr_scheduler.CyclicLR(theirs, new[] { 0.001, 0.002 }, new[] { 0.01, 0.02 }, step_size_up: 5, cycle_momentum: true);
        var s2 = optim.lr_scheduler.CyclicLR(ours, new[] { 0.001, 0.002 }, new[] { 0.01, 0.02 }, step_size_up: 5, cycle_momentum: true);
        var momenta = new HashSet<double>();
        for (int t = 0; t < 20; t++)
        {
            var g1 = theirs.ParamGroups.ToList();
            var g2 = ours.ParamGroups.ToList();
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(g1[i].LearningRate, g2[i].LearningRate, 15);
                Assert.Equal(((optim.IMomentum)g1[i]).Momentum, ((optim.IMomentum)g2[i]).Momentum, 15);
                Assert.Equal(((optim.IMomentum)g1[i]).Momentum, ((Optimizers.SGD.Options)ours.Groups[i].Options).Momentum!.Value, 15);
                momenta.Add(Math.Round(((optim.IMomentum)g2[i]).Momentum, 6));
            }
            TestModels.TrainStep(a, theirs, batch);
            TestModels.TrainStep(b, ours, batch);
            s1.step();
            s2.step();
        }
        Assert.True(momenta.Count >= 5, $"the momentum took only {momenta.Count} values");
        var xa = TestModels.Snapshot(a.parameters());
        var xb = TestModels.Snapshot(b.parameters());
        for (int i = 0; i < xa.Length; i++) Approx.AllClose(xa[i], xb[i], 1e-5, 1e-7, $"parameter {i} after 20 scheduled steps");
    }

    [Fact]
    public void AnOptimizerWithoutMomentumIsRefusedAsTorchSharpRefusesIt()
    {
        using var model = TestModels.Regression(1);
        using var ours = new Optimizers.Adagrad(model.parameters());
        using var theirs = optim.Adagrad(model.parameters());
        var e1 = Assert.Throws<ArgumentException>(() => optim.lr_scheduler.OneCycleLR(theirs, max_lr: 0.1, total_steps: 10, cycle_momentum: true));
        var e2 = Assert.Throws<ArgumentException>(() => optim.lr_scheduler.OneCycleLR(ours, max_lr: 0.1, total_steps: 10, cycle_momentum: true));
        Assert.Equal(e1.Message, e2.Message);
        // Without momentum cycling it schedules the learning rate as usual.
        var s1 = optim.lr_scheduler.OneCycleLR(theirs, max_lr: 0.1, total_steps: 10, cycle_momentum: false);
        var s2 = optim.lr_scheduler.OneCycleLR(ours, max_lr: 0.1, total_steps: 10, cycle_momentum: false);
        for (int t = 0; t < 3; t++) { s1.step(); s2.step(); }
        Assert.Equal(theirs.ParamGroups.Single().LearningRate, ours.ParamGroups.Single().LearningRate, 15);
        Assert.NotEqual(0.01, ours.ParamGroups.Single().LearningRate);
    }

    [Fact]
    public void MuonsMomentumAndLionsBetasAreVisibleToSchedulers()
    {
        using var model = TestModels.Regression(2);
        using var muon = new Muon(model.named_parameters(), lr: 0.02, momentum: 0.9);
        Assert.All(muon.ParamGroups, g => Assert.Equal(0.9, ((optim.IMomentum)g).Momentum));
        ((optim.IMomentum)muon.ParamGroups.First()).Momentum = 0.8;
        Assert.Equal(0.8, ((Muon.Options)muon.Groups[0].Options).Momentum);
        using var lion = new Lion(model.parameters(), beta1: 0.9, beta2: 0.99);
        Assert.Equal((0.9, 0.99), ((optim.IBetas)lion.ParamGroups.Single()).Betas);
        Assert.Equal((0.9, 0.99), ((optim.IBetas)lion).Betas);
        Assert.IsNotAssignableFrom<optim.IMomentum>(lion.ParamGroups.Single());
    }
}
