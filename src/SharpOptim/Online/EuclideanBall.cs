namespace SharpOptim.Online;

/// <summary>The Euclidean ball {x : ‖x‖ ≤ R}, the decision set of the OCO learners, and its projection
/// Π(x) = x · min(1, R/‖x‖).</summary>
public static class EuclideanBall
{
    /// <summary>Projects <paramref name="x"/> onto the ball of radius <paramref name="radius"/> in place. Points
    /// inside the ball, or outside by less than <see cref="Slack"/> (relative), are left bit-for-bit unchanged: a
    /// point that was just projected has norm R up to rounding, and projecting it again would move it by an ulp, so
    /// without the slack Π(Π(x)) ≠ Π(x) and optimistic OGD with a zero hint (which projects x̂ again to play it)
    /// would not equal OGD bit for bit.</summary>
    public static void Project(Span<double> x, double radius)
    {
        double norm = Norm(x);
        if (norm <= radius * (1 + Slack)) return;
        double scale = radius / norm;
        for (int i = 0; i < x.Length; i++) x[i] *= scale;
    }

    /// <summary>Relative tolerance of <see cref="Project"/>: 1e-13, far above the rounding of a norm of a few thousand
    /// terms and far below anything a regret measurement can see.</summary>
    public const double Slack = 1e-13;

    /// <summary>‖x‖₂, summed in index order.</summary>
    public static double Norm(ReadOnlySpan<double> x)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += x[i] * x[i];
        return Math.Sqrt(s);
    }

    internal static void CheckRadius(double radius, string name)
    {
        if (!(radius > 0) || !double.IsFinite(radius))
            throw new ArgumentException(FormattableString.Invariant($"{name} must be a positive finite number, got {radius}."), name);
    }

    internal static void CheckGradient(ReadOnlySpan<double> g, int dimension, string name = "gradient")
    {
        if (g.Length != dimension)
            throw new ArgumentException(FormattableString.Invariant($"{name} has {g.Length} entries, expected {dimension}."), name);
        for (int i = 0; i < g.Length; i++)
            if (!double.IsFinite(g[i]))
                throw new ArgumentException(FormattableString.Invariant($"{name}[{i}] is {g[i]}; online learners accept finite values only."), name);
    }

    internal static void CheckDimension(int dimension)
    {
        if (dimension < 1) throw new ArgumentException(FormattableString.Invariant($"dimension must be at least 1, got {dimension}."), nameof(dimension));
    }
}
