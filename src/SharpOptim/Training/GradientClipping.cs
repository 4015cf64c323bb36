using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Training;

/// <summary>Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_.</summary>
public static class GradientClipping
{
    /// <summary>
    /// Scales all gradients by min(1, maxNorm / (‖g‖ + 1e-6)), where ‖g‖ is the global p-norm over every gradient
    /// (p = 2 by default; p = ∞ takes the largest |g|). Parameters without a gradient are skipped. Returns the norm
    /// before clipping. A NaN or infinite norm is an error naming the first parameter whose gradient is not finite;
    /// no gradient is changed then.
    /// </summary>
    public static double ClipByGlobalNorm(IEnumerable<Parameter> parameters, double maxNorm, double normType = 2)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm >= 0) || double.IsInfinity(maxNorm)) throw new ArgumentException(FormattableString.Invariant($"Invalid maxNorm: {maxNorm} (must be finite and >= 0)."), nameof(maxNorm));
        if (!(normType > 0)) throw new ArgumentException(FormattableString.Invariant($"Invalid normType: {normType} (must be > 0, or infinity)."), nameof(normType));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var items = parameters.Select((p, i) => (Index: i, Grad: p.grad)).Where(x => x.Grad is not null).ToList();
        if (items.Count == 0) return 0;
        double total;
        if (double.IsPositiveInfinity(normType))
            total = items.Max(x => x.Grad!.abs().max().to_type(ScalarType.Float64).item<double>());
        else
        {
            using var s = new ScalarHold();
            double sum = items.Sum(x => x.Grad!.to_type(ScalarType.Float64).abs().pow(s[normType]).sum().item<double>());
            total = Math.Pow(sum, 1 / normType);
        }
        if (!double.IsFinite(total))
        {
            var bad = items.First(x => !x.Grad!.isfinite().all().item<bool>());
            throw new ArithmeticException(FormattableString.Invariant($"The gradient norm is {total}: the gradient of parameter {bad.Index} contains NaN or infinity."));
        }
        double coef = Math.Min(1.0, maxNorm / (total + 1e-6));
        if (coef < 1.0)
        {
            using var s = new ScalarHold();
            foreach (var x in items) x.Grad!.mul_(s[coef]);
        }
        return total;
    }

    /// <summary>Clamps every gradient element into [−clipValue, clipValue]. Parameters without a gradient are skipped.</summary>
    public static void ClipByValue(IEnumerable<Parameter> parameters, double clipValue)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(clipValue >= 0) || double.IsInfinity(clipValue)) throw new ArgumentException(FormattableString.Invariant($"Invalid clipValue: {clipValue} (must be finite and >= 0)."), nameof(clipValue));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var s = new ScalarHold();
        Scalar low = s[-clipValue], high = s[clipValue];
        foreach (var p in parameters)
            p.grad?.clamp_(low, high);
    }
}
