namespace SharpOptim.MultiTask;

/// <summary>Equal weighting (EW): the gradient of the plain sum Σ_t L_t, one backward pass — the baseline every
/// balancer is measured against (see <see cref="FixedWeights"/> for the modes).</summary>
public sealed class EqualWeights : FixedWeights
{
    /// <summary>Equal weights 1 for <paramref name="tasks"/> tasks.</summary>
    /// <exception cref="ArgumentException"><paramref name="tasks"/> below 1.</exception>
    public EqualWeights(int tasks) : base(tasks >= 1 ? Enumerable.Repeat(1.0, tasks).ToArray()
        : throw new ArgumentException(FormattableString.Invariant($"EqualWeights needs at least one task; got {tasks}."), nameof(tasks)))
    {
    }

    /// <inheritdoc />
    public override string Name => "equal";
}
