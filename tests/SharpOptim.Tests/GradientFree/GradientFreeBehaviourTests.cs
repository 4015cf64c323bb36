using SharpOptim.GradientFree;
using SharpOptim.Optimizers;
using SharpOptim.Tasks.Models;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using Adam = SharpOptim.Optimizers.Adam;
using SGD = SharpOptim.Optimizers.SGD;

namespace SharpOptim.Tests.GradientFree;

/// <summary>Exact invariants of the gradient-free family: the batched EGGROLL forward equals the forward with the
/// materialised perturbation, ZO2 reproduces MeZO bit for bit, counter noise is order- and chunk-independent, rank
/// shaping is invariant to monotone transforms, bad input changes nothing, and checkpoints resume bit for bit.</summary>
public class GradientFreeBehaviourTests
{
    private static byte[][] Snapshot(nn.Module m) => Bits.Of(m.parameters().Select(p => (Tensor)p));

    private static Tensor Batched(Eggroll es, Func<Tensor> forward)
    {
        Tensor? o = null;
        es.Evaluate(() => { o = forward().DetachFromDisposeScope(); return zeros(es.Population); });   // kept past Evaluate's scope
        return o!;
    }

    /// <summary>Member by member: add σE_i to every perturbed parameter, run the plain model on the member's rows, restore.</summary>
    private static void AssertBatchedEqualsMaterialised(nn.Module model, Eggroll es, Tensor input, Func<Tensor, Tensor> forward, double tol)
    {
        using var _ = no_grad();
        var batched = Batched(es, () => forward(input));
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        long rows = input.shape[0] / es.Population;
        for (int i = 0; i < es.Population; i++)
        {
            var saved = es.ParameterNames.Select(n => named[n].clone()).ToArray();
            for (int j = 0; j < es.ParameterNames.Count; j++) named[es.ParameterNames[j]].add_(es.MaterializedPerturbation(j, i));
            var plain = forward(input.narrow(0, i * rows, rows));
            for (int j = 0; j < es.ParameterNames.Count; j++) named[es.ParameterNames[j]].copy_(saved[j]);
            var part = batched.narrow(0, i * rows, rows);
            double diff = part.sub(plain).abs().max().ToDouble();
            Assert.True(diff <= tol, $"member {i}: batched and materialised forwards differ by {diff}");
        }
        // And the perturbation matters: members differ from the plain model.
        var unperturbed = forward(input.narrow(0, 0, rows));
        Assert.True(batched.narrow(0, 0, rows).sub(unperturbed).abs().max().ToDouble() > 1e-3);
    }

    [Fact]
    public void EggrollBatchedForwardEqualsTheMaterialisedPerturbationOnTheMlp()
    {
        manual_seed(1);
        var model = new Mlp(8, 16, 16, 4);
        var es = new Eggroll(model, new SGD(model.parameters(), 0.1), 6, 0.05, rank: 2, seed: 3);
        AssertBatchedEqualsMaterialised(model, es, randn(6 * 5, 8), x => model.forward(x), 1e-5);
    }

    [Fact]
    public void EggrollBatchedForwardEqualsTheMaterialisedPerturbationOnTheCharTransformer()
    {
        manual_seed(2);
        var model = new CharTransformer(vocabulary: 13, blockSize: 8, dim: 16, heads: 2, layers: 2);
        var es = new Eggroll(model, new SGD(model.parameters(), 0.1), 4, 0.05, rank: 1, seed: 4);
        // Linear weights (low rank) and LayerNorm/Linear vectors (full) are perturbed; embeddings are excluded.
        Assert.DoesNotContain(es.ParameterNames, n => n.StartsWith("wte") || n.StartsWith("wpe"));
        Assert.Contains("blocks.0.ln1.weight", es.ParameterNames);
        var tokens = randint(0, 13, new long[] { 4 * 3, 8 });
        AssertBatchedEqualsMaterialised(model, es, tokens, x => model.forward(x), 1e-5);
    }

    [Fact]
    public void OpenAIEsBatchedForwardGivesTheInPlaceFitness()
    {
        manual_seed(6);
        var model = new Mlp(5, 9, 4);
        model.to(ScalarType.Float64);
        var x = randn(7, 5, dtype: ScalarType.Float64);
        var y = randint(0, 4, new long[] { 7 });
        var named = model.named_parameters().ToArray();
        var es = new OpenAIES(named, new SGD(named, 0.1), 6, 0.2, seed: 12);
        var inPlace = es.Evaluate(_ => -nn.functional.cross_entropy(model.forward(x), y).item<double>());
        var batched = es.EvaluateBatched(model, () =>
            nn.functional.cross_entropy(model.forward(x.repeat(6, 1)), y.repeat(6), reduction: nn.Reduction.None).reshape(6, 7).mean(new long[] { 1 }).neg());
        var b = batched.data<double>().ToArray();
        for (int i = 0; i < 6; i++) Assert.Equal(inPlace[i], b[i], 1e-12);
        Assert.True(inPlace.Distinct().Count() == 6);   // the members really differ
    }

    [Fact]
    public void Zo2ScheduleReproducesMeZOBitForBit()
    {
        manual_seed(5);
        var a = new Mlp(6, 12, 8, 3);
        var b = new Mlp(6, 12, 8, 3);
        using (no_grad()) foreach (var (p, q) in a.parameters().Zip(b.parameters())) q.copy_(p);
        var x = randn(20, 6);
        var y = randint(0, 3, new long[] { 20 });
        var mezo = new MeZO(a.named_parameters(), lr: 0.02, epsilon: 1e-3, weightDecay: 0.05, seed: 9);
        var mezo2 = new MeZO(b.named_parameters(), lr: 0.02, epsilon: 1e-3, weightDecay: 0.05, seed: 9);
        var layers = b.named_children().Select(c => (Linear)c.module).ToArray();
        var stages = layers.Select((l, i) => new ZO2Stage(i.ToString(), t => i + 1 < layers.Length ? nn.functional.relu(l.call(t)) : l.call(t),
            new[] { l.weight!, l.bias! })).ToArray();
        var zo2 = new ZO2Schedule(mezo2, stages);
        for (int step = 0; step < 25; step++)
        {
            double la = mezo.step(() => nn.functional.cross_entropy(a.forward(x), y)).ToDouble();
            double lb = zo2.Step(x, o => nn.functional.cross_entropy(o, y));
            Assert.Equal(BitConverter.DoubleToInt64Bits(la), BitConverter.DoubleToInt64Bits(lb));
        }
        Assert.True(zo2.HasPendingUpdate);
        zo2.Flush();
        Bits.Equal(Snapshot(a), Snapshot(b), "ZO2 vs MeZO after 25 steps");
        Assert.Equal(25 * stages.Length, zo2.StageLoads);
    }

    [Fact]
    public void CounterNoiseIsIndependentOfChunkingAndKeyed()
    {
        var noise = new CounterNoise(42);
        var big = new float[200_003];       // the parallel path (chunks of 8,192 on the thread pool)
        noise.Fill(big, 7, 3, 11);
        var small = new float[1001];        // the serial path: a prefix of the same stream
        noise.Fill(small, 7, 3, 11);
        Assert.True(small.AsSpan().SequenceEqual(big.AsSpan(0, 1001)));
        var again = new float[200_003];
        noise.Fill(again, 7, 3, 11);
        Assert.True(big.AsSpan().SequenceEqual(again));
        var other = new float[1001];
        noise.Fill(other, 7, 3, 12);
        Assert.False(small.AsSpan().SequenceEqual(other));
        // Moments of 200,003 N(0,1) draws: standard errors 0.0022 (mean) and 0.0032 (variance); bounds at ~5 SE.
        double mean = big.Average(v => (double)v), variance = big.Average(v => (v - mean) * (v - mean));
        Assert.InRange(mean, -0.011, 0.011);
        Assert.InRange(variance, 0.984, 1.016);
    }

    [Fact]
    public void EsTrajectoryIsIdenticalOnOneAndTwoThreads()
    {
        byte[][] Run(int threads)
        {
            int before = get_num_threads();
            set_num_threads(threads);
            try
            {
                manual_seed(3);
                var model = new Mlp(5, 7, 2);
                var x = randn(10, 5);
                var named = model.named_parameters().ToArray();
                var es = new OpenAIES(named, new Adam(named, lr: 0.05), 8, 0.1, seed: 17);
                for (int g = 0; g < 3; g++) es.Step(_ => model.forward(x).sum().ToDouble());
                return Snapshot(model);
            }
            finally { set_num_threads(before); }
        }
        Bits.Equal(Run(1), Run(2), "OpenAI-ES on 1 vs 2 threads");
    }

    [Fact]
    public void CenteredRanksAreInvariantToMonotoneTransforms()
    {
        byte[][] Run(Func<double, double> transform)
        {
            manual_seed(8);
            var model = new Mlp(4, 6, 3);
            var x = randn(12, 4);
            var y = randint(0, 3, new long[] { 12 });
            var named = model.named_parameters().ToArray();
            var es = new OpenAIES(named, new Adam(named, lr: 0.05), 10, 0.1, seed: 5);
            for (int g = 0; g < 4; g++) es.Step(_ => transform(-nn.functional.cross_entropy(model.forward(x), y).ToDouble()));
            return Snapshot(model);
        }
        Bits.Equal(Run(f => f), Run(Math.Exp), "ranks of F vs exp(F)");
        Assert.Equal(new[] { -0.5, 0.5, 0.0 }, FitnessShaping.CenteredRanks(new[] { 1.0, 9.0, 3.0 }));
        Assert.Equal(new[] { -0.5, 0.5 }, FitnessShaping.CenteredRanks(new[] { 2.0, 2.0 }));   // ties: index order
    }

    [Fact]
    public void BadInputIsRejectedBeforeAnythingChanges()
    {
        var model = new Mlp(4, 6, 3);
        var named = model.named_parameters().ToArray();
        var sgd = new SGD(model.parameters(), 0.1);
        Assert.Contains("sigma 0", Assert.Throws<ArgumentException>(() => new OpenAIES(named, sgd, 4, 0)).Message);
        Assert.Contains("sigma -1", Assert.Throws<ArgumentException>(() => new Eggroll(model, sgd, 4, -1)).Message);
        Assert.Contains("population 5", Assert.Throws<ArgumentException>(() => new OpenAIES(named, sgd, 5, 0.1)).Message);
        Assert.Contains("population 7", Assert.Throws<ArgumentException>(() => new Eggroll(model, sgd, 7, 0.1)).Message);
        Assert.Contains("rank 0", Assert.Throws<ArgumentException>(() => new Eggroll(model, sgd, 4, 0.1, rank: 0)).Message);
        Assert.Contains("rank 4", Assert.Throws<ArgumentException>(() => new Eggroll(model, sgd, 4, 0.1, rank: 4)).Message);
        Assert.Contains("epsilon 0", Assert.Throws<ArgumentException>(() => new MeZO(named, epsilon: 0)).Message);
        Assert.Contains("particle batch 3", Assert.Throws<ArgumentException>(() => new ConsensusBasedOptimization(5, particles: 10, particleBatch: 3)).Message);

        var es = new Eggroll(model, sgd, 4, 0.1, seed: 1);
        var before = Snapshot(model);
        var bad = new[] { -1.0, double.NaN, 0.5, 0.2 };
        Assert.Contains("member 1", Assert.Throws<ArgumentException>(() => es.Tell(bad)).Message);
        Assert.Throws<ArgumentException>(() => es.Tell(new[] { 1.0, 2.0 }));
        Bits.Equal(before, Snapshot(model), "after rejected fitness");
        Assert.Equal(0, es.Generation);
        es.NonFinitePolicy = NonFiniteFitnessPolicy.Worst;
        es.Tell(bad);                        // NaN treated as the worst value (−1)
        Assert.Equal(1, es.Generation);
        Assert.Equal(es.LastShapedFitness[0], es.LastShapedFitness[1]);

        var mezo = new MeZO(named, lr: 0.1, seed: 2);
        var snap = Snapshot(model);
        Assert.Throws<ArgumentException>(() => mezo.step(() => tensor(double.NaN)));
        Assert.Equal(0, mezo.StepCount);
        Assert.Throws<ArgumentException>(() => mezo.step());
        // Back at θ up to the rounding of +εz −2εz +εz (float32): no update was applied.
        foreach (var (p, s) in model.parameters().Zip(snap))
        {
            using var q = tensor(MemoryMarshalFloats(s)).reshape(p.shape);
            Assert.True(p.sub(q).abs().max().ToDouble() < 1e-6);
        }
    }

    private static float[] MemoryMarshalFloats(byte[] b) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(b).ToArray();

    [Fact]
    public void CheckpointsResumeBitForBit()
    {
        string dir = Directory.CreateTempSubdirectory("sharpoptim-gf-").FullName;
        try
        {
            var x = randn(12, 4);
            var y = randint(0, 3, new long[] { 12 });

            // EGGROLL with Adam: 3 generations, save, 2 more; a fresh stepper loads and runs the same 2.
            (Mlp, Eggroll) NewEggroll(int seed)
            {
                manual_seed(seed);
                var m = new Mlp(4, 6, 3);
                return (m, new Eggroll(m, new Adam(m.parameters(), lr: 0.05), 6, 0.1, seed: 11));
            }
            Tensor Fit(Mlp m) => nn.functional.cross_entropy(m.forward(x.repeat(6, 1)), y.repeat(6), reduction: nn.Reduction.None).reshape(6, 12).mean(new long[] { 1 }).neg();
            var (ma, ea) = NewEggroll(1);
            for (int g = 0; g < 3; g++) ea.Step(() => Fit(ma));
            string p1 = Path.Combine(dir, "eggroll.ckpt");
            ea.Save(p1);
            for (int g = 0; g < 2; g++) ea.Step(() => Fit(ma));
            var (mb, eb) = NewEggroll(99);
            eb.Load(p1);
            Assert.Equal(3, eb.Generation);
            for (int g = 0; g < 2; g++) eb.Step(() => Fit(mb));
            Bits.Equal(Snapshot(ma), Snapshot(mb), "EGGROLL resumed");
            Bits.Equal(Bits.State((OptimizerBase)ea.Inner), Bits.State((OptimizerBase)eb.Inner), "EGGROLL inner Adam resumed");

            // MeZO.
            (Mlp, MeZO) NewMezo(int seed)
            {
                manual_seed(seed);
                var m = new Mlp(4, 6, 3);
                return (m, new MeZO(m.named_parameters(), lr: 0.05, weightDecay: 0.01, seed: 4));
            }
            var (m1, z1) = NewMezo(1);
            for (int s = 0; s < 3; s++) z1.step(() => nn.functional.cross_entropy(m1.forward(x), y));
            string p2 = Path.Combine(dir, "mezo.ckpt");
            z1.Save(p2);
            for (int s = 0; s < 3; s++) z1.step(() => nn.functional.cross_entropy(m1.forward(x), y));
            var (m2, z2) = NewMezo(2);
            z2.Load(p2);
            for (int s = 0; s < 3; s++) z2.step(() => nn.functional.cross_entropy(m2.forward(x), y));
            Bits.Equal(Snapshot(m1), Snapshot(m2), "MeZO resumed");

            // CBO, with cooling and particle batches.
            ConsensusBasedOptimization NewCbo() => new(5, particles: 12, particleBatch: 4, sigma: 0.5, alpha: 20, seed: 6);
            Tensor Loss(Tensor p) => p.mul(p).sum(1);
            var c1 = NewCbo();
            c1.Step(Loss); c1.EndEpoch(); c1.Step(Loss);
            string p3 = Path.Combine(dir, "cbo.ckpt");
            c1.Save(p3);
            for (int s = 0; s < 3; s++) { c1.Step(Loss); c1.EndEpoch(); }
            var c2 = NewCbo();
            c2.Load(p3);
            for (int s = 0; s < 3; s++) { c2.Step(Loss); c2.EndEpoch(); }
            Bits.Equal(new[] { Bits.Of(c1.Particles), Bits.Of(c1.Consensus) }, new[] { Bits.Of(c2.Particles), Bits.Of(c2.Consensus) }, "CBO resumed");
            Assert.Equal(c1.Sigma, c2.Sigma);
            Assert.Equal(c1.Alpha, c2.Alpha);

            // A corrupted file changes nothing.
            var bytes = File.ReadAllBytes(p3);
            bytes[40] ^= 0xFF;
            File.WriteAllBytes(p3, bytes);
            var keep = Bits.Of(c2.Particles);
            Assert.Throws<InvalidDataException>(() => c2.Load(p3));
            Assert.True(keep.AsSpan().SequenceEqual(Bits.Of(c2.Particles)));
            Assert.Throws<InvalidDataException>(() => c2.Load(p2));   // a MeZO file is not a CBO state
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CboTrainsAQuadraticAndCoolsAsTheAuthorsSchedule()
    {
        var cbo = new ConsensusBasedOptimization(4, particles: 40, particleBatch: 10, sigma: 2.0, alpha: 100, seed: 2);
        var target = tensor(new float[] { 1, -2, 0.5f, 3 });
        Tensor Loss(Tensor p) { var d = p.sub(target.unsqueeze(0)); return d.mul(d).sum(1); }
        for (int s = 0; s < 200; s++) cbo.Step(Loss);
        // The consensus reaches the minimiser. Bound: a 10-particle batch's consensus scatters by ~0.03 around it (12
        // seeds of a PyTorch re-implementation: at most 0.034 after 200 steps); premature collapse elsewhere gives > 0.3.
        Assert.True(cbo.Consensus.sub(target).abs().max().ToDouble() < 0.1, $"consensus {cbo.Consensus.sub(target).abs().max().ToDouble()} from the minimiser");
        cbo.EndEpoch();
        Assert.Equal(2.0 * Math.Log2(2) / Math.Log2(3), cbo.Sigma, 12);
        Assert.Equal(200, cbo.Alpha);
    }
}
