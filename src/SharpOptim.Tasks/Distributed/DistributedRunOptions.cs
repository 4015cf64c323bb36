namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// One distributed run as every rank sees it (<see cref="DistributedRunner.RunRank"/>): the algorithm's name in
/// <see cref="DistributedAlgorithms"/>, the loaded task, the expected number of workers (checked against the
/// communicator), topology and partition, rounds, evaluation interval, batch size, seed and hyperparameters.
/// <see cref="Progress"/> (rank 0 only) receives one line per evaluation. <see cref="EvaluateLocalModels"/> adds the
/// workers' own models' test accuracies (mean, best, worst) to the final point (<see cref="DistributedRunner"/>).
/// </summary>
public sealed record DistributedRunOptions(string Algorithm, DistributedTask Task, int Workers, string Topology, string Partition,
    double Alpha, int Rounds, int EvalEvery, int Batch, int Seed, IReadOnlyDictionary<string, double> Hyperparameters,
    Action<string>? Progress = null, bool EvaluateLocalModels = false);
