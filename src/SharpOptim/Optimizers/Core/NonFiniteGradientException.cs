namespace SharpOptim.Optimizers;

/// <summary>A gradient held NaN or an infinity under <see cref="NonFiniteGradientPolicy.Throw"/>.</summary>
public sealed class NonFiniteGradientException : ArithmeticException
{
    /// <summary>Creates the exception for the named parameter.</summary>
    public NonFiniteGradientException(string parameterName)
        : base($"The gradient of parameter '{parameterName}' contains NaN or infinity; no parameter or state was changed.")
    {
        ParameterName = parameterName;
    }

    /// <summary>The parameter whose gradient is not finite.</summary>
    public string ParameterName { get; }
}
