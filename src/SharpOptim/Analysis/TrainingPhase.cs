namespace SharpOptim.Analysis;

/// <summary>The five phases of gradient descent on the cubic map (<see cref="GradientDescentCubicMap"/>), in order of
/// increasing step size.</summary>
public enum TrainingPhase
{
    /// <summary>The iterates approach the minimizer from one side (the loss decreases monotonically).</summary>
    Monotonic,
    /// <summary>The iterates overshoot the minimizer and still converge to it (non-monotone convergence).</summary>
    Catapult,
    /// <summary>The iterates settle on a stable periodic orbit (period ≥ 2).</summary>
    Periodic,
    /// <summary>The iterates stay bounded with a positive Lyapunov exponent.</summary>
    Chaotic,
    /// <summary>The iterates escape to infinity.</summary>
    Divergent,
}
