namespace SharpOptim.GradientFree;

/// <summary>What a population stepper does with a NaN or infinite fitness (or loss) value.</summary>
public enum NonFiniteFitnessPolicy
{
    /// <summary>Throw an <see cref="ArgumentException"/> naming the member, before anything changes (default).</summary>
    Throw,
    /// <summary>Treat the value as the worst one: the lowest finite fitness of the population (for a loss, the
    /// highest); when every value is non-finite the step throws anyway.</summary>
    Worst,
}
