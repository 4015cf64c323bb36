using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>A one-element tensor's value as a double. TorchSharp's <c>ToDouble()</c> goes through a Scalar that the
/// finalizer can free during the native read (see ScalarHold); <c>item&lt;double&gt;()</c> on a float64 copy does not.</summary>
internal static class TensorValue
{
    public static double Of(Tensor t)
    {
        using var d = t.detach().to(ScalarType.Float64);
        return d.item<double>();
    }
}
