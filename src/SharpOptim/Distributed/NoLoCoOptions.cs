namespace SharpOptim.Distributed;

/// <summary>Hyperparameters of <see cref="NoLoCo"/> (defaults: the official code's <c>c4_noloco_mean_*</c> configs).</summary>
public sealed record NoLoCoOptions
{
    /// <summary>Inner steps between outer steps, H (official configs: 50).</summary>
    public int InnerSteps { get; init; } = 50;

    /// <summary>Workers per averaging group, G (official: 2); must divide the world size.</summary>
    public int GroupSize { get; init; } = 2;

    /// <summary>Outer learning rate η on the group's mean outer gradient (official <c>outer_lr</c> 0.7).</summary>
    public double OuterLr { get; init; } = 0.7;

    /// <summary>
    /// Coefficient of the consensus term (φ̄ − φ_i). The official code ties it to <see cref="OuterLr"/>; the paper
    /// presents separate coefficients (not read), so it is exposed. Null = <see cref="OuterLr"/>.
    /// </summary>
    public double? ConsensusLr { get; init; }

    /// <summary>Outer momentum β (official <c>outer_momentum</c> 0.5).</summary>
    public double Momentum { get; init; } = 0.5;

    /// <summary>Seed shared by all ranks for the per-round random groups.</summary>
    public long Seed { get; init; }
}
