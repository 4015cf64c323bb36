using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// CAPO's per-token predictions for one batch (all [N, L], no gradient): <see cref="FirstOrder"/> ⟨G, D⟩,
/// <see cref="Curvature"/> H, <see cref="DeltaJ"/> = η⟨G, D⟩ + ½η²H, <see cref="DeltaKl"/> = ½η²(vᵀu)², and
/// <see cref="Keep"/> (1 = token kept, 0 = masked or padding). <see cref="MeanGradient"/> [V, H] is the mean output-layer
/// gradient G over kept tokens, what <see cref="CapoShadowAdam.Update"/> takes; null when no token is kept.
/// </summary>
public sealed record CapoTokenEffects(Tensor FirstOrder, Tensor Curvature, Tensor DeltaJ, Tensor DeltaKl, Tensor Keep, Tensor? MeanGradient, long Kept, long Tokens)
    : IDisposable
{
    /// <summary>Fraction of real (mask 1) tokens that the masks removed.</summary>
    public double MaskedFraction => Tokens == 0 ? 0 : 1 - Kept / (double)Tokens;

    /// <inheritdoc />
    public void Dispose()
    {
        FirstOrder.Dispose();
        Curvature.Dispose();
        DeltaJ.Dispose();
        DeltaKl.Dispose();
        Keep.Dispose();
        MeanGradient?.Dispose();
    }
}
