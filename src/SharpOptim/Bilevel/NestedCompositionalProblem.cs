using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// A nested compositional bilevel problem (Chen, Balasubramanian and Ghadimi, "Stochastic Nested Compositional Bi-level
/// Optimization for Robust Feature Learning", arXiv 2307.05384, as its abstract states it):
/// min_x Φ(x) = f_1(f_2(… f_{T−1}(f_T(x, y*(x))) …)), y*(x) = argmin_y g(x, y), with g strongly convex in y and each
/// f_i smooth (possibly nonconvex). <see cref="Levels"/> holds f_1 … f_{T−1} in that order (f_1 returns one entry, the
/// objective), <see cref="Innermost"/> is f_T; T = Levels.Count + 1 ≥ 2. All levels draw their minibatches from
/// <see cref="UpperBatches"/>, the lower loss from <see cref="LowerBatches"/>. Solvers update <see cref="X"/> and
/// <see cref="Y"/> in place.
/// <para>Validation: at least one outer level, no null level; x and y as for <see cref="BilevelProblem"/> (floating
/// leaf tensors that require grad, one dtype and device). Level outputs are checked when first evaluated (1-D floating,
/// lengths that chain, f_1 a single entry): an <see cref="ArgumentException"/> naming the level.</para>
/// </summary>
public sealed class NestedCompositionalProblem
{
    private Tensor? _weights;

    /// <summary>Creates the problem; see the class remarks for what is checked.</summary>
    /// <param name="levels">f_1 … f_{T−1}, outermost first.</param>
    /// <param name="innermost">f_T(x, y; batch).</param>
    /// <param name="lower">g(x, y; batch), a scalar loss strongly convex in y.</param>
    /// <param name="x">Hyperparameters (a leaf tensor that requires grad).</param>
    /// <param name="y">Lower-level variables (a leaf tensor that requires grad).</param>
    /// <param name="upperBatches">Minibatches of the upper levels (default: full batch).</param>
    /// <param name="lowerBatches">Minibatches of the lower level (default: full batch).</param>
    public NestedCompositionalProblem(IReadOnlyList<CompositionLevel> levels, CompositionInnermostLevel innermost, BilevelLoss lower,
        Tensor x, Tensor y, BatchStream? upperBatches = null, BatchStream? lowerBatches = null)
    {
        ArgumentNullException.ThrowIfNull(levels);
        ArgumentNullException.ThrowIfNull(innermost);
        if (levels.Count == 0) throw new ArgumentException("levels must hold at least f_1 (T ≥ 2); a single-level upper loss is a BilevelProblem.", nameof(levels));
        for (int i = 0; i < levels.Count; i++)
            if (levels[i] is null) throw new ArgumentException($"level f_{i + 1} is null.", nameof(levels));
        Levels = levels.ToArray();
        Innermost = innermost;
        // The surrogate upper loss ⟨w, f_T(x, y)⟩ with w the chained Jacobian of the outer levels (set by the solver):
        // its hypergradient is the vector-Jacobian product wᵀ·d f_T(x, y*(x))/dx. BilevelProblem validates x, y, lower.
        Surrogate = new BilevelProblem(SurrogateUpper, lower, x, y, upperBatches, lowerBatches);
    }

    /// <summary>f_1 … f_{T−1}, outermost first.</summary>
    public IReadOnlyList<CompositionLevel> Levels { get; }
    /// <summary>f_T.</summary>
    public CompositionInnermostLevel Innermost { get; }
    /// <summary>T, the number of nested functions.</summary>
    public int Depth => Levels.Count + 1;
    /// <summary>The hyperparameters, updated in place by solvers.</summary>
    public Tensor X => Surrogate.X;
    /// <summary>The lower-level variables, updated in place by solvers.</summary>
    public Tensor Y => Surrogate.Y;
    /// <summary>The lower loss g.</summary>
    public BilevelLoss Lower => Surrogate.Lower;
    /// <summary>The upper levels' minibatches.</summary>
    public BatchStream UpperBatches => Surrogate.UpperBatches;
    /// <summary>The lower level's minibatches.</summary>
    public BatchStream LowerBatches => Surrogate.LowerBatches;

    /// <summary>The bilevel problem with upper loss ⟨w, f_T(x, y)⟩ that the oracles differentiate (w set by <see cref="SetWeights"/>).</summary>
    internal BilevelProblem Surrogate { get; }

    /// <summary>Sets w (d_T entries, detached) for the surrogate upper loss.</summary>
    internal void SetWeights(Tensor w)
    {
        _weights?.Dispose();
        _weights = w.detach().clone().DetachFromDisposeScope();
    }

    /// <summary>f_T(x, y; batch) checked and flattened.</summary>
    internal Tensor InnermostValue(Tensor x, Tensor y, Tensor? batch, int expectedOut) =>
        CompositionLevelOracle.CheckOutput(Innermost(x, y, batch), Depth, expectedOut);

    private Tensor SurrogateUpper(Tensor x, Tensor y, Tensor? batch)
    {
        var w = _weights ?? throw new InvalidOperationException("The surrogate upper loss was evaluated before its weights were set.");
        var f = InnermostValue(x, y, batch, (int)w.numel());
        return (w * f).sum();
    }
}
