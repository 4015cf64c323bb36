using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// The adaptive-memory coefficient shared by <see cref="AdaptiveMomentumSGD"/> and <see cref="AdaptiveMomentumAdamW"/>
/// (derivation in <see cref="AdaptiveMomentumSGD"/>'s documentation).
/// </summary>
internal static class AdaptiveMemory
{
    /// <summary>
    /// The weight θ ∈ [0, 1] of the gradient plane: the maximizer over [0, 1] of the dual
    /// D(θ) = −θ (c + a) − θ² q / (2 (1 + λ)), where c = φ − f is the memory plane's height above the loss at the
    /// current point, a = ⟨g − d, d⟩_M and q = ‖g − d‖²_M. β = 1 − θ. When q = 0 the dual is linear: θ = 1 if
    /// c + a ≤ 0 (the gradient plane is at least as high), else 0.
    /// </summary>
    public static double Theta(double c, double a, double q, double lambda)
    {
        double slope = c + a;
        if (!(q > 0)) return slope <= 0 ? 1 : 0;
        double theta = -(1 + lambda) * slope / q;
        return Math.Clamp(theta, 0, 1);
    }

    /// <summary>The dual objective D(θ) (up to a constant), for tests of <see cref="Theta"/>.</summary>
    public static double Dual(double theta, double c, double a, double q, double lambda) =>
        -theta * (c + a) - theta * theta * q / (2 * (1 + lambda));

    /// <summary>Checks a loss value given to an adaptive-memory optimizer.</summary>
    public static double RequireLoss(double? loss, string optimizer)
    {
        if (loss is not { } f)
            throw new InvalidOperationException(FormattableString.Invariant(
                $"{optimizer} needs the mini-batch loss at the current parameters: call step(closure) with a closure that returns the loss, or set CurrentLoss before step()."));
        if (!double.IsFinite(f))
            throw new ArgumentException(FormattableString.Invariant($"{optimizer}: the loss is {f:R}; it must be finite."), "loss");
        return f;
    }

    /// <summary>Checks the λ hyperparameter (the weight of the proximal term toward the heavy-ball point).</summary>
    public static double RequireLambda(double lambda)
    {
        if (!double.IsFinite(lambda) || lambda < 0)
            throw new ArgumentException(FormattableString.Invariant($"Invalid lambda: {lambda:R} (must be a finite number >= 0)."), "lambda");
        return lambda;
    }

    /// <summary>The memory plane's height φ, kept as a 0-dimensional tensor in every parameter's state (NaN before the first step).</summary>
    public static double ReadPlane(IEnumerable<(OptionsBase Options, Parameter Parameter, ParameterState State)> ps)
    {
        foreach (var (_, _, s) in ps)
            if (s.IsInitialized && s.Step > 0) return s["memory_plane"].to_type(ScalarType.Float64).item<double>();
        return double.NaN;
    }

    public static void WritePlane(IEnumerable<(OptionsBase Options, Parameter Parameter, ParameterState State)> ps, double phi)
    {
        foreach (var (_, _, s) in ps)
            if (s.IsInitialized) s["memory_plane"].fill_(phi);
    }
}
