using SharpOptim.Tasks.Distributed;

namespace SharpOptim.Cli.Distributed;

/// <summary>One run of <c>sharpoptim dist</c>: the label it is reported under (an algorithm name or a single-worker baseline) and rank 0's result.</summary>
public sealed record DistRunRecord(string Label, DistributedRunResult Result);
