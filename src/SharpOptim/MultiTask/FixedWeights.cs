using static TorchSharp.torch;

namespace SharpOptim.MultiTask;

/// <summary>
/// The static baseline: the gradient of Σ_t c_t L_t with weights c fixed in advance (one backward pass, no
/// per-task gradients). In shared-representation mode the heads' losses are weighted and summed, one head-only
/// backward gives Σ c_t ∂L_t/∂Z, and one trunk backward finishes: the same gradients as a single full backward.
/// Unlike the balancers, the heads here receive c_t-scaled gradients (this is plain weighted-loss training). Weights
/// must be finite and non-negative with a positive sum; a one-hot c trains one task alone (the single-task reference).
/// </summary>
public class FixedWeights : GradientBalancer
{
    private readonly double[] _weights;

    /// <summary>Weights c_1..c_T for T tasks.</summary>
    /// <exception cref="ArgumentException">No weight, a negative or non-finite one, or all zero.</exception>
    public FixedWeights(params double[] weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Length == 0) throw new ArgumentException("FixedWeights needs one weight per task; got none.", nameof(weights));
        for (int i = 0; i < weights.Length; i++)
            if (!(weights[i] >= 0) || double.IsInfinity(weights[i]))
                throw new ArgumentException(FormattableString.Invariant($"Task weight {i} must be finite and non-negative; got {weights[i]}."), nameof(weights));
        if (weights.Sum() <= 0) throw new ArgumentException("The task weights must not all be zero.", nameof(weights));
        _weights = (double[])weights.Clone();
        TaskCount = weights.Length;
    }

    /// <summary>The weights c.</summary>
    public IReadOnlyList<double> Weights => _weights;

    /// <inheritdoc />
    public override string Name => "fixed";
    /// <inheritdoc />
    public override bool SupportsSharedParameters => true;
    /// <inheritdoc />
    public override bool SupportsSharedRepresentation => true;
    /// <inheritdoc />
    public override BalancingMode PreferredMode => BalancingMode.SharedParameters;

    /// <inheritdoc />
    protected override BalanceReport BackwardSharedParameters(IReadOnlyList<Tensor> losses, double[] values, IReadOnlyList<Tensor> sharedParameters)
    {
        using var total = WeightedSum(losses, _weights);
        total.backward();
        LastWeights = (double[])_weights.Clone();
        return new BalanceReport(values, LastWeights, 1, 0, 0, 0);
    }

    /// <inheritdoc />
    protected override BalanceReport BackwardSharedRepresentation(Tensor representation, Tensor detached,
        Func<Tensor, IReadOnlyList<Tensor>> heads, IReadOnlyList<Tensor> losses, double[] values)
    {
        using (var total = WeightedSum(losses, _weights)) total.backward();
        if (detached.grad is { } dz) representation.backward(new[] { dz });
        LastWeights = (double[])_weights.Clone();
        return new BalanceReport(values, LastWeights, 0, 1, 1, 0);
    }
}
