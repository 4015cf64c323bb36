using static TorchSharp.torch;

namespace SharpOptim.MultiTask;

/// <summary>
/// Turns T per-task losses into one gradient, left in the parameters' <c>.grad</c>, so that any SharpOptim or
/// TorchSharp optimizer then steps as usual:
/// <code>
/// opt.zero_grad();
/// var report = balancer.Backward(losses, trunk.parameters().ToList());        // shared-parameter mode, or
/// var report = balancer.Backward(trunk.forward(x), z => Heads(z, y));           // shared-representation mode
/// opt.step();
/// </code>
/// Shared-parameter mode takes the task losses of a full forward and the shared (trunk) parameters; per-task
/// gradients are gathered with one backward per task (the graph retained in between), the shared parameters'
/// gradients are replaced by the balanced combination (added to whatever they held before the call), and every
/// other parameter — the task heads — keeps its plain, unweighted task gradient. Shared-representation mode takes
/// the trunk's output Z (still attached to the trunk's graph) and a function from a representation to the task
/// losses (the heads); the heads run on a detached copy of Z, per-task gradients ∂L_t/∂Z come from head-only backward
/// passes, and one backward of the balanced ∂/∂Z through the trunk finishes the step (MGDA-UB, Sener &amp; Koltun 2018).
/// The heads' parameters again receive their unweighted task gradients (the paper's Algorithm 2 gives task-specific
/// parameters plain gradient steps; the official code's weighted backward is not followed here).
/// <para>Bad input — no task, a loss that is not a scalar, a non-finite loss, a task count that differs from the
/// balancer's (fixed weights, or state from earlier steps), no shared parameter, a representation without a graph —
/// raises an <see cref="ArgumentException"/> naming it before any backward pass runs: gradients and the balancer's
/// state are then unchanged. The returned <see cref="BalanceReport"/> counts the passes the step took.</para>
/// </summary>
public abstract class GradientBalancer
{
    /// <summary>The method's command-line name, e.g. "mgda".</summary>
    public abstract string Name { get; }

    /// <summary>Whether <see cref="Backward(IReadOnlyList{Tensor}, IReadOnlyList{Tensor})"/> is available.</summary>
    public abstract bool SupportsSharedParameters { get; }

    /// <summary>Whether <see cref="Backward(Tensor, Func{Tensor, IReadOnlyList{Tensor}})"/> is available.</summary>
    public abstract bool SupportsSharedRepresentation { get; }

    /// <summary>The mode the method is defined in (its paper's); a training loop uses it when it can offer both.</summary>
    public abstract BalancingMode PreferredMode { get; }

    /// <summary>The number of tasks this balancer is bound to: set by the first successful step (or by the
    /// constructor, for fixed weights); null before.</summary>
    public int? TaskCount { get; protected set; }

    /// <summary>The weights of the last step (null before the first, and for methods whose result is not a weighted sum).</summary>
    public double[]? LastWeights { get; protected set; }

    /// <summary>Shared-parameter mode: balances the gradients of <paramref name="losses"/> with respect to
    /// <paramref name="sharedParameters"/> (see the class remarks).</summary>
    /// <exception cref="ArgumentException">Bad input (see the class remarks); nothing has changed.</exception>
    /// <exception cref="NotSupportedException">The method has no shared-parameter mode.</exception>
    public BalanceReport Backward(IReadOnlyList<Tensor> losses, IReadOnlyList<Tensor> sharedParameters)
    {
        if (!SupportsSharedParameters)
            throw new NotSupportedException(FormattableString.Invariant($"{Name} balances on the shared representation only; call Backward(representation, heads)."));
        ArgumentNullException.ThrowIfNull(sharedParameters);
        if (sharedParameters.Count == 0)
            throw new ArgumentException("At least one shared parameter is needed.", nameof(sharedParameters));
        for (int i = 0; i < sharedParameters.Count; i++)
        {
            var p = sharedParameters[i];
            if (p is null || !p.requires_grad || !p.is_leaf)
                throw new ArgumentException(FormattableString.Invariant($"Shared parameter {i} must be a leaf tensor that requires grad."), nameof(sharedParameters));
        }
        var values = CheckLosses(losses);
        // The balancers' per-task gradients, flattened rows and temporaries live in this scope (they keep no tensor
        // between calls; gradients they set stay with the parameters), not left to the finalizer across native calls
        // (README, Compatibility: "TorchSharp's tensor-temporary race").
        using var scope = NewDisposeScope();
        return BackwardSharedParameters(losses, values, sharedParameters);
    }

    /// <summary>Shared-representation mode: <paramref name="representation"/> is the trunk's output (attached to its
    /// graph), <paramref name="heads"/> maps a representation to the T task losses (see the class remarks).</summary>
    /// <exception cref="ArgumentException">Bad input (see the class remarks); nothing has changed.</exception>
    /// <exception cref="NotSupportedException">The method has no shared-representation mode.</exception>
    public BalanceReport Backward(Tensor representation, Func<Tensor, IReadOnlyList<Tensor>> heads)
    {
        if (!SupportsSharedRepresentation)
            throw new NotSupportedException(FormattableString.Invariant($"{Name} balances on the shared parameters only; call Backward(losses, sharedParameters)."));
        ArgumentNullException.ThrowIfNull(representation);
        ArgumentNullException.ThrowIfNull(heads);
        if (!representation.requires_grad)
            throw new ArgumentException("The representation must be attached to the trunk's graph (requires_grad); pass the trunk's output, not a detached copy.", nameof(representation));
        if (representation.numel() == 0)
            throw new ArgumentException("The representation is empty.", nameof(representation));
        var detached = representation.detach().requires_grad_(true);
        // As in the shared-parameter mode: what the heads and the balancer create lives in this scope.
        using var scope = NewDisposeScope();
        try
        {
            var losses = heads(detached);
            var values = CheckLosses(losses);
            return BackwardSharedRepresentation(representation, detached, heads, losses, values);
        }
        finally
        {
            detached.Dispose();
        }
    }

    /// <summary>Shared-parameter mode after validation: <paramref name="values"/> are the losses as float64.</summary>
    protected abstract BalanceReport BackwardSharedParameters(IReadOnlyList<Tensor> losses, double[] values, IReadOnlyList<Tensor> sharedParameters);

    /// <summary>Shared-representation mode after validation: <paramref name="detached"/> is the leaf the heads ran on,
    /// <paramref name="losses"/> their output.</summary>
    protected abstract BalanceReport BackwardSharedRepresentation(Tensor representation, Tensor detached,
        Func<Tensor, IReadOnlyList<Tensor>> heads, IReadOnlyList<Tensor> losses, double[] values);

    /// <summary>Checks the task count against the balancer's (called before any backward pass; override to check more,
    /// throwing <see cref="ArgumentException"/>).</summary>
    protected virtual void CheckTaskCount(int tasks)
    {
        if (TaskCount is { } t && t != tasks)
            throw new ArgumentException(FormattableString.Invariant($"{Name} is bound to {t} tasks (from its construction or earlier steps) but got {tasks} losses."), "losses");
    }

    /// <summary>Checks the (finite) loss values before any backward pass; override to require more (e.g. positive
    /// losses for loss normalisation), throwing <see cref="ArgumentException"/>.</summary>
    protected virtual void CheckLossValues(double[] values)
    {
    }

    private double[] CheckLosses(IReadOnlyList<Tensor> losses)
    {
        if (losses is null || losses.Count == 0)
            throw new ArgumentException("At least one task loss is needed; got none.", nameof(losses));
        var values = new double[losses.Count];
        for (int t = 0; t < losses.Count; t++)
        {
            var l = losses[t];
            if (l is null)
                throw new ArgumentException(FormattableString.Invariant($"Task {t}'s loss is null."), nameof(losses));
            if (l.numel() != 1)
                throw new ArgumentException(FormattableString.Invariant($"Task {t}'s loss must be a scalar; got shape [{string.Join(", ", l.shape)}]."), nameof(losses));
            if (!l.requires_grad)
                throw new ArgumentException(FormattableString.Invariant($"Task {t}'s loss does not require grad (computed without a graph, or from detached tensors)."), nameof(losses));
            // In a scope: the chain's temporaries stay referenced across each native call (README, Compatibility).
            using (NewDisposeScope()) values[t] = l.detach().cpu().to(ScalarType.Float64).item<double>();
            if (!double.IsFinite(values[t]))
                throw new ArgumentException(FormattableString.Invariant($"Task {t}'s loss is {values[t]}; nothing was changed."), nameof(losses));
        }
        CheckTaskCount(losses.Count);
        CheckLossValues(values);
        return values;
    }

    /// <summary>Σ_t w_t L_t as a tensor, without a double becoming a Scalar (the weights travel as a tensor).</summary>
    internal static Tensor WeightedSum(IReadOnlyList<Tensor> losses, double[] weights)
    {
        using var stacked = stack(losses.Select(l => l.reshape(Array.Empty<long>())).ToArray());
        using var w = tensor(weights, dtype: stacked.dtype, device: stacked.device);
        return stacked.mul(w).sum();
    }
}
