using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.MultiTask;

/// <summary>Every task's targets for a set of examples: digit labels, parity and "≥ 5" as float 0/1, and the
/// reconstruction target (the input times the problem's scale).</summary>
public sealed class MultiTaskTargets : IDisposable
{
    /// <summary>Targets of the examples <paramref name="x"/> with labels <paramref name="y"/>.</summary>
    public MultiTaskTargets(Tensor x, Tensor y, double reconstructionScale)
    {
        using var s = new ScalarHold();
        Digit = y.clone();
        Parity = y.remainder(s[2]).to_type(ScalarType.Float32);
        AtLeastFive = y.ge(s[5]).to_type(ScalarType.Float32);
        Reconstruction = x.mul(s[reconstructionScale]);
    }

    private MultiTaskTargets(Tensor digit, Tensor parity, Tensor atLeastFive, Tensor reconstruction)
    {
        Digit = digit;
        Parity = parity;
        AtLeastFive = atLeastFive;
        Reconstruction = reconstruction;
    }

    /// <summary>Digit labels, int64.</summary>
    public Tensor Digit { get; }
    /// <summary>1 for odd digits, float32.</summary>
    public Tensor Parity { get; }
    /// <summary>1 for digits 5..9, float32.</summary>
    public Tensor AtLeastFive { get; }
    /// <summary>The reconstruction target.</summary>
    public Tensor Reconstruction { get; }

    /// <summary>The targets of the examples at <paramref name="index"/>.</summary>
    public MultiTaskTargets Select(Tensor index) =>
        new(Digit.index_select(0, index), Parity.index_select(0, index), AtLeastFive.index_select(0, index), Reconstruction.index_select(0, index));

    /// <inheritdoc />
    public void Dispose()
    {
        Digit.Dispose();
        Parity.Dispose();
        AtLeastFive.Dispose();
        Reconstruction.Dispose();
    }
}
