namespace SharpOptim.Distributed;

/// <summary>Hyperparameters of <see cref="SingleMerging"/> (defaults: the official figure-1 config, scaled by the caller).</summary>
public sealed record SingleMergingOptions
{
    /// <summary>Local SGD steps between gossip rounds (<c>k_steps</c>).</summary>
    public int LocalSteps { get; init; } = 1;

    /// <summary>Total local steps per node (<c>max_steps</c>); the progress of a gossip round is step/TotalSteps, and the global merge happens once it is reached.</summary>
    public int TotalSteps { get; init; } = 30_000;

    /// <summary>Extra neighbours r before <see cref="Point1"/> (figure 1: 0.2).</summary>
    public double RStart { get; init; } = 0.2;

    /// <summary>
    /// Extra neighbours r from <see cref="Point1"/> on (figure 1: N − 1, full averaging). Null = world size − 1.
    /// With <see cref="Point1"/> = 1 the schedule is the code's <c>fixed</c> schedule at <see cref="RStart"/>.
    /// </summary>
    public double? REnd { get; init; }

    /// <summary>Progress at which the <c>truncate</c> schedule switches from RStart to REnd (figure 1: 0.997).</summary>
    public double Point1 { get; init; } = 0.997;

    /// <summary>Do the single global merge (average of all models) when TotalSteps is reached.</summary>
    public bool FinalMerge { get; init; } = true;

    /// <summary>Seed shared by all ranks for the per-round random gossip matrices.</summary>
    public long Seed { get; init; }

    /// <summary>
    /// Observation hook (null = none): called on every rank after the last local steps and right before the global
    /// merge, so that a caller can evaluate the local models the merge combines. Collective when the hook
    /// communicates (every rank calls it in the same round). It must not change the parameters or draw from the
    /// batch stream; the run's numbers are then those of a run without the hook.
    /// </summary>
    public Action? BeforeFinalMerge { get; init; }
}
