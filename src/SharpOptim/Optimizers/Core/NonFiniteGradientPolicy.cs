namespace SharpOptim.Optimizers;

/// <summary>What <c>step()</c> does when a gradient holds NaN or an infinity.</summary>
public enum NonFiniteGradientPolicy
{
    /// <summary>Throw a <see cref="NonFiniteGradientException"/> naming the parameter; nothing is changed.</summary>
    Throw,

    /// <summary>Leave parameters and optimizer state untouched for this step and count it in <c>SkippedSteps</c>.</summary>
    SkipStep,
}
