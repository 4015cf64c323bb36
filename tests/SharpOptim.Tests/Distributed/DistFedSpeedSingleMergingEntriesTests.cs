using SharpOptim.Distributed;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Distributed;
using SharpOptim.Tasks.Models;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// The <c>dist</c> entries of FedSpeed with its SAM step (ρ &gt; 0, through the rank's batch source) and of the
/// single-merging schedule, run through <see cref="DistributedRunner"/> and checked bit for bit against the library
/// classes driven directly on batches that the test draws itself.
/// </summary>
public class DistFedSpeedSingleMergingEntriesTests
{
    private static readonly Lazy<DistributedTask> Task = new(() => new DistributedTask("digits"));

    // 4 workers: the runner's x̄ = (Σ x_i)/4 of four equal vectors is then exact in float32 (4x and x/4 are exact), so
    // metrics of x̄ equal the metrics of the global model bit for bit.
    private const int Workers = 4;

    private static DistributedRunResult RunDist(string algorithm, int rounds, string partition, int seed, int batch, Dictionary<string, double> hyper)
    {
        var options = new DistributedRunOptions(algorithm, Task.Value, Workers, "ring", partition, 0.3, rounds, rounds, batch, seed, hyper);
        DistributedRunResult? result = null;
        InProcessWorld.Run(Workers, comm =>
        {
            var r = DistributedRunner.RunRank(comm, options);
            if (comm.Rank == 0) result = r;
        }, TimeSpan.FromSeconds(120));
        return result!;
    }

    // The test's own batch stream, written from DistributedTask's documented contract: the worker's shard from
    // DataPartition, reshuffled (Fisher–Yates from the end) whenever a full batch no longer fits, seeded by (seed, rank);
    // loss = mean cross-entropy of the batch. Each call draws a batch and returns the loss on it at the current weights.
    private static Func<Func<Tensor>> Batches(ClassificationData data, Mlp model, int rank, string partition, int seed, int batch)
    {
        var labels = data.TrainY.data<long>().Select(v => (int)v).ToArray();
        var order = (int[])DataPartition.Split(labels, Workers, partition, seed, 0.3)[rank].Clone();
        var rng = new Random(unchecked(seed * 1_000_003 + 7919 * (rank + 1)));
        int position = order.Length, size = Math.Min(batch, order.Length);
        return () =>
        {
            if (position + size > order.Length)
            {
                for (int i = order.Length - 1; i > 0; i--)
                {
                    int j = rng.Next(i + 1);
                    (order[i], order[j]) = (order[j], order[i]);
                }
                position = 0;
            }
            var rows = order.AsSpan(position, size).ToArray();
            position += size;
            return () =>
            {
                using var idx = tensor(rows.Select(r => (long)r).ToArray(), ScalarType.Int64);
                using var x = data.TrainX.index_select(0, idx);
                using var y = data.TrainY.index_select(0, idx);
                using var logits = model.forward(x);
                return nn.functional.cross_entropy(logits, y);
            };
        };
    }

    private static Mlp ModelAt(int seed)
    {
        var model = Task.Value.CreateModel();
        new WorkerProblem(model, () => throw new InvalidOperationException()).SetParameters(Task.Value.InitialParameters(seed));
        return model;
    }

    private static float[] DirectFedSpeed(int rounds, int seed, int batch, FedSpeedOptions options)
    {
        using var data = Digits.Load();
        var global = new float[Task.Value.InitialParameters(seed).Length];
        InProcessWorld.Run(Workers, comm =>
        {
            var model = ModelAt(seed);
            var fedspeed = new FedSpeed(comm, model, Batches(data, model, comm.Rank, "dirichlet", seed, batch), options);
            for (int t = 0; t < rounds; t++) fedspeed.Round();
            if (comm.Rank == 0) fedspeed.CopyReportedParametersTo(global);
        }, TimeSpan.FromSeconds(120));
        return global;
    }

    [Fact]
    public void DistFedSpeedWithSamEqualsTheLibraryOnTheSameBatches()
    {
        const int rounds = 3, seed = 2, batch = 16;
        var hyper = new Dictionary<string, double> { ["local_steps"] = 3, ["participation"] = 0.5 };
        var dist = RunDist("fedspeed", rounds, "dirichlet", seed, batch, hyper);
        Assert.Equal(0.1, dist.Hyperparameters["rho"]); // the official code's default ρ
        // Every participant takes two gradients per local step (ρ > 0); a missing ascent would give one.
        var participants = Enumerable.Range(0, rounds).Sum(t => FedSpeed.Participants(seed, t, Workers, 0.5).Length);
        Assert.Equal(2.0 * 3 * participants / Workers, dist.Final.GradientEvaluations);
        // The library's FedSpeed with every option spelled out as the official code's defaults (the entry's defaults).
        var library = new FedSpeedOptions
        {
            LocalSteps = 3, ParticipationRate = 0.5, Seed = seed, Lr = 0.1, LrDecay = 0.998, WeightDecay = 1e-3, Lamb = 0.1, Rho = 0.1,
            MaxGradNorm = 10, MergeWeight = 1, ServerCorrection = true,
        };
        var direct = Task.Value.Evaluate(Task.Value.CreateModel(), DirectFedSpeed(rounds, seed, batch, library));
        foreach (var key in new[] { "train_loss", "test_loss", "train_accuracy", "test_accuracy" })
            Assert.Equal(direct[key], dist.Final.Metrics[key]);
        // ρ matters: without the ascent the same batches give another model.
        var withoutAscent = Task.Value.Evaluate(Task.Value.CreateModel(), DirectFedSpeed(rounds, seed, batch, library with { Rho = 0 }));
        Assert.NotEqual(withoutAscent["train_loss"], dist.Final.Metrics["train_loss"]);
    }

    [Fact]
    public void SingleMergingWithoutGossipIsTheAverageOfIndependentSgdRuns()
    {
        // r = 0 throughout (point1 = 1): every worker trains alone with SGD; the last round merges by one all-reduce.
        const int rounds = 4, localSteps = 3, seed = 1, batch = 16;
        var hyper = new Dictionary<string, double> { ["local_steps"] = localSteps, ["r_start"] = 0, ["point1"] = 1, ["lr"] = 0.05, ["weight_decay"] = 1e-3 };
        var dist = RunDist("single-merging", rounds, "iid", seed, batch, hyper);
        int d = Task.Value.InitialParameters(seed).Length;
        Assert.Equal(rounds * localSteps, dist.Final.GradientEvaluations);
        Assert.Equal(2.0 * d * (Workers - 1) / Workers * sizeof(float), dist.Final.BytesSent); // the merge's all-reduce only
        Assert.Equal(1, dist.GlobalSyncs);
        Assert.Equal(0, dist.Final.ConsensusError);

        using var data = Digits.Load();
        var sum = new double[d];
        for (int rank = 0; rank < Workers; rank++)
        {
            var model = ModelAt(seed);
            var next = Batches(data, model, rank, "iid", seed, batch);
            var problem = new WorkerProblem(model, () => next()());
            var sgd = new SharpOptim.Optimizers.SGD(problem.Parameters, 0.05, weight_decay: 1e-3);
            for (int step = 0; step < rounds * localSteps; step++)
            {
                using var scope = NewDisposeScope();
                sgd.zero_grad();
                problem.NextLoss().backward();
                sgd.step();
            }
            var x = new float[d];
            problem.CopyParametersTo(x);
            for (int k = 0; k < d; k++) sum[k] += x[k];
        }
        // The simulator's all-reduce: float64 sum in rank order, one rounding to float32; then × 1/n.
        var merged = sum.Select(v => (float)((float)v * (1.0 / Workers))).ToArray();
        var direct = Task.Value.Evaluate(Task.Value.CreateModel(), merged);
        foreach (var key in new[] { "train_loss", "test_loss" })
            Assert.Equal(direct[key], dist.Final.Metrics[key]);
    }

    [Fact]
    public void FedSpeedWithoutABatchSourceRejectsSam()
    {
        InProcessWorld.Run(1, comm =>
        {
            var (problem, _) = Task.Value.CreateWorker(0, 1, "iid", 0.1, seed: 0, batch: 8);
            var context = new DistributedAlgorithmContext(problem, comm, Topology.FullyConnected(1), 1, 0, 0, new Dictionary<string, double>());
            var e = Assert.Throws<ArgumentException>(() => DistributedAlgorithms.Get("fedspeed").Create(context));
            Assert.Contains("Rho = 0.1", e.Message);
            Assert.IsType<FedSpeed>(DistributedAlgorithms.Get("fedspeed").Create(context with { Options = new Dictionary<string, double> { ["rho"] = 0 } }));
        });
    }
}
