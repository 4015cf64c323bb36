namespace SharpOptim.Tasks.Tuning;

/// <summary>One rung's trials: (configuration index, result), in the order they trained.</summary>
/// <param name="Steps">Steps each trial of the rung trained.</param>
/// <param name="Trials">The rung's trials.</param>
public sealed record RungOutcome(int Steps, List<(int Config, TrialResult Result)> Trials);

/// <summary>The sweep of one optimizer: its sampled configurations, each rung's trials, the selected configuration
/// and its re-runs.</summary>
public sealed class OptimizerSweep
{
    /// <summary>The optimizer entry.</summary>
    public required string Optimizer { get; init; }
    /// <summary>The sampled configurations (tuned hyperparameters only), by index.</summary>
    public required IReadOnlyList<IReadOnlyDictionary<string, double>> Configs { get; init; }
    /// <summary>The rungs that ran (all of them when <see cref="Complete"/>).</summary>
    public List<RungOutcome> Rungs { get; } = new();
    /// <summary>Index of the selected configuration (best validation loss in the last rung), or -1 before that.</summary>
    public int Selected { get; set; } = -1;
    /// <summary>Re-runs of the selected configuration on the final seeds.</summary>
    public List<TrialResult> Finals { get; } = new();
    /// <summary>Whether every rung and every re-run finished.</summary>
    public bool Complete { get; set; }
    /// <summary>Training steps the search (rungs, not the re-runs) used.</summary>
    public long SearchSteps => Rungs.Sum(r => r.Trials.Sum(t => (long)t.Result.StepsTaken));
}
