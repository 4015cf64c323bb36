using System.Globalization;
using SharpOptim.Distributed;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// What a factory in <see cref="DistributedAlgorithms"/> gets to build one rank's algorithm: the rank's problem and
/// communicator, the topology, the planned number of rounds, the run's seed, the task's ℓ1 weight (composite tasks)
/// and the user's hyperparameters by name (<c>--opt k=v</c>), read through <see cref="Option"/>.
/// <para><see cref="NextBatch"/> (null when the caller has none) is the rank's batch source: each call draws the next
/// mini-batch, from the same stream as <see cref="WorkerProblem.NextLoss"/> (which is <c>NextBatch()()</c>), and
/// returns a closure giving the loss on that batch at the current weights, for methods that take two gradients on one
/// batch (FedSpeed's SAM step). A factory uses either it or <c>Problem.NextLoss</c>, never both.</para>
/// <para><see cref="BeforeFinalMerge"/> (null when unused) is the runner's local-model evaluation hook: an algorithm
/// that ends with one global merge of the workers' models (single-merging) calls it on every rank right before that
/// merge; it only observes.</para>
/// </summary>
public sealed record DistributedAlgorithmContext(WorkerProblem Problem, ICommunicator Comm, Topology Topology, int Rounds, int Seed,
    double L1, IReadOnlyDictionary<string, double> Options, Func<Func<Tensor>>? NextBatch = null, Action? BeforeFinalMerge = null)
{
    /// <summary>The user's value of <paramref name="name"/>, or <paramref name="fallback"/>.</summary>
    public double Option(string name, double fallback) => Options.TryGetValue(name, out var v) ? v : fallback;

    /// <summary>The user's value of <paramref name="name"/> as a whole number ≥ 1, or <paramref name="fallback"/>.</summary>
    public int Count(string name, int fallback)
    {
        double v = Option(name, fallback);
        if (v < 1 || v != Math.Floor(v) || v > int.MaxValue)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{name} must be a whole number ≥ 1; got {v}."), name);
        return (int)v;
    }

    /// <summary>A yes/no option (0 = no, anything else = yes).</summary>
    public bool Flag(string name, bool fallback) => Options.TryGetValue(name, out var v) ? v != 0 : fallback;
}
