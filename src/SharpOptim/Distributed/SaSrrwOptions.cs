namespace SharpOptim.Distributed;

/// <summary>Hyperparameters of <see cref="SaSrrw"/> (RECONSTRUCTION: exponents and regime not verified against the paper).</summary>
public sealed record SaSrrwOptions
{
    /// <summary>Repellence α ≥ 0 (α = 0: the base Metropolis–Hastings walk; sweeps in the brief: 0, 1, 5, 10, 20).</summary>
    public double Repellence { get; init; } = 5;

    /// <summary>Exponent a of the visit-measure step γ_n = (n+1)^−a, ½ &lt; a ≤ 1.</summary>
    public double MeasureExponent { get; init; } = 0.8;

    /// <summary>Exponent b of the parameter step β_n = StepScale·(n+1)^−b, ½ &lt; b ≤ 1 (b &gt; a: θ slower than the walk's measure).</summary>
    public double StepExponent { get; init; } = 0.9;

    /// <summary>Scale of the parameter step (not in the brief's form; 1 = none).</summary>
    public double StepScale { get; init; } = 1;

    /// <summary>Node where the token starts.</summary>
    public int StartNode { get; init; }

    /// <summary>Seed of the walk's categorical draws.</summary>
    public int Seed { get; init; }
}
