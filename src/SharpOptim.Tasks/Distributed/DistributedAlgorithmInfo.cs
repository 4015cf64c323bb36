using SharpOptim.Distributed;

namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// One entry of <see cref="DistributedAlgorithms"/>: the factory that builds a rank's algorithm, the default number of
/// rounds and the hyperparameter names it reads with their defaults (shown by <c>sharpoptim dist --help</c> and in reports).
/// </summary>
public sealed record DistributedAlgorithmInfo(string Name, int DefaultRounds, IReadOnlyDictionary<string, double> Defaults,
    Func<DistributedAlgorithmContext, IDistributedAlgorithm> Create);
