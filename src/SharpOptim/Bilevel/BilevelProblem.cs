using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// A bilevel problem min_x Φ(x) = f(x, y*(x)) with y*(x) = argmin_y g(x, y): the upper loss f, the lower loss g, the
/// hyperparameters <see cref="X"/> and the model parameters <see cref="Y"/> (each one tensor of any shape; flatten a
/// module's parameters into one vector and rebuild them inside the losses, or keep one weight matrix), and one
/// <see cref="BatchStream"/> per level. Solvers update <see cref="X"/> and <see cref="Y"/> in place (under
/// <c>no_grad</c>), so the caller reads the current iterate from them.
/// <para>
/// Validation, before anything is stored: x and y must be floating leaf tensors that require grad (they are what is
/// optimised), of the same dtype and device; the losses are checked when first called by the oracles (a scalar result,
/// the lower loss a function of y) and a violation is an <see cref="ArgumentException"/> naming the loss.
/// </para>
/// </summary>
public sealed class BilevelProblem
{
    /// <summary>Creates the problem; see the class remarks for what is checked.</summary>
    /// <param name="upper">f(x, y, batch): the upper (outer, validation) loss.</param>
    /// <param name="lower">g(x, y, batch): the lower (inner, training) loss, strongly convex in y for the AID/ITD theory.</param>
    /// <param name="x">Hyperparameters (a leaf tensor that requires grad).</param>
    /// <param name="y">Model parameters (a leaf tensor that requires grad).</param>
    /// <param name="upperBatches">Minibatches of the upper level (default: full batch).</param>
    /// <param name="lowerBatches">Minibatches of the lower level (default: full batch).</param>
    /// <param name="xBounds">Optional box [lower, upper] that solvers clamp x into after every upper step (projected
    /// hypergradient descent); null: unconstrained.</param>
    public BilevelProblem(BilevelLoss upper, BilevelLoss lower, Tensor x, Tensor y, BatchStream? upperBatches = null, BatchStream? lowerBatches = null,
        (double Lower, double Upper)? xBounds = null)
    {
        if (xBounds is { } box && !(box.Lower < box.Upper))
            throw new ArgumentException($"xBounds must have lower < upper, got [{box.Lower}, {box.Upper}].", nameof(xBounds));
        ArgumentNullException.ThrowIfNull(upper);
        ArgumentNullException.ThrowIfNull(lower);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        CheckVariable(x, nameof(x));
        CheckVariable(y, nameof(y));
        if (x.dtype != y.dtype) throw new ArgumentException($"x and y must share a dtype; x is {x.dtype}, y is {y.dtype}.", nameof(y));
        if (x.device.ToString() != y.device.ToString()) throw new ArgumentException($"x and y must be on one device; x is on {x.device}, y on {y.device}.", nameof(y));
        Upper = upper;
        Lower = lower;
        X = x;
        Y = y;
        UpperBatches = upperBatches ?? BatchStream.Full();
        LowerBatches = lowerBatches ?? BatchStream.Full();
        XBounds = xBounds;
    }

    /// <summary>The box x is clamped into after every upper step, or null.</summary>
    public (double Lower, double Upper)? XBounds { get; }

    private static void CheckVariable(Tensor t, string name)
    {
        if (!t.is_floating_point()) throw new ArgumentException($"{name} must be a floating tensor, got {t.dtype}.", name);
        if (!t.requires_grad) throw new ArgumentException($"{name} must require grad (it is optimised by the bilevel solver): create it with requires_grad: true or call requires_grad_(true).", name);
        if (!t.is_leaf) throw new ArgumentException($"{name} must be a leaf tensor (not the result of an operation on other tensors); pass a fresh tensor or x.detach().requires_grad_(true).", name);
        if (t.numel() == 0) throw new ArgumentException($"{name} is empty.", name);
    }

    /// <summary>The upper loss f(x, y, batch).</summary>
    public BilevelLoss Upper { get; }
    /// <summary>The lower loss g(x, y, batch).</summary>
    public BilevelLoss Lower { get; }
    /// <summary>The hyperparameters, updated in place by solvers.</summary>
    public Tensor X { get; }
    /// <summary>The model parameters, updated in place by solvers.</summary>
    public Tensor Y { get; }
    /// <summary>The upper level's minibatches.</summary>
    public BatchStream UpperBatches { get; }
    /// <summary>The lower level's minibatches.</summary>
    public BatchStream LowerBatches { get; }
}
