using System.Globalization;
using SharpOptim.Distributed;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// A real classification task split across workers for the distributed family: digits (scikit-learn 8×8, MLP
/// 64-64-10, as <c>compare</c>'s digits task), mnist10k (MLP 784-128-10; needs <c>sharpoptim data fetch mnist10k</c>)
/// and digits-l1, the composite task of Prox-DASA (../shared/papers/distributed.md §4): multinomial logistic regression
/// on digits, f(x) = mean cross-entropy, Ψ(x) = <see cref="L1"/>·‖x‖₁ (weights and biases).
/// Each worker's shard comes from <see cref="DataPartition"/> over the training rows, so every rank computes it
/// alone from (seed, n, scheme). Initial weights come from <see cref="InitialParameters"/> (a seeded
/// <see cref="Random"/>, PyTorch's nn.Linear init distribution), not from libtorch's global generator, so ranks on
/// threads and ranks under mpirun start from the same bits. The data tensors are read-only after loading and are
/// shared by the in-process ranks.
/// </summary>
public sealed class DistributedTask : IDisposable
{
    private readonly ClassificationData _data;
    private readonly int[] _trainLabels;

    /// <summary>Loads task <paramref name="name"/> (mnist10k from <paramref name="cacheDirectory"/>). <paramref name="l1"/>
    /// replaces digits-l1's ℓ1 weight (default 1e-3); other tasks reject it.</summary>
    public DistributedTask(string name, string? cacheDirectory = null, double? l1 = null)
    {
        if (l1 is { } w && (name != "digits-l1" || !(w > 0) || !double.IsFinite(w)))
            throw new ArgumentException(FormattableString.Invariant($"an l1 weight ({w}) applies only to digits-l1 and must be positive and finite; task '{name}'."), nameof(l1));
        Name = name;
        switch (name)
        {
            case "digits":
                _data = Digits.Load();
                Widths = new[] { 64, 64, 10 };
                Description = "scikit-learn 8x8 digits (1,437 train / 360 test), MLP 64-64-10, cross-entropy";
                break;
            case "mnist10k":
                _data = Mnist10k.Load(cacheDirectory);
                Widths = new[] { 784, 128, 10 };
                Description = "MNIST 10k (8,000 train / 2,000 test), MLP 784-128-10, cross-entropy";
                break;
            case "digits-l1":
                _data = Digits.Load();
                Widths = new[] { 64, 10 };
                L1 = l1 ?? 1e-3;
                Description = FormattableString.Invariant($"digits, multinomial logistic regression 64-10, mean cross-entropy + {L1:G}·‖x‖₁ (composite)");
                break;
            default:
                throw new ArgumentException(FormattableString.Invariant($"unknown distributed task '{name}'; valid: {string.Join(", ", Names)}."), nameof(name));
        }
        _trainLabels = _data.TrainY.data<long>().Select(v => (int)v).ToArray();
    }

    /// <summary>Task names, the default first.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "digits", "mnist10k", "digits-l1" };

    /// <summary>Task name.</summary>
    public string Name { get; }

    /// <summary>One line for reports.</summary>
    public string Description { get; }

    /// <summary>Layer widths of the MLP (input, hidden…, classes).</summary>
    public IReadOnlyList<int> Widths { get; }

    /// <summary>ℓ1 weight of the composite objective (0 for the smooth tasks).</summary>
    public double L1 { get; }

    /// <summary>Number of training rows.</summary>
    public int TrainCount => _trainLabels.Length;

    /// <summary>A fresh model of this task (weights to be set with <see cref="InitialParameters"/>).</summary>
    public Mlp CreateModel() => new(Widths.ToArray());

    /// <summary>
    /// The initial flat parameter vector for <paramref name="seed"/>, in <see cref="Mlp"/>'s parameter order (per layer:
    /// weight, then bias), each entry U(−1/√fan_in, 1/√fan_in) as PyTorch's nn.Linear draws them, from a seeded
    /// <see cref="Random"/>.
    /// </summary>
    public float[] InitialParameters(int seed)
    {
        var rng = new Random(unchecked(seed * 92_821 + 17));
        var values = new List<float>();
        for (int l = 0; l + 1 < Widths.Count; l++)
        {
            double bound = 1 / Math.Sqrt(Widths[l]);
            int count = Widths[l] * Widths[l + 1] + Widths[l + 1];
            for (int i = 0; i < count; i++) values.Add((float)((2 * rng.NextDouble() - 1) * bound));
        }
        return values.ToArray();
    }

    /// <summary>
    /// Worker <paramref name="rank"/>'s problem: its own model at <see cref="InitialParameters"/>(seed) and a loss over
    /// mini-batches of <paramref name="batch"/> rows drawn from its shard (reshuffled every pass, seeded by (seed, rank)).
    /// </summary>
    public (WorkerProblem Problem, int ShardSize) CreateWorker(int rank, int workers, string partition, double alpha, int seed, int batch)
    {
        var (problem, _, shardSize) = CreateWorkerWithBatches(rank, workers, partition, alpha, seed, batch);
        return (problem, shardSize);
    }

    /// <summary>
    /// <see cref="CreateWorker"/> together with the worker's batch source: <c>NextBatch()</c> draws the next mini-batch
    /// (the same stream the problem's <see cref="WorkerProblem.NextLoss"/> draws from: the problem's loss is
    /// <c>NextBatch()()</c>) and returns a closure giving the loss on that batch at the current weights, so a method can
    /// take two gradients on one batch (FedSpeed's SAM step). Use one of the two per worker, not both.
    /// </summary>
    public (WorkerProblem Problem, Func<Func<Tensor>> NextBatch, int ShardSize) CreateWorkerWithBatches(int rank, int workers, string partition, double alpha, int seed, int batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be at least 1.");
        if (rank < 0 || rank >= workers) throw new ArgumentOutOfRangeException(nameof(rank), rank, FormattableString.Invariant($"rank must lie in [0, {workers})."));
        var shards = DataPartition.Split(_trainLabels, workers, partition, seed, alpha);
        var shard = shards[rank];
        var model = CreateModel();
        var nextBatch = NextBatchOver(model, shard, batch, new Random(unchecked(seed * 1_000_003 + 7919 * (rank + 1))));
        var problem = new WorkerProblem(model, () => nextBatch()());
        problem.SetParameters(InitialParameters(seed));
        return (problem, nextBatch, shard.Length);
    }

    private Func<Func<Tensor>> NextBatchOver(Mlp model, int[] shard, int batch, Random rng)
    {
        var order = (int[])shard.Clone();
        int position = order.Length;
        int size = Math.Min(batch, shard.Length);
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
            return () => BatchLoss(model, rows);
        };
    }

    private Tensor BatchLoss(Mlp model, int[] rows)
    {
        using var idx = tensor(rows.Select(r => (long)r).ToArray(), ScalarType.Int64);
        using var x = _data.TrainX.index_select(0, idx);
        using var y = _data.TrainY.index_select(0, idx);
        // The logits are held (and disposed) here rather than left unreferenced during cross_entropy's native call: a
        // caller without a dispose scope would otherwise leave them to a finalizer that can run mid-call. The autograd
        // graph keeps its own reference, so disposing this wrapper does not affect backward.
        using var logits = model.forward(x);
        return nn.functional.cross_entropy(logits, y);
    }

    /// <summary>
    /// Metrics of the parameter vector <paramref name="parameters"/> on <paramref name="model"/> (overwritten): training
    /// loss and accuracy on all training rows, test loss and accuracy; for digits-l1 also the composite objective
    /// F = f + Ψ, the composite stationarity ‖x − prox_Ψ(x − ∇f(x))‖² (unit step, full training gradient, brief §1.2)
    /// the fraction of exactly zero entries of x (<c>sparsity</c>) and of the prox point prox_Ψ(x − ∇f(x)) that the
    /// stationarity measure uses (<c>prox_sparsity</c>: averaging methods such as Prox-DASA output a convex combination
    /// of sparse prox points, which is sparse only in the limit).
    /// </summary>
    public IReadOnlyDictionary<string, double> Evaluate(Mlp model, ReadOnlySpan<float> parameters)
    {
        var problem = new WorkerProblem(model, () => nn.functional.cross_entropy(model.forward(_data.TrainX), _data.TrainY));
        problem.SetParameters(parameters);
        var metrics = new Dictionary<string, double>();
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var train = model.forward(_data.TrainX);
            metrics["train_loss"] = nn.functional.cross_entropy(train, _data.TrainY).to(ScalarType.Float64).item<double>();
            metrics["train_accuracy"] = train.argmax(1).eq(_data.TrainY).to(ScalarType.Float64).mean().item<double>();
            var test = model.forward(_data.TestX);
            metrics["test_loss"] = nn.functional.cross_entropy(test, _data.TestY).to(ScalarType.Float64).item<double>();
            metrics["test_accuracy"] = test.argmax(1).eq(_data.TestY).to(ScalarType.Float64).mean().item<double>();
        }
        if (L1 > 0)
        {
            var g = new float[problem.Length];
            // Inside the scope: p.grad returns a new wrapper per call, which must stay reachable while zero_ runs (an
            // unreferenced one can be finalized mid-call when another rank's thread starts a garbage collection).
            using (var scope = NewDisposeScope())
            {
                foreach (var p in problem.Parameters) p.grad?.zero_();
                problem.NextLoss().backward();
            }
            problem.CopyGradientsTo(g);
            double l1Norm = 0, stationarity = 0;
            int zeros = 0, proxZeros = 0;
            for (int i = 0; i < g.Length; i++)
            {
                double x = parameters[i], v = x - g[i];
                double prox = v > L1 ? v - L1 : v < -L1 ? v + L1 : 0;
                stationarity += (x - prox) * (x - prox);
                l1Norm += Math.Abs(x);
                if (parameters[i] == 0) zeros++;
                if (prox == 0) proxZeros++;
            }
            metrics["objective"] = metrics["train_loss"] + L1 * l1Norm;
            metrics["stationarity"] = stationarity;
            metrics["sparsity"] = (double)zeros / g.Length;
            metrics["prox_sparsity"] = (double)proxZeros / g.Length;
        }
        return metrics;
    }

    /// <inheritdoc />
    public void Dispose() => _data.Dispose();

    /// <inheritdoc />
    public override string ToString() => Name.ToString(CultureInfo.InvariantCulture);
}
