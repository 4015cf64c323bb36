using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// A bilevel solver: one <see cref="Step"/> is one upper-level iteration, which moves the problem's x (and y, and the
/// solver's own state) in place. Every derivative comes from <see cref="Oracle"/>; <see cref="Counts"/> reports what
/// the iterations so far cost.
/// </summary>
public abstract class BilevelSolver
{
    /// <summary>A solver of <paramref name="problem"/>.</summary>
    protected BilevelSolver(BilevelProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        Problem = problem;
        Oracle = new HypergradientOracle(problem);
    }

    /// <summary>The problem being solved.</summary>
    public BilevelProblem Problem { get; }
    /// <summary>The oracle layer every derivative comes from.</summary>
    public HypergradientOracle Oracle { get; }
    /// <summary>Upper-level iterations done.</summary>
    public long Iteration { get; private set; }
    /// <summary>Oracle calls made so far (a solver with oracles of its own, as BSVRB's per-block ones, adds them).</summary>
    public virtual OracleCounts Counts => Oracle.Counts;
    /// <summary>The hypergradient estimate the last step moved x along (detached), or null before the first step.</summary>
    public Tensor? LastHypergradient { get; private set; }

    /// <summary>One upper-level iteration (then x is clamped into the problem's <see cref="BilevelProblem.XBounds"/>, if any).</summary>
    public void Step()
    {
        using (var scope = NewDisposeScope())
        {
            var h = StepCore(Iteration);
            if (Problem.XBounds is { } box)
            {
                using var hold = new SharpOptim.Optimizers.ScalarHold();
                using var _ = no_grad();
                Problem.X.clamp_(hold[box.Lower], hold[box.Upper]);
            }
            var kept = h.detach().clone().DetachFromDisposeScope();
            LastHypergradient?.Dispose();
            LastHypergradient = kept;
        }
        Iteration++;
    }

    /// <summary>Iteration <paramref name="t"/> (counted from 0): update x, y and the state; return the hypergradient estimate used.</summary>
    protected abstract Tensor StepCore(long t);

    /// <summary>The next batch of the lower level (null: full data).</summary>
    protected Tensor? LowerBatch() => Problem.LowerBatches.Next();
    /// <summary>The next batch of the upper level (null: full data).</summary>
    protected Tensor? UpperBatch() => Problem.UpperBatches.Next();

    /// <summary>Throws when <paramref name="value"/> is not positive and finite.</summary>
    protected static double Positive(double value, string name) =>
        value > 0 && !double.IsInfinity(value) ? value : throw new ArgumentException($"{name} must be positive and finite, got {value}.", name);

    /// <summary>Throws when <paramref name="value"/> is below 1 (or 0 with <paramref name="allowZero"/>).</summary>
    protected static int Count(int value, string name, bool allowZero = false) =>
        value >= (allowZero ? 0 : 1) ? value : throw new ArgumentException($"{name} must be at least {(allowZero ? 0 : 1)}, got {value}.", name);
}
