using System.Text.Json;
using SharpOptim.Distributed;
using SharpOptim.Tasks.Models;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// Golden parity of each algorithm with the float64 PyTorch reference (tools/golden/distributed_algorithms.py: same
/// data, initial weights and batch indices), the equivalences of the brief (§1.4), the gradient-tracking invariant,
/// x̄-preservation by gossip, and bad input. Everything runs on <see cref="InProcessWorld"/>.
/// </summary>
public class DistributedAlgorithmTests
{
    // float32 iterates against a float64 reference over ≤ 9 steps of a well-conditioned logistic problem: the
    // differences are float32 rounding (~1e-7 relative per operation) amplified by at most a few steps.
    private const double GoldenTolerance = 2e-5;

    private sealed class Fixture
    {
        public Fixture()
        {
            using var doc = Golden.Load("distributed_algorithms.json");
            Root = doc.RootElement.Clone();
            Workers = Root.GetProperty("workers").GetInt32();
            Features = Root.GetProperty("features").GetInt32();
            Classes = Root.GetProperty("classes").GetInt32();
            Rounds = Root.GetProperty("rounds").GetInt32();
            X = Root.GetProperty("x").Floats();
            Y = Root.GetProperty("y").Longs();
            X0 = Root.GetProperty("x0").Floats();
            Batches = Root.GetProperty("batches").EnumerateArray()
                .Select(w => w.EnumerateArray().Select(b => b.EnumerateArray().Select(i => i.GetInt32()).ToArray()).ToArray()).ToArray();
        }

        public JsonElement Root { get; }
        public int Workers { get; }
        public int Features { get; }
        public int Classes { get; }
        public int Rounds { get; }
        public float[] X { get; }
        public long[] Y { get; }
        public float[] X0 { get; }
        public int[][][] Batches { get; }

        /// <summary>Worker <paramref name="rank"/>'s problem: logistic regression at x0, fed the fixture's batches in order.</summary>
        public WorkerProblem Problem(int rank)
        {
            var model = new Mlp(Features, Classes);
            var data = tensor(X, new long[] { X.Length / Features, Features });
            var labels = tensor(Y);
            int call = 0;
            var problem = new WorkerProblem(model, () =>
            {
                var rows = Batches[rank][call++];
                using var idx = tensor(rows.Select(r => (long)r).ToArray());
                return nn.functional.cross_entropy(model.forward(data.index_select(0, idx)), labels.index_select(0, idx));
            });
            problem.SetParameters(X0);
            return problem;
        }
    }

    private static readonly Lazy<Fixture> Data = new(() => new Fixture());

    /// <summary>Runs <paramref name="make"/> on every rank for <paramref name="rounds"/> rounds; returns each rank's reported parameters.</summary>
    private static float[][] RunWorld(int n, int rounds, Func<ICommunicator, WorkerProblem, IDistributedAlgorithm> make, Func<int, WorkerProblem> problem)
    {
        var results = new float[n][];
        InProcessWorld.Run(n, comm =>
        {
            var p = problem(comm.Rank);
            var algorithm = make(comm, p);
            for (int r = 0; r < rounds; r++) algorithm.Round();
            results[comm.Rank] = new float[p.Length];
            algorithm.CopyReportedParametersTo(results[comm.Rank]);
        }, TimeSpan.FromSeconds(30));
        return results;
    }

    private static void AssertClose(IReadOnlyList<double> expected, IReadOnlyList<float> actual, double tolerance, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        double worst = 0;
        for (int i = 0; i < expected.Count; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]) / (1 + Math.Abs(expected[i])));
        Assert.True(worst <= tolerance, $"{what}: largest difference {worst:E3} > {tolerance:E1}");
    }

    private static double[] Expected(string algorithm) =>
        Data.Value.Root.GetProperty(algorithm).GetProperty("final").EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static double Hyper(string algorithm, string name) => Data.Value.Root.GetProperty(algorithm).GetProperty(name).GetDouble();

    [Fact]
    public void DecentralizedSgdAndGradientTrackingMatchTheReference()
    {
        var f = Data.Value;
        var dsgd = RunWorld(f.Workers, f.Rounds, (c, p) => new DecentralizedSgd(p, c, Topology.Ring(f.Workers), Hyper("dsgd", "lr")), f.Problem);
        AssertClose(Expected("dsgd"), dsgd.SelectMany(x => x).ToArray(), GoldenTolerance, "D-SGD");
        var gt = RunWorld(f.Workers, f.Rounds, (c, p) => new GradientTracking(p, c, Topology.Ring(f.Workers), Hyper("gt", "lr")), f.Problem);
        AssertClose(Expected("gt"), gt.SelectMany(x => x).ToArray(), GoldenTolerance, "gradient tracking");
    }

    /// <summary>prox-D-SGD (l1 &gt; 0, the Prox-DASA miniature's baseline): one round is the reference-checked plain
    /// D-SGD round followed by soft-thresholding at η·l1, written here independently — exactly, with a threshold (the
    /// median magnitude) that zeroes some coordinates and shrinks the others; a negative l1 is refused.</summary>
    [Fact]
    public void ProxDecentralizedSgdIsADsgdRoundThenSoftThresholding()
    {
        var f = Data.Value;
        double lr = Hyper("dsgd", "lr");
        var plain = RunWorld(f.Workers, 1, (c, p) => new DecentralizedSgd(p, c, Topology.Ring(f.Workers), lr), f.Problem);
        var magnitudes = plain.SelectMany(x => x).Select(v => Math.Abs((double)v)).OrderBy(v => v).ToArray();
        double l1 = magnitudes[magnitudes.Length / 2] / lr, c = lr * l1;
        var prox = RunWorld(f.Workers, 1, (comm, p) => new DecentralizedSgd(p, comm, Topology.Ring(f.Workers), lr, l1: l1), f.Problem);
        int zeros = 0;
        for (int w = 0; w < f.Workers; w++)
            for (int i = 0; i < plain[w].Length; i++)
            {
                double a = plain[w][i];
                float expected = a > c ? (float)(a - c) : a < -c ? (float)(a + c) : 0f;
                Assert.Equal(expected, prox[w][i]);
                if (expected == 0f) zeros++;
            }
        Assert.InRange(zeros, 1, plain.Sum(x => x.Length) - 1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => RunWorld(f.Workers, 1, (comm, p) => new DecentralizedSgd(p, comm, Topology.Ring(f.Workers), lr, l1: -1e-3), f.Problem));
        Assert.Equal("l1", e.ParamName);
    }

    [Fact]
    public void OtherOrdersAndLocalStepsMatchTheReference()
    {
        var f = Data.Value;
        var cta = RunWorld(f.Workers, f.Rounds, (c, p) => new DecentralizedSgd(p, c, Topology.Ring(f.Workers), Hyper("dsgd_cta", "lr"), GossipOrder.CombineThenAdapt), f.Problem);
        AssertClose(Expected("dsgd_cta"), cta.SelectMany(x => x).ToArray(), GoldenTolerance, "D-PSGD (combine then adapt)");
        var local = RunWorld(f.Workers, f.Rounds, (c, p) => new DecentralizedSgd(p, c, Topology.Ring(f.Workers), Hyper("dsgd_local2", "lr"), mixEvery: 2), f.Problem);
        AssertClose(Expected("dsgd_local2"), local.SelectMany(x => x).ToArray(), GoldenTolerance, "D-SGD mixing every 2 steps");
        var diging = RunWorld(f.Workers, f.Rounds, (c, p) => new GradientTracking(p, c, Topology.Ring(f.Workers), Hyper("gt_diging", "lr"), order: GossipOrder.CombineThenAdapt), f.Problem);
        AssertClose(Expected("gt_diging"), diging.SelectMany(x => x).ToArray(), GoldenTolerance, "gradient tracking, DIGing order");
    }

    [Theory]
    [InlineData("prox_dasa_plain", ProxDasaVariant.ProxDasa)]
    [InlineData("prox_dasa_gt", ProxDasaVariant.GradientTracking)]
    [InlineData("prox_dasa_gt_as_coded", ProxDasaVariant.GradientTrackingAsCoded)]
    public void ProxDasaVariantsMatchTheReference(string key, ProxDasaVariant variant)
    {
        var f = Data.Value;
        var result = RunWorld(f.Workers, f.Rounds, (c, p) => new ProxDasa(p, c, Topology.Ring(f.Workers), Hyper(key, "lr"), Hyper(key, "alpha_base"),
            Hyper(key, "l1"), variant), f.Problem);
        AssertClose(Expected(key), result.SelectMany(x => x).ToArray(), GoldenTolerance, key);
    }

    [Fact]
    public void FedAvgAndDiLoCoMatchTheReference()
    {
        var f = Data.Value;
        var fed = RunWorld(f.Workers, (int)Hyper("fedavg", "rounds"), (c, p) => new FedAvg(p, c, Hyper("fedavg", "lr"), (int)Hyper("fedavg", "local_steps")), f.Problem);
        foreach (var w in fed) AssertClose(Expected("fedavg"), w, GoldenTolerance, "FedAvg");
        var diloco = RunWorld(f.Workers, (int)Hyper("diloco", "rounds"), (c, p) => new DiLoCo(p, c, (int)Hyper("diloco", "inner_steps"),
            Hyper("diloco", "inner_lr"), Hyper("diloco", "inner_weight_decay"), Hyper("diloco", "outer_lr"), Hyper("diloco", "outer_momentum")), f.Problem);
        foreach (var w in diloco) AssertClose(Expected("diloco"), w, GoldenTolerance, "DiLoCo");
    }

    // Large-batch SGD on the union of the workers' batches of each step (equal batch sizes: the mean of the workers'
    // mean losses is the mean over the union), in float32 like the algorithms.
    private static float[] LargeBatchSgd(Fixture f, double lr, int steps)
    {
        var model = new Mlp(f.Features, f.Classes);
        var data = tensor(f.X, new long[] { f.X.Length / f.Features, f.Features });
        var labels = tensor(f.Y);
        int step = 0;
        var problem = new WorkerProblem(model, () =>
        {
            var rows = Enumerable.Range(0, f.Workers).SelectMany(w => f.Batches[w][step]).Select(r => (long)r).ToArray();
            step++;
            using var idx = tensor(rows);
            return nn.functional.cross_entropy(model.forward(data.index_select(0, idx)), labels.index_select(0, idx));
        });
        var x = (float[])f.X0.Clone();
        var g = new float[x.Length];
        for (int s = 0; s < steps; s++)
        {
            DistributedKernels.Gradient(problem, x, g);
            for (int i = 0; i < x.Length; i++) x[i] -= (float)lr * g[i];
        }
        return x;
    }

    [Fact]
    public void FullyConnectedDsgdAndOneStepFedAvgAreLargeBatchSgd()
    {
        var f = Data.Value;
        var sgd = LargeBatchSgd(f, 0.5, f.Rounds).Select(v => (double)v).ToArray();
        var dsgd = RunWorld(f.Workers, f.Rounds, (c, p) => new DecentralizedSgd(p, c, Topology.FullyConnected(f.Workers), 0.5), f.Problem);
        var fed = RunWorld(f.Workers, f.Rounds, (c, p) => new FedAvg(p, c, 0.5, localSteps: 1), f.Problem);
        // Same arithmetic up to the order of float32 sums (mean of per-worker gradients vs gradient of the union).
        foreach (var w in dsgd) AssertClose(sgd, w, 1e-5, "fully connected D-SGD vs large-batch SGD");
        foreach (var w in fed) AssertClose(sgd, w, 1e-5, "FedAvg(E = 1) vs large-batch SGD");
    }

    [Fact]
    public void DiLoCoWithOuterLrOneAndNoMomentumIsFedAvg()
    {
        var f = Data.Value;
        var fed = RunWorld(f.Workers, 3, (c, p) => new FedAvg(p, c, 0.5, localSteps: 2), f.Problem);
        var diloco = RunWorld(f.Workers, 3, (c, p) => new DiLoCo(p, c, 2, ps => optim.SGD(ps, 0.5), outerLr: 1, outerMomentum: 0, nesterov: false), f.Problem);
        for (int r = 0; r < f.Workers; r++)
            AssertClose(fed[r].Select(v => (double)v).ToArray(), diloco[r], 1e-6, "DiLoCo(outer lr 1, μ 0) vs FedAvg");
    }

    [Fact]
    public void GradientTrackingOnOneWorkerIsSgd()
    {
        var f = Data.Value;
        var gt = RunWorld(1, 5, (c, p) => new GradientTracking(p, c, Topology.FullyConnected(1), 0.3), f.Problem)[0];
        // SGD on worker 0's batches: the tracker equals the latest gradient when n = 1.
        var p0 = f.Problem(0);
        var x = (float[])f.X0.Clone();
        var g = new float[x.Length];
        for (int s = 0; s < 5; s++)
        {
            DistributedKernels.Gradient(p0, x, g);
            for (int i = 0; i < x.Length; i++) x[i] -= 0.3f * g[i];
        }
        AssertClose(x.Select(v => (double)v).ToArray(), gt, 1e-6, "GT(n = 1) vs SGD");
    }

    [Fact]
    public void TrackerMeanEqualsGradientMeanAfterEveryRound()
    {
        var f = Data.Value;
        double largest = 0;
        InProcessWorld.Run(f.Workers, comm =>
        {
            var p = f.Problem(comm.Rank);
            var gt = new GradientTracking(p, comm, Topology.Exponential(f.Workers), 0.3);
            for (int r = 0; r < f.Rounds; r++)
            {
                gt.Round();
                var y = gt.Tracker.ToArray();
                var g = gt.LastGradient.ToArray();
                // mean_i y_i − mean_i g_i through the communicator itself.
                var diff = new float[y.Length];
                for (int i = 0; i < y.Length; i++) diff[i] = y[i] - g[i];
                comm.AllReduceSum(diff);
                if (comm.Rank == 0) largest = Math.Max(largest, diff.Max(v => Math.Abs(v)) / f.Workers);
            }
        });
        // float32 rounding of y's updates accumulates over 8 rounds; gradients are O(1).
        Assert.True(largest < 1e-6, $"mean y − mean g reached {largest:E3}");
    }

    [Theory]
    [InlineData("ring")]
    [InlineData("exponential")]
    [InlineData("one-peer-exponential")]
    [InlineData("random-pairing")]
    [InlineData("torus")]
    public void GossipPreservesTheAverage(string topologyName)
    {
        int n = topologyName == "torus" ? 9 : 6;
        var topology = Topology.Create(topologyName, n, seed: 5);
        var vectors = Enumerable.Range(0, n).Select(r => Enumerable.Range(0, 7).Select(i => (float)Math.Sin(3 * r + i)).ToArray()).ToArray();
        var before = Enumerable.Range(0, 7).Select(i => vectors.Average(v => (double)v[i])).ToArray();
        double spreadBefore = vectors.Sum(v => v.Select((e, i) => (e - before[i]) * (e - before[i])).Sum());
        InProcessWorld.Run(n, comm =>
        {
            float[]? scratch = null;
            for (int t = 0; t < 6; t++) DistributedKernels.Mix(comm, topology, t, vectors[comm.Rank], 7, ref scratch);
        });
        var after = Enumerable.Range(0, 7).Select(i => vectors.Average(v => (double)v[i])).ToArray();
        for (int i = 0; i < 7; i++) Assert.Equal(before[i], after[i], 6);
        double spreadAfter = vectors.Sum(v => v.Select((e, i) => (e - after[i]) * (e - after[i])).Sum());
        Assert.True(spreadAfter < spreadBefore, $"{topologyName}: the disagreement should shrink ({spreadBefore} → {spreadAfter})");
    }

    [Fact]
    public void BadInputIsRejectedBeforeAnyStateChanges()
    {
        var f = Data.Value;
        // World size mismatch: a 3-worker ring in a 4-rank world.
        var e = Assert.Throws<ArgumentException>(() => RunWorld(4, 1, (c, p) => new DecentralizedSgd(p, c, Topology.Ring(3), 0.1), f.Problem));
        Assert.Contains("3 workers", e.Message);
        // A row-stochastic-only matrix where a doubly stochastic one is required.
        var rowOnly = Topology.FromMatrix(new double[,] { { 0.5, 0.5, 0, 0 }, { 0.5, 0.5, 0, 0 }, { 0, 0.5, 0.5, 0 }, { 0, 0, 0.5, 0.5 } }, requireDoublyStochastic: false);
        var e2 = Assert.Throws<ArgumentException>(() => RunWorld(4, 1, (c, p) => new GradientTracking(p, c, rowOnly, 0.1), f.Problem));
        Assert.Contains("doubly stochastic", e2.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => RunWorld(1, 1, (c, p) => new DiLoCo(p, c, 0), f.Problem));
        Assert.Throws<ArgumentOutOfRangeException>(() => RunWorld(1, 1, (c, p) => new FedAvg(p, c, 0.1, 1, participation: 1.5), f.Problem));
        Assert.Throws<ArgumentOutOfRangeException>(() => RunWorld(1, 1, (c, p) => new ProxDasa(p, c, Topology.FullyConnected(1), 1, 0.3, -1), f.Problem));
    }

    [Fact]
    public void ARankDyingMidRunFailsTheRunWithoutHanging()
    {
        var f = Data.Value;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.ThrowsAny<Exception>(() => RunWorld(f.Workers, 6, (c, p) =>
        {
            if (c.Rank != 2) return new DecentralizedSgd(p, c, Topology.Ring(f.Workers), 0.1);
            int calls = 0;
            var dying = new WorkerProblem(p.Model, () => ++calls == 3 ? throw new InvalidOperationException("worker 2 lost its data") : p.NextLoss());
            return new DecentralizedSgd(dying, c, Topology.Ring(f.Workers), 0.1);
        }, f.Problem));
        Assert.Contains("worker 2 lost its data", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "the other ranks must fail at once, not wait for the timeout");
    }
}
