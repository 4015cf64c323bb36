using SharpOptim.Optimizers;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Training;

/// <summary>
/// Gradient accumulation over micro-batches: each micro-batch's mean loss is divided by the number of micro-batches
/// before backward, so the accumulated gradient equals the gradient of the mean loss over the whole batch (when the
/// micro-batches have equal sizes); the optimizer steps and zeroes the gradients after every <see cref="MicroBatches"/>-th.
/// </summary>
public sealed class GradientAccumulation
{
    private readonly torch.optim.Optimizer _optimizer;

    /// <summary>Accumulates <paramref name="microBatches"/> backward passes per optimizer step.</summary>
    public GradientAccumulation(torch.optim.Optimizer optimizer, int microBatches)
    {
        _optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        if (microBatches < 1) throw new ArgumentException(FormattableString.Invariant($"Invalid microBatches: {microBatches} (must be >= 1)."), nameof(microBatches));
        MicroBatches = microBatches;
    }

    /// <summary>Backward passes per optimizer step.</summary>
    public int MicroBatches { get; }

    /// <summary>Backward passes since the last optimizer step.</summary>
    public int Pending { get; private set; }

    /// <summary>Optimizer steps taken.</summary>
    public long Steps { get; private set; }

    /// <summary>
    /// Back-propagates <paramref name="loss"/> / <see cref="MicroBatches"/>; after the last micro-batch of a step,
    /// runs the optimizer step and zeroes the gradients. Returns true when it stepped.
    /// </summary>
    public bool Backward(Tensor loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        if (loss.NumberOfElements != 1) throw new ArgumentException(FormattableString.Invariant($"The loss must be a scalar; it has shape [{string.Join(", ", loss.shape)}]."), nameof(loss));
        using (var s = new ScalarHold())
        using (var scaled = loss.div(s[MicroBatches])) scaled.backward();
        if (++Pending < MicroBatches) return false;
        _optimizer.step();
        _optimizer.zero_grad();
        Pending = 0;
        Steps++;
        return true;
    }
}
