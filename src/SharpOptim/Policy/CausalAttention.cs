using SharpOptim.Optimizers;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// Plain causal attention with the mask aligned to the bottom right of the key range: with Tq queries and Tk ≥ Tq
/// keys, query i may attend to keys j ≤ i + (Tk − Tq). For Tq = Tk this is the usual lower-triangular mask; for
/// Tk &gt; Tq the queries are the last Tq positions of the key sequence (incremental decoding over cached keys).
/// The mask is built explicitly and applied with <c>masked_fill(−∞)</c> before the softmax, scale 1/√headDim.
/// Stateless and thread-safe; <see cref="Instance"/> is the shared one.
/// </summary>
public sealed class CausalAttention : IAttentionKernel
{
    private static readonly TorchSharp.Scalar NegativeInfinity = double.NegativeInfinity.ToScalar();

    /// <summary>The shared instance.</summary>
    public static CausalAttention Instance { get; } = new();

    /// <inheritdoc />
    public Tensor Attend(int layer, Tensor query, Tensor key, Tensor value)
    {
        long tq = query.shape[2], tk = key.shape[2], d = query.shape[3];
        if (tk < tq)
            throw new ArgumentException(FormattableString.Invariant($"causal attention needs at least as many keys as queries; got {tk} keys for {tq} queries."), nameof(key));
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var att = query.matmul(key.transpose(-2, -1)).mul(s[1.0 / Math.Sqrt(d)]);
        // True where query i may not see key j: j > i + (tk − tq).
        using var future = ones(tq, tk, dtype: ScalarType.Bool, device: query.device).triu(tk - tq + 1);
        att = att.masked_fill(future, NegativeInfinity).softmax(-1);
        return att.matmul(value).MoveToOuterDisposeScope();
    }
}
