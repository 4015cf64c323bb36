namespace SharpOptim.Bilevel;

/// <summary>
/// A decreasing step size η_t = <see cref="Initial"/> / (t + 1)^<see cref="Exponent"/> (t counts from 0), as the
/// stochastic bilevel solvers use; exponent 0 is a constant step.
/// </summary>
public readonly record struct StepSchedule
{
    /// <summary>η_0 (positive, finite) and the decay exponent (in [0, 2]).</summary>
    public StepSchedule(double initial, double exponent = 0)
    {
        if (!(initial > 0) || double.IsInfinity(initial)) throw new ArgumentException($"A step size must be positive and finite, got {initial}.", nameof(initial));
        if (!(exponent >= 0 && exponent <= 2)) throw new ArgumentException($"A step-size decay exponent must be in [0, 2], got {exponent}.", nameof(exponent));
        Initial = initial;
        Exponent = exponent;
    }

    /// <summary>η_0.</summary>
    public double Initial { get; }
    /// <summary>The decay exponent.</summary>
    public double Exponent { get; }

    /// <summary>A constant step.</summary>
    public static StepSchedule Constant(double step) => new(step, 0);

    /// <summary>η_t.</summary>
    public double At(long t) => Exponent == 0 ? Initial : Initial / Math.Pow(t + 1, Exponent);
}
