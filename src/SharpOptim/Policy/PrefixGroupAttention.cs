using SharpOptim.Optimizers;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// Prefix Grouper's attention (Liu et al., "Prefix Grouper: Efficient GRPO Training through Shared-Prefix Forward",
/// arXiv 2506.05433; official <c>AttentionForward</c> in johncaged/PrefixGrouper <c>src/prefix_grouper/forward.py</c>)
/// over the packed rows of a <see cref="PrefixGroupBatch"/>, in the paper's two-call form:
/// <list type="number">
/// <item>the packed queries, keys and values [groups, heads, N, d] are split by index into the prompt part
/// [groups, heads, Pmax, d] (left-padded) and the completion part [samples, heads, Lmax, d] (right-padded);</item>
/// <item>prompt call: ordinary causal self-attention over each prompt;</item>
/// <item>completion call: the queries of completion j attend to <c>[prompt keys of its group ; keys of completion j]</c>
/// (the prompt keys and values repeated per completion), every prompt key visible and the completion part causal, i.e.
/// causal attention aligned to the bottom right of the key range;</item>
/// <item>both outputs are gathered back into packed order.</item>
/// </list>
/// Every split, repeat and gather is an <c>index_select</c>, whose backward sums gradients into the source rows, so the
/// gradient reaching a prompt key or value is the sum over the group's completions — what the repeated-prefix forward
/// accumulates (the report's Lemma 2.1). Masks are explicit booleans (−∞ before the softmax, scale 1/√d), as
/// <see cref="CausalAttention"/>; PyTorch's <c>is_causal=True</c> would align top-left and be wrong here.
/// <para>Deviation from the official code: padded prompt query rows (left padding of shorter prompts) may attend to
/// themselves, so that no softmax row is empty (NaN); their outputs are never gathered back. The official code hands
/// the padding mask to the wrapped attention function instead.</para>
/// <para>The kernel holds its masks (built once per batch, shared by every layer); dispose it after the backward
/// pass, or at any time after the forward (autograd keeps what it needs).</para>
/// </summary>
public sealed class PrefixGroupAttention : IAttentionKernel, IDisposable
{
    private static readonly Scalar NegativeInfinity = double.NegativeInfinity.ToScalar();
    private readonly PrefixGroupBatch _batch;
    private readonly Tensor _promptBlocked;       // [groups, 1, Pmax, Pmax], true where a prompt query may not see a key
    private readonly Tensor _completionBlocked;   // [samples, 1, Lmax, Pmax + Lmax]

    /// <summary>The kernel for <paramref name="batch"/> (which must stay alive while the kernel is used).</summary>
    public PrefixGroupAttention(PrefixGroupBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.ThrowIfDisposed();
        _batch = batch;
        int groups = batch.Groups, samples = batch.Samples, pmax = batch.MaxPromptLength, lmax = batch.MaxCompletionLength;
        var device = batch.Tokens.device;
        using var scope = NewDisposeScope();
        // Prompt call: key j visible to query i iff the key is a real prompt token and j ≤ i (left padding keeps the
        // real tokens at the end, so their causal order is unchanged); a padded query row sees itself only.
        var causal = ones(pmax, pmax, dtype: ScalarType.Bool, device: device).tril();
        var allowed = causal.unsqueeze(0).logical_and(batch.PromptValid.unsqueeze(1));
        var diagonal = eye(pmax, dtype: ScalarType.Bool, device: device).unsqueeze(0);
        var paddedQuery = batch.PromptValid.logical_not().unsqueeze(2);
        allowed = allowed.logical_or(diagonal.logical_and(paddedQuery));
        _promptBlocked = allowed.logical_not().unsqueeze(1).MoveToOuterDisposeScope();
        // Completion call: every real prompt key of the sample's group, then causal inside the completion.
        var promptKeys = batch.PromptValid.index_select(0, batch.SampleGroups).unsqueeze(1).expand(samples, lmax, pmax);
        var ownKeys = ones(lmax, lmax, dtype: ScalarType.Bool, device: device).tril().unsqueeze(0).expand(samples, lmax, lmax);
        _completionBlocked = cat(new[] { promptKeys, ownKeys }, 2).logical_not().unsqueeze(1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Attend(int layer, Tensor query, Tensor key, Tensor value)
    {
        _batch.ThrowIfDisposed();
        long groups = query.shape[0], heads = query.shape[1], n = query.shape[2], d = query.shape[3];
        if (groups != _batch.Groups || n != _batch.PackedLength)
            throw new ArgumentException(FormattableString.Invariant($"prefix-group attention expects [{_batch.Groups}, heads, {_batch.PackedLength}, d] (the packed batch); got [{groups}, {heads}, {n}, {d}]."), nameof(query));
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        int samples = _batch.Samples, pmax = _batch.MaxPromptLength, lmax = _batch.MaxCompletionLength;
        Tensor Rows(Tensor x) => x.transpose(1, 2).reshape(groups * n, heads, d);
        var qf = Rows(query); var kf = Rows(key); var vf = Rows(value);
        Tensor Prompt(Tensor f) => f.index_select(0, _batch.PromptSlots).view(groups, pmax, heads, d).transpose(1, 2);
        Tensor Completion(Tensor f) => f.index_select(0, _batch.CompletionSlots).view(samples, lmax, heads, d).transpose(1, 2);
        var scale = s[1.0 / Math.Sqrt(d)];

        var qp = Prompt(qf); var kp = Prompt(kf); var vp = Prompt(vf);
        var promptOut = qp.matmul(kp.transpose(-2, -1)).mul(scale).masked_fill(_promptBlocked, NegativeInfinity).softmax(-1).matmul(vp);

        var qc = Completion(qf);
        var kc = cat(new[] { kp.index_select(0, _batch.SampleGroups), Completion(kf) }, 2);
        var vc = cat(new[] { vp.index_select(0, _batch.SampleGroups), Completion(vf) }, 2);
        var completionOut = qc.matmul(kc.transpose(-2, -1)).mul(scale).masked_fill(_completionBlocked, NegativeInfinity).softmax(-1).matmul(vc);

        var all = cat(new[] { promptOut.transpose(1, 2).reshape(groups * pmax, heads, d), completionOut.transpose(1, 2).reshape((long)samples * lmax, heads, d) }, 0);
        return all.index_select(0, _batch.PackedSource).view(groups, n, heads, d).transpose(1, 2).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _promptBlocked.Dispose();
        _completionBlocked.Dispose();
    }
}
