namespace SharpOptim.Distributed;

/// <summary>Hyperparameters of <see cref="Co2"/> (defaults: the official code, weigao266/fairscale-CO2 <c>co2.py</c>).</summary>
public sealed record Co2Options
{
    /// <summary>Inner steps per outer step, τ (<c>outer_frequency</c>: fairseq default 20).</summary>
    public int InnerSteps { get; init; } = 20;

    /// <summary>Outer learning rate (code default 1.0).</summary>
    public double OuterLr { get; init; } = 1.0;

    /// <summary>Outer momentum β (code: by world size, 0.0 up to 16 ranks, 0.2 up to 32, 0.5 up to 64, else 0.6). Null = that rule.</summary>
    public double? OuterMomentum { get; init; }

    /// <summary>Constant staleness-gap penalty Λ dividing the outer gradient (code default 1.0; the paper's computed Λ_t is not available).</summary>
    public double GapPenalty { get; init; } = 1.0;

    /// <summary>Element-wise clip threshold c of the outer momentum (code default 1.0; the code's clip is a no-op, here it works). +∞ = no clip.</summary>
    public double MomentumClip { get; init; } = 1.0;

    /// <summary>Synchronous (default, tested against the reference) or the experimental one-step-stale reconstruction.</summary>
    public Co2Mode Mode { get; init; } = Co2Mode.Synchronous;
}
