using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// Samples groups of completions from an <see cref="ICausalLanguageModel"/> (brief §0.3): each prompt is repeated G times,
/// tokens are drawn from softmax(logits / temperature) restricted to the top-k logits (<see cref="TokenDistribution"/>)
/// by inverse CDF with a .NET <see cref="Random"/> seeded by the caller (same seed, same weights → same completions), until the end token or
/// <see cref="MaxNewTokens"/>. With <see cref="UseCache"/> the prompt is encoded once and every further step feeds one
/// token through a <see cref="KeyValueCache"/>; without it every step re-runs the whole sequence (the baseline for the
/// tokens/s measurement). Greedy decoding takes the arg-max (lowest id on ties, as torch's argmax). Prompts of different
/// lengths are sampled in one batch per length. Runs under no_grad; records ℓ^old of the drawn tokens.
/// </summary>
public sealed class RolloutSampler
{
    /// <summary>Creates a sampler; <paramref name="endToken"/> ends a completion (and pads after it).</summary>
    public RolloutSampler(ICausalLanguageModel model, long endToken, int maxNewTokens, double temperature = 1, int topK = 0, bool useCache = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (endToken < 0 || endToken >= model.Vocabulary) throw new ArgumentException(FormattableString.Invariant($"endToken = {endToken} outside the vocabulary [0, {model.Vocabulary})."), nameof(endToken));
        if (maxNewTokens < 1) throw new ArgumentException($"maxNewTokens = {maxNewTokens}; it must be at least 1.", nameof(maxNewTokens));
        TokenDistribution.Check(temperature, topK, model.Vocabulary);
        Model = model;
        EndToken = endToken;
        MaxNewTokens = maxNewTokens;
        Temperature = temperature;
        TopK = topK;
        UseCache = useCache;
    }

    /// <summary>The policy sampled from.</summary>
    public ICausalLanguageModel Model { get; }
    /// <summary>The end-of-answer token.</summary>
    public long EndToken { get; }
    /// <summary>L_max, the generation budget.</summary>
    public int MaxNewTokens { get; }
    /// <summary>Sampling temperature.</summary>
    public double Temperature { get; }
    /// <summary>Top-k restriction (0 = none).</summary>
    public int TopK { get; }
    /// <summary>Whether decoding uses the key/value cache.</summary>
    public bool UseCache { get; }

    /// <summary>Samples <paramref name="groupSize"/> completions of each prompt; rows are prompt-major (prompt j's group
    /// is rows j·G … j·G + G − 1) with uid <paramref name="promptIds"/>[j].</summary>
    public RolloutBatch Sample(IReadOnlyList<long[]> prompts, IReadOnlyList<long> promptIds, int groupSize, long seed) =>
        Run(prompts, promptIds, groupSize, seed, greedy: false);

    /// <summary>The greedy completion of each prompt (one row per prompt).</summary>
    public RolloutBatch Greedy(IReadOnlyList<long[]> prompts, IReadOnlyList<long> promptIds) =>
        Run(prompts, promptIds, 1, 0, greedy: true);

    private RolloutBatch Run(IReadOnlyList<long[]> prompts, IReadOnlyList<long> promptIds, int groupSize, long seed, bool greedy)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(promptIds);
        if (prompts.Count == 0) throw new ArgumentException("no prompts.", nameof(prompts));
        if (promptIds.Count != prompts.Count) throw new ArgumentException(FormattableString.Invariant($"{promptIds.Count} prompt ids for {prompts.Count} prompts."), nameof(promptIds));
        if (groupSize < 1) throw new ArgumentException($"groupSize = {groupSize}; it must be at least 1.", nameof(groupSize));
        foreach (var p in prompts)
        {
            if (p is null || p.Length == 0 || p.Length + MaxNewTokens - 1 > Model.BlockSize)
                throw new ArgumentException(FormattableString.Invariant($"every prompt needs 1 ≤ P and P + {MaxNewTokens} − 1 ≤ block size {Model.BlockSize}; got P = {p?.Length ?? 0}."), nameof(prompts));
            foreach (var t in p)
                if (t < 0 || t >= Model.Vocabulary) throw new ArgumentException(FormattableString.Invariant($"prompt token {t} outside the vocabulary [0, {Model.Vocabulary})."), nameof(prompts));
        }
        int n = prompts.Count * groupSize, l = MaxNewTokens;
        var rowPrompts = new long[n][];
        var ids = new long[n];
        for (int j = 0; j < prompts.Count; j++)
            for (int g = 0; g < groupSize; g++)
            {
                rowPrompts[j * groupSize + g] = prompts[j];
                ids[j * groupSize + g] = promptIds[j];
            }
        var tokens = new long[n * l];
        var logp = new float[n * l];
        var mask = new float[n * l];
        var lengths = new int[n];
        using (no_grad())
        {
            var random = new Random(unchecked((int)(seed ^ (seed >> 32))));
            // Buckets in order of first appearance, so the random stream is consumed in a fixed order.
            foreach (var bucket in Enumerable.Range(0, n).GroupBy(i => rowPrompts[i].Length))
                Decode(bucket.ToArray(), rowPrompts, random, greedy, tokens, logp, mask, lengths);
        }
        // The flat tensors are scoped: an unreferenced temporary passed to reshape could be finalized mid-call
        // (README, Compatibility: TorchSharp's tensor-temporary race).
        using var scope = NewDisposeScope();
        var completions = tensor(tokens, dtype: ScalarType.Int64).reshape(n, l);
        var maskTensor = tensor(mask).reshape(n, l);
        var oldLogProbs = tensor(logp).reshape(n, l);
        return new RolloutBatch(rowPrompts, ids,
            completions.MoveToOuterDisposeScope(), maskTensor.MoveToOuterDisposeScope(), oldLogProbs.MoveToOuterDisposeScope(), lengths);
    }

    /// <summary>One categorical draw per row by inverse CDF with a uniform from <paramref name="random"/> (a .NET stream,
    /// so the draw does not depend on libtorch's generator state and is reproducible from the seed alone).</summary>
    private static long[] Draw(Tensor logDist, Random random)
    {
        long b = logDist.shape[0], v = logDist.shape[1];
        var p = logDist.exp().to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        var result = new long[b];
        for (long r = 0; r < b; r++)
        {
            double u = random.NextDouble(), acc = 0;
            long pick = -1, last = -1;
            for (long j = 0; j < v; j++)
            {
                double pj = p[r * v + j];
                if (pj <= 0) continue;
                last = j;
                acc += pj;
                if (u < acc) { pick = j; break; }
            }
            result[r] = pick >= 0 ? pick : last;   // rounding left u above the total: the last possible token
        }
        return result;
    }

    private void Decode(int[] rows, long[][] rowPrompts, Random random, bool greedy, long[] tokens, float[] logp, float[] mask, int[] lengths)
    {
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        int b = rows.Length, p = rowPrompts[rows[0]].Length, l = MaxNewTokens;
        var seq = tensor(rows.SelectMany(i => rowPrompts[i]).ToArray(), dtype: ScalarType.Int64).reshape(b, p);
        using var cache = UseCache ? new KeyValueCache(Model.Layers) : null;
        var done = new bool[b];
        var owned = new List<Tensor>();
        var next = seq;
        for (int t = 0; t < l; t++)
        {
            using var step = NewDisposeScope();
            Tensor logits;
            if (cache is not null)
            {
                long start = cache.Length, count = next.shape[1];
                var pos = arange(s[start], s[start + count], s[1], dtype: ScalarType.Int64);
                logits = Model.Forward(next, pos, cache).select(1, -1);
            }
            else
            {
                var pos = arange(s[0], s[seq.shape[1]], s[1], dtype: ScalarType.Int64);
                logits = Model.Forward(seq, pos, CausalAttention.Instance).select(1, -1);
            }
            var dist = TokenDistribution.LogSoftmax(logits, Temperature, TopK);
            var ch = greedy ? logits.argmax(-1).data<long>().ToArray() : Draw(dist, random);
            var chosenLogp = dist.gather(-1, tensor(ch, dtype: ScalarType.Int64).unsqueeze(-1)).squeeze(-1);
            var lp = chosenLogp.to_type(ScalarType.Float32).data<float>().ToArray();
            for (int r = 0; r < b; r++)
            {
                int row = rows[r];
                if (done[r]) { tokens[row * l + t] = EndToken; continue; }
                tokens[row * l + t] = ch[r];
                logp[row * l + t] = lp[r];
                mask[row * l + t] = 1;
                lengths[row] = t + 1;
                if (ch[r] == EndToken) done[r] = true;
            }
            if (done.All(x => x) || t == l - 1) break;
            var fed = tensor(Enumerable.Range(0, b).Select(r => tokens[rows[r] * l + t]).ToArray(), dtype: ScalarType.Int64).reshape(b, 1);
            if (cache is not null) owned.Add(next = fed.DetachFromDisposeScope());
            else owned.Add(seq = cat(new[] { seq, fed }, 1).DetachFromDisposeScope());
        }
        foreach (var o in owned) o.Dispose();
        for (int r = 0; r < b; r++)
            for (int t = lengths[rows[r]]; t < l; t++) tokens[rows[r] * l + t] = EndToken;
    }
}
