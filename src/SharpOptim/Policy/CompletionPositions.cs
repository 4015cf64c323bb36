using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// The packed forward that SequenceLogProbs and CAPO share: prompts are bucketed by length, each bucket runs one forward
/// over [prompt ; completion without its last token] at positions 0..P+L−2, the L rows from position P − 1 on (those
/// whose outputs predict the completion tokens) are kept, and the buckets are put back in the input's row order.
/// </summary>
internal static class CompletionPositions
{
    /// <summary>
    /// Checks the input, then returns, in prompt order, <paramref name="forward"/>(input, positions) narrowed to the L
    /// predicting positions of every row; <paramref name="forward"/> maps [B, P+L−1] tokens to [B, P+L−1, …].
    /// </summary>
    public static Tensor Gather(IReadOnlyList<long[]> prompts, Tensor completions, int blockSize, Func<Tensor, Tensor, Tensor> forward)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(completions);
        if (completions.dim() != 2 || completions.shape[0] != prompts.Count || completions.dtype != ScalarType.Int64)
            throw new ArgumentException($"completions must be int64 [{prompts.Count}, L]; got {completions.dtype} [{string.Join(", ", completions.shape)}].", nameof(completions));
        long l = completions.shape[1];
        foreach (var p in prompts)
            if (p is null || p.Length == 0 || p.Length + l - 1 > blockSize)
                throw new ArgumentException(FormattableString.Invariant($"every prompt needs 1 ≤ P and P + L − 1 ≤ block size {blockSize} (L = {l}); got P = {p?.Length ?? 0}."), nameof(prompts));
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var order = new List<long>();
        var parts = new List<Tensor>();
        foreach (var bucket in Enumerable.Range(0, prompts.Count).GroupBy(i => prompts[i].Length))
        {
            int p = bucket.Key;
            var rows = bucket.Select(i => (long)i).ToArray();
            var promptTensor = tensor(rows.SelectMany(i => prompts[(int)i]).ToArray(), dtype: ScalarType.Int64).reshape(rows.Length, p).to(completions.device);
            var comp = completions.index_select(0, tensor(rows, device: completions.device));
            var input = cat(new[] { promptTensor, comp.narrow(1, 0, l - 1) }, 1);
            var positions = arange(s[0], s[p + l - 1], s[1], dtype: ScalarType.Int64, device: completions.device);
            parts.Add(forward(input, positions).narrow(1, p - 1, l));
            order.AddRange(rows);
        }
        var stacked = parts.Count == 1 ? parts[0] : cat(parts.ToArray(), 0);
        var inverse = new long[order.Count];
        for (int j = 0; j < order.Count; j++) inverse[order[j]] = j;
        return stacked.index_select(0, tensor(inverse, device: stacked.device)).MoveToOuterDisposeScope();
    }
}
