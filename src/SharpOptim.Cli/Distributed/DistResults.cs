namespace SharpOptim.Cli.Distributed;

/// <summary>Everything <c>sharpoptim dist</c> reports: the configuration, the command line and every run.</summary>
public sealed record DistResults(string Task, string TaskDescription, string Command, int Workers, string Backend, string Topology, string Partition,
    double Alpha, int Batch, int Seeds, IReadOnlyList<DistRunRecord> Runs, string Machine);
