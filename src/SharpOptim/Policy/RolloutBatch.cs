using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// One batch of sampled completions (brief §0.3): per row the prompt, its id (uid; rows with the same id form a group),
/// the completion token ids [N, L] (padded with the end token after it), the mask [N, L] (1 on real tokens including
/// the end token), the log-probabilities ℓ^old [N, L] that the sampler drew them with (0 on padding) and the lengths.
/// <see cref="Rewards"/>, <see cref="GreedyRewards"/> and <see cref="RefLogProbs"/> are filled in by the caller
/// (reward function, ReMax's greedy pass, a no-grad forward of the frozen reference). Owns its tensors.
/// </summary>
public sealed class RolloutBatch : IDisposable
{
    /// <summary>Wraps sampled tensors; <paramref name="completions"/> int64, <paramref name="mask"/> and
    /// <paramref name="oldLogProbs"/> float32, all [N, L].</summary>
    public RolloutBatch(IReadOnlyList<long[]> prompts, long[] promptIds, Tensor completions, Tensor mask, Tensor oldLogProbs, int[] lengths)
    {
        Prompts = prompts;
        PromptIds = promptIds;
        Completions = completions;
        Mask = mask;
        OldLogProbs = oldLogProbs;
        Lengths = lengths;
    }

    /// <summary>The prompt token ids of each row.</summary>
    public IReadOnlyList<long[]> Prompts { get; }

    /// <summary>The prompt id (uid) of each row.</summary>
    public long[] PromptIds { get; }

    /// <summary>Completion token ids [N, L], int64.</summary>
    public Tensor Completions { get; }

    /// <summary>Completion mask [N, L], float32.</summary>
    public Tensor Mask { get; }

    /// <summary>ℓ^old [N, L], float32: the sampling pass's log-probabilities of the drawn tokens.</summary>
    public Tensor OldLogProbs { get; }

    /// <summary>Completion lengths (tokens with mask 1).</summary>
    public int[] Lengths { get; }

    /// <summary>Number of rows.</summary>
    public int Count => PromptIds.Length;

    /// <summary>The reward of each row (set by the caller).</summary>
    public double[]? Rewards { get; set; }

    /// <summary>The reward of each row's prompt's greedy completion (ReMax; set by the caller).</summary>
    public double[]? GreedyRewards { get; set; }

    /// <summary>ℓ^ref [N, L] under the frozen reference (set by the caller; disposed with the batch).</summary>
    public Tensor? RefLogProbs { get; set; }

    /// <summary>The completion tokens of row <paramref name="row"/> up to its length (the end token included if drawn).</summary>
    public long[] CompletionOf(int row)
    {
        using var rowTokens = Completions[row];
        using var prefix = rowTokens.narrow(0, 0, Lengths[row]);
        return prefix.data<long>().ToArray();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Completions.Dispose();
        Mask.Dispose();
        OldLogProbs.Dispose();
        RefLogProbs?.Dispose();
    }
}
