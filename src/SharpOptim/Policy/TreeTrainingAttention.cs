using SharpOptim.Optimizers;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// Tree attention for <see cref="TreeTrainingBatch"/> (Tree Training, arXiv 2511.00413; a <b>reconstruction</b>, see
/// <see cref="TreeTraining"/>): tree token i attends to tree token j iff j is i or an ancestor of i, so every token
/// sees exactly the context it has in each of its branches. One explicit boolean mask [N, N] (−∞ before the softmax,
/// scale 1/√d), shared by every layer; the third-party AReaL implementation builds the same mask for FlexAttention.
/// Because the key/value of a shared token is used by all its descendants, its gradient sums over them — what the
/// branches' separate forwards accumulate.
/// </summary>
public sealed class TreeTrainingAttention : IAttentionKernel
{
    private static readonly Scalar NegativeInfinity = double.NegativeInfinity.ToScalar();
    private readonly TreeTrainingBatch _batch;

    /// <summary>The kernel for <paramref name="batch"/> (which must stay alive while the kernel is used).</summary>
    public TreeTrainingAttention(TreeTrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.ThrowIfDisposed();
        _batch = batch;
    }

    /// <inheritdoc />
    public Tensor Attend(int layer, Tensor query, Tensor key, Tensor value)
    {
        _batch.ThrowIfDisposed();
        long n = query.shape[2], d = query.shape[3];
        if (query.shape[0] != 1 || n != _batch.TreeTokens || key.shape[2] != n)
            throw new ArgumentException(FormattableString.Invariant($"tree attention expects [1, heads, {_batch.TreeTokens}, d] for queries and keys (the packed tree); got [{string.Join(", ", query.shape)}] and [{string.Join(", ", key.shape)}]."), nameof(query));
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var att = query.matmul(key.transpose(-2, -1)).mul(s[1.0 / Math.Sqrt(d)]).masked_fill(_batch.Blocked, NegativeInfinity).softmax(-1);
        return att.matmul(value).MoveToOuterDisposeScope();
    }
}
