namespace SharpOptim.Optimizers;

/// <summary>
/// The adaptive-memory coefficient of <see cref="AdaptiveMomentumSGD"/> and the 1-D dual it solves (derivation in that
/// class's documentation).
/// </summary>
internal static class AdaptiveMemory
{
    /// <summary>
    /// β_t = clip(((1 + λ)⟨g, d⟩ − ⟨d − g, g + λ d⟩) / ‖d − g‖², 0, β_max), and 0 when d = g (the direction is then g
    /// whatever β is). Arguments are the three inner products over the whole model: ⟨g, d⟩, ‖d − g‖² and ⟨d − g, g + λd⟩.
    /// </summary>
    public static double Beta(double gDotD, double diffNormSquared, double diffDotGPlusLambdaD, double lambda, double betaMax)
    {
        if (!(diffNormSquared > 0)) return 0;
        double beta = ((1 + lambda) * gDotD - diffDotGPlusLambdaD) / diffNormSquared;
        return double.IsNaN(beta) ? 0 : Math.Clamp(beta, 0, betaMax);
    }

    /// <summary>
    /// The dual of the two-plane proximal model (up to a constant and the factor η): D(θ) = −θ (c + a) − θ² q / (2(1 + λ))
    /// with θ = 1 − β the weight of the gradient plane, c the memory plane's height above the loss at x_t, a = ⟨g − d, d⟩,
    /// q = ‖g − d‖². For tests of <see cref="Beta"/>.
    /// </summary>
    public static double Dual(double theta, double c, double a, double q, double lambda) =>
        -theta * (c + a) - theta * theta * q / (2 * (1 + lambda));

    /// <summary>Checks λ (the weight of the proximal term toward the heavy-ball point).</summary>
    public static double RequireLambda(double lambda)
    {
        if (!double.IsFinite(lambda) || lambda < 0)
            throw new ArgumentException(FormattableString.Invariant($"Invalid lambda: {lambda:R} (must be a finite number >= 0)."), "lambda");
        return lambda;
    }

    /// <summary>Checks β_max, the upper clip of β_t, in [0, 1).</summary>
    public static double RequireBetaMax(double betaMax, string name)
    {
        if (double.IsNaN(betaMax) || betaMax < 0 || betaMax >= 1)
            throw new ArgumentException(FormattableString.Invariant($"Invalid {name}: {betaMax:R} (must be in [0, 1))."), name);
        return betaMax;
    }
}
