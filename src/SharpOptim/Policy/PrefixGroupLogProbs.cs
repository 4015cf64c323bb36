using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// Per-token completion log-probabilities <c>ℓ_{s,t} = log π_θ(o_{s,t} | q, o_{s,&lt;t})</c> [samples, L_max] (0 on
/// padding, attached to the autograd graph) and the completion mask <c>m_{s,t}</c> [samples, L_max] (1 on real
/// completion tokens, 0 on padding; the logits' dtype, no gradient). Samples are numbered group by group as in
/// <see cref="PrefixGroupBatch"/>. Dispose both tensors with the record.
/// </summary>
public sealed record PrefixGroupLogProbs(Tensor LogProbs, Tensor Mask) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        LogProbs.Dispose();
        Mask.Dispose();
    }
}
