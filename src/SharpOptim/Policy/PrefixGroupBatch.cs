using System.Globalization;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// The packed layout of Prefix Grouper (Liu, Yue, Tang, Guo, Cai, Liu, Chen, Liu, "Prefix Grouper: Efficient GRPO
/// Training through Shared-Prefix Forward", arXiv 2506.05433; official code johncaged/PrefixGrouper): the
/// <c>G_b</c> completions of each prompt <c>b</c> share one row <c>[prompt (P_b) | c_1 (L_1) | … | c_G (L_G)]</c>,
/// rows right-padded to the longest. Position ids: the prompt has <c>0..P_b−1</c> and every completion restarts at
/// <c>P_b</c> (<c>P_b..P_b+L_j−1</c>), so each token sees the positions it has in its own plain
/// <c>[prompt | completion]</c> row. Besides the packed tokens and positions the batch holds the index tensors that
/// <see cref="PrefixGroupAttention"/> uses to split every layer's queries, keys and values into the prompt part
/// (<c>[groups, Pmax]</c>, left-padded, as the official <c>GroupInfo</c> does) and the completion part
/// (<c>[samples, Lmax]</c>, right-padded), and that <see cref="PrefixGrouper"/> uses to read each completion token's
/// logit row (the first completion token is predicted by the last prompt position).
/// <para>Samples are numbered group by group: sample <c>s</c> is completion <c>j</c> of group <c>b</c> in the order
/// given. Every index tensor is int64 on the batch's device; the batch owns and disposes them.</para>
/// <para>Validation (before any tensor exists): at least one group; the same number of prompts as completion groups;
/// every prompt and every completion non-empty; every group non-empty; <c>P_b + L_j ≤ blockSize</c> for every
/// completion (the packed row itself may be longer than the block size); token ids non-negative. Violations raise an
/// <see cref="ArgumentException"/> naming the group, completion and value.</para>
/// </summary>
public sealed class PrefixGroupBatch : IDisposable
{
    private bool _disposed;

    private PrefixGroupBatch() { }

    /// <summary>Number of groups (prompts).</summary>
    public int Groups { get; private init; }

    /// <summary>Number of completions over all groups.</summary>
    public int Samples { get; private init; }

    /// <summary>Prompt length of every group.</summary>
    public IReadOnlyList<int> PromptLengths { get; private init; } = Array.Empty<int>();

    /// <summary>Length of every completion, sample order.</summary>
    public IReadOnlyList<int> CompletionLengths { get; private init; } = Array.Empty<int>();

    /// <summary>The group of every sample.</summary>
    public IReadOnlyList<int> GroupOfSample { get; private init; } = Array.Empty<int>();

    /// <summary>The prompts, one per group.</summary>
    public IReadOnlyList<long[]> Prompts { get; private init; } = Array.Empty<long[]>();

    /// <summary>The completions, sample order.</summary>
    public IReadOnlyList<long[]> Completions { get; private init; } = Array.Empty<long[]>();

    /// <summary>Longest prompt.</summary>
    public int MaxPromptLength { get; private init; }

    /// <summary>Longest completion (<c>L_max</c>, the width of the log-probability tensors).</summary>
    public int MaxCompletionLength { get; private init; }

    /// <summary>Length of the packed rows (the longest <c>P_b + Σ_j L_bj</c>).</summary>
    public int PackedLength { get; private init; }

    /// <summary>Packed token ids [groups, PackedLength], padding 0.</summary>
    public Tensor Tokens { get; private init; } = null!;

    /// <summary>Packed position ids [groups, PackedLength], padding 0.</summary>
    public Tensor Positions { get; private init; } = null!;

    /// <summary>True on real completion tokens [samples, L_max] (the boolean form of the mask that
    /// <see cref="PrefixGroupLogProbs.Mask"/> gives as 0/1 in the logits' dtype).</summary>
    public Tensor CompletionValid { get; private init; } = null!;

    /// <summary>Completion tokens [samples, L_max] (the labels), padding 0.</summary>
    public Tensor CompletionTokens { get; private init; } = null!;

    // Flat packed slot (b·N + i) of every left-padded prompt slot [groups·Pmax]; padding slots point at slot 0 of
    // their row (their values are masked as keys and their outputs discarded).
    internal Tensor PromptSlots { get; private init; } = null!;
    // True on real prompt slots [groups, Pmax].
    internal Tensor PromptValid { get; private init; } = null!;
    // Flat packed slot of every right-padded completion slot [samples·Lmax]; padding points at slot 0 of the row.
    internal Tensor CompletionSlots { get; private init; } = null!;
    // The group of every sample [samples] (for repeating prompt keys).
    internal Tensor SampleGroups { get; private init; } = null!;
    // For every packed slot [groups·N], its row in cat(promptOutputs [groups·Pmax], completionOutputs [samples·Lmax]);
    // packed padding reads row 0 (finite, never used by a loss).
    internal Tensor PackedSource { get; private init; } = null!;
    // Flat packed slot of the logit row predicting every completion token [samples·Lmax]: the last prompt slot for
    // t = 0, the slot of token t−1 of the same completion otherwise; padding points at slot 0.
    internal Tensor PredictorSlots { get; private init; } = null!;

    /// <summary>
    /// Packs <paramref name="prompts"/> (one per group) and <paramref name="completions"/> (the completions of each
    /// group) for a model with <paramref name="blockSize"/> learned positions; tensors live on <paramref name="device"/>
    /// (CPU when null). See the type's remarks for the validation rules.
    /// </summary>
    public static PrefixGroupBatch Create(IReadOnlyList<long[]> prompts, IReadOnlyList<IReadOnlyList<long[]>> completions, int blockSize, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(completions);
        if (blockSize <= 0) throw new ArgumentException(Inv($"blockSize must be positive; got {blockSize}."), nameof(blockSize));
        if (prompts.Count == 0) throw new ArgumentException("prefix grouper: no groups (the prompt list is empty).", nameof(prompts));
        if (prompts.Count != completions.Count)
            throw new ArgumentException(Inv($"prefix grouper: {prompts.Count} prompts but {completions.Count} completion groups; give one group of completions per prompt."), nameof(completions));
        var promptLengths = new int[prompts.Count];
        var lengths = new List<int>();
        var groupOf = new List<int>();
        var flatCompletions = new List<long[]>();
        for (int b = 0; b < prompts.Count; b++)
        {
            var prompt = prompts[b] ?? throw new ArgumentException(Inv($"prefix grouper: prompt {b} is null."), nameof(prompts));
            if (prompt.Length == 0) throw new ArgumentException(Inv($"prefix grouper: prompt {b} is empty; the first completion token is predicted by the last prompt position, so a prompt needs at least one token."), nameof(prompts));
            if (prompt.Length >= blockSize)
                throw new ArgumentException(Inv($"prefix grouper: prompt {b} has {prompt.Length} tokens, leaving no room for a completion within the block size {blockSize}."), nameof(prompts));
            CheckTokens(prompt, Inv($"prompt {b}"), nameof(prompts));
            promptLengths[b] = prompt.Length;
            var group = completions[b] ?? throw new ArgumentException(Inv($"prefix grouper: completion group {b} is null."), nameof(completions));
            if (group.Count == 0) throw new ArgumentException(Inv($"prefix grouper: group {b} is empty (no completions for prompt {b})."), nameof(completions));
            for (int j = 0; j < group.Count; j++)
            {
                var c = group[j] ?? throw new ArgumentException(Inv($"prefix grouper: completion {j} of group {b} is null."), nameof(completions));
                if (c.Length == 0) throw new ArgumentException(Inv($"prefix grouper: completion {j} of group {b} is empty."), nameof(completions));
                if (c.Length > blockSize - prompt.Length)
                    throw new ArgumentException(Inv($"prefix grouper: completion {j} of group {b} has {c.Length} tokens, longer than blockSize − P = {blockSize} − {prompt.Length} = {blockSize - prompt.Length}."), nameof(completions));
                CheckTokens(c, Inv($"completion {j} of group {b}"), nameof(completions));
                lengths.Add(c.Length);
                groupOf.Add(b);
                flatCompletions.Add(c);
            }
        }

        int groups = prompts.Count, samples = lengths.Count;
        int pmax = promptLengths.Max(), lmax = lengths.Max();
        var rowLength = new int[groups];
        for (int s = 0; s < samples; s++) rowLength[groupOf[s]] += lengths[s];
        for (int b = 0; b < groups; b++) rowLength[b] += promptLengths[b];
        int n = rowLength.Max();

        var tokens = new long[groups * n];
        var positions = new long[groups * n];
        var promptSlots = new long[groups * pmax];
        var promptValid = new bool[groups * pmax];
        var completionSlots = new long[samples * lmax];
        var completionValid = new bool[samples * lmax];
        var completionTokens = new long[samples * lmax];
        var predictorSlots = new long[samples * lmax];
        var packedSource = new long[groups * n];
        for (int b = 0; b < groups; b++)
        {
            int p = promptLengths[b], pad = pmax - p;
            for (int i = 0; i < p; i++)
            {
                long slot = (long)b * n + i;
                tokens[slot] = prompts[b][i];
                positions[slot] = i;
                promptSlots[b * pmax + pad + i] = slot;
                promptValid[b * pmax + pad + i] = true;
                packedSource[slot] = b * pmax + pad + i;
            }
            for (int i = 0; i < pad; i++) promptSlots[b * pmax + i] = (long)b * n;
        }
        var offset = promptLengths.ToArray();
        long completionBase = (long)groups * pmax;
        for (int s = 0; s < samples; s++)
        {
            int b = groupOf[s], p = promptLengths[b], len = lengths[s];
            long lastPrompt = (long)b * n + p - 1;
            for (int t = 0; t < lmax; t++)
            {
                int k = s * lmax + t;
                if (t < len)
                {
                    long slot = (long)b * n + offset[b] + t;
                    tokens[slot] = flatCompletions[s][t];
                    positions[slot] = p + t;
                    completionSlots[k] = slot;
                    completionValid[k] = true;
                    completionTokens[k] = flatCompletions[s][t];
                    predictorSlots[k] = t == 0 ? lastPrompt : slot - 1;
                    packedSource[slot] = completionBase + k;
                }
                else
                {
                    completionSlots[k] = (long)b * n;
                    predictorSlots[k] = (long)b * n;
                }
            }
            offset[b] += len;
        }

        var dev = device ?? CPU;
        return new PrefixGroupBatch
        {
            Groups = groups,
            Samples = samples,
            PromptLengths = promptLengths,
            CompletionLengths = lengths.ToArray(),
            GroupOfSample = groupOf.ToArray(),
            Prompts = prompts.Select(x => x.ToArray()).ToArray(),
            Completions = flatCompletions.Select(x => x.ToArray()).ToArray(),
            MaxPromptLength = pmax,
            MaxCompletionLength = lmax,
            PackedLength = n,
            Tokens = tensor(tokens, new long[] { groups, n }, device: dev),
            Positions = tensor(positions, new long[] { groups, n }, device: dev),
            PromptSlots = tensor(promptSlots, device: dev),
            PromptValid = tensor(promptValid, new long[] { groups, pmax }, device: dev),
            CompletionSlots = tensor(completionSlots, device: dev),
            CompletionValid = tensor(completionValid, new long[] { samples, lmax }, device: dev),
            CompletionTokens = tensor(completionTokens, new long[] { samples, lmax }, device: dev),
            SampleGroups = tensor(groupOf.Select(g => (long)g).ToArray(), device: dev),
            PackedSource = tensor(packedSource, device: dev),
            PredictorSlots = tensor(predictorSlots, device: dev),
        };
    }

    /// <summary>
    /// The plain layout of the same data: one row <c>[prompt | completion]</c> per sample, right-padded to
    /// <c>Pmax + Lmax</c> (tokens, positions 0..T−1) with, per sample and completion token, the flat slot of its
    /// predicting logit row. Right padding after a sequence does not change causal attention over it, so this is the
    /// repeated-prefix baseline that Prefix Grouper must reproduce.
    /// </summary>
    internal (Tensor Tokens, Tensor Positions, Tensor PredictorSlots) RepeatedLayout()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int width = MaxPromptLength + MaxCompletionLength, lmax = MaxCompletionLength;
        var tokens = new long[Samples * width];
        var predictor = new long[Samples * lmax];
        for (int s = 0; s < Samples; s++)
        {
            var prompt = Prompts[GroupOfSample[s]];
            var c = Completions[s];
            Array.Copy(prompt, 0, tokens, s * width, prompt.Length);
            Array.Copy(c, 0, tokens, s * width + prompt.Length, c.Length);
            for (int t = 0; t < lmax; t++)
                predictor[s * lmax + t] = t < c.Length ? (long)s * width + prompt.Length - 1 + t : (long)s * width;
        }
        var dev = Tokens.device;
        using var hold = new SharpOptim.Optimizers.ScalarHold();
        using var pos = arange(hold[0], hold[width], hold[1], dtype: ScalarType.Int64, device: dev);
        return (tensor(tokens, new long[] { Samples, width }, device: dev), pos.unsqueeze(0).expand(Samples, width).contiguous(),
            tensor(predictor, device: dev));
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in new[] { Tokens, Positions, PromptSlots, PromptValid, CompletionSlots, CompletionValid, CompletionTokens, SampleGroups, PackedSource, PredictorSlots })
            t.Dispose();
    }

    private static void CheckTokens(long[] tokens, string what, string parameter)
    {
        for (int i = 0; i < tokens.Length; i++)
            if (tokens[i] < 0) throw new ArgumentException(Inv($"prefix grouper: {what} has a negative token id {tokens[i]} at index {i}."), parameter);
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
