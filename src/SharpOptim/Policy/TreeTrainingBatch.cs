using System.Globalization;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// The packed layout of Tree Training (Shaojie Wang, Jinghui Wang, Yinghan Cui, Xuxing Chen, Chao Wang, Liang Huang,
/// Xiaojiang Zhang, Junyi Peng, Li Wan, Haotian Zhang, Bin Chen, "Tree Training: Accelerating Agentic LLMs Training via
/// Shared Prefix Reuse", arXiv 2511.00413) — a <b>reconstruction</b>: the paper body was not available; this follows
/// its abstracts, a third-party summary of v5 and the tree attention of inclusionAI/AReaL (see
/// <see cref="TreeTraining"/>). The branches of a tree-shaped rollout (every root-to-leaf token sequence) are merged
/// into a trie, so each distinct (token, context) appears once, and serialised depth-first into one row. Position id
/// of a tree token = its depth (its index in any branch through it); <see cref="TreeTrainingAttention"/> lets a token
/// see its ancestors and itself. A branch's loss tokens are its tokens from index <c>promptLength</c> on (the first
/// token of a branch is never predicted); each is predicted by its parent's logit row, so a branching node's row
/// predicts several children (one row, several labels).
/// <para>One tree (or forest: branches need not share a first token) per batch, one packed row. Validation, before any
/// tensor exists: at least one branch; every branch at least 2 tokens and at most <c>blockSize</c> (depth positions);
/// <c>1 ≤ promptLength[b] &lt; |b|</c>; token ids non-negative; one prompt length per branch. Branches may repeat
/// or be prefixes of one another (their weights then add up on the shared tokens).</para>
/// </summary>
public sealed class TreeTrainingBatch : IDisposable
{
    private bool _disposed;

    private TreeTrainingBatch() { }

    /// <summary>Number of branches.</summary>
    public int Branches { get; private init; }

    /// <summary>Distinct tree tokens (the packed row's length).</summary>
    public int TreeTokens { get; private init; }

    /// <summary>Tokens over all branches counted separately (what per-branch training processes).</summary>
    public int BranchTokens { get; private init; }

    /// <summary>Distinct predicted tokens (tree tokens that are a loss token of at least one branch).</summary>
    public int PredictedTokens { get; private init; }

    /// <summary>Loss tokens of every branch (<c>|b| − promptLength[b]</c>).</summary>
    public IReadOnlyList<int> LossLengths { get; private init; } = Array.Empty<int>();

    /// <summary>The branches as given.</summary>
    public IReadOnlyList<long[]> BranchSequences { get; private init; } = Array.Empty<long[]>();

    /// <summary>Prompt (no-loss) length of every branch.</summary>
    public IReadOnlyList<int> PromptLengths { get; private init; } = Array.Empty<int>();

    /// <summary>For every distinct predicted token, the branches whose loss includes it.</summary>
    public IReadOnlyList<int[]> BranchesThroughToken { get; private init; } = Array.Empty<int[]>();

    /// <summary>Tree token ids [1, TreeTokens], depth-first order.</summary>
    public Tensor Tokens { get; private init; } = null!;

    /// <summary>Depth of every tree token [1, TreeTokens] (its position id).</summary>
    public Tensor Positions { get; private init; } = null!;

    /// <summary>True where tree token i may not attend tree token j (j neither i nor an ancestor of i), [TreeTokens, TreeTokens].</summary>
    public Tensor Blocked { get; private init; } = null!;

    /// <summary>True on real loss tokens of the branch view [branches, T_max].</summary>
    public Tensor BranchValid { get; private init; } = null!;

    // Logit row (parent's serial index) and label of every distinct predicted token [PredictedTokens].
    internal Tensor PredictorRows { get; private init; } = null!;
    internal Tensor Labels { get; private init; } = null!;
    // Index into the distinct predicted tokens of every branch loss token [branches·T_max] (padding: 0).
    internal Tensor BranchIndex { get; private init; } = null!;
    internal int MaxLossLength { get; private init; }

    /// <summary>
    /// Builds the trie of <paramref name="branches"/> (full token sequences, root first). <paramref name="promptLengths"/>
    /// gives, per branch, how many leading tokens carry no loss (null: 1, i.e. every predicted token carries loss).
    /// </summary>
    public static TreeTrainingBatch Create(IReadOnlyList<long[]> branches, IReadOnlyList<int>? promptLengths, int blockSize, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(branches);
        if (blockSize <= 0) throw new ArgumentException(Inv($"blockSize must be positive; got {blockSize}."), nameof(blockSize));
        if (branches.Count == 0) throw new ArgumentException("tree training: no branches.", nameof(branches));
        if (promptLengths is not null && promptLengths.Count != branches.Count)
            throw new ArgumentException(Inv($"tree training: {promptLengths.Count} prompt lengths for {branches.Count} branches."), nameof(promptLengths));
        var prompt = new int[branches.Count];
        for (int b = 0; b < branches.Count; b++)
        {
            var br = branches[b] ?? throw new ArgumentException(Inv($"tree training: branch {b} is null."), nameof(branches));
            if (br.Length < 2) throw new ArgumentException(Inv($"tree training: branch {b} has {br.Length} token(s); a branch needs at least 2 (the first token is never predicted)."), nameof(branches));
            if (br.Length > blockSize) throw new ArgumentException(Inv($"tree training: branch {b} has {br.Length} tokens, more than the block size {blockSize} (positions are depths)."), nameof(branches));
            for (int i = 0; i < br.Length; i++)
                if (br[i] < 0) throw new ArgumentException(Inv($"tree training: branch {b} has a negative token id {br[i]} at index {i}."), nameof(branches));
            prompt[b] = promptLengths?[b] ?? 1;
            if (prompt[b] < 1 || prompt[b] >= br.Length)
                throw new ArgumentException(Inv($"tree training: prompt length {prompt[b]} of branch {b} must lie in [1, {br.Length - 1}] (branch length {br.Length})."), nameof(promptLengths));
        }

        // Trie in first-appearance order; children lists for the depth-first serialisation.
        var index = new Dictionary<(int Parent, long Token), int>();
        var parent = new List<int>();
        var token = new List<long>();
        var depth = new List<int>();
        var children = new List<List<int>>();
        var roots = new List<int>();
        var paths = new int[branches.Count][];
        for (int b = 0; b < branches.Count; b++)
        {
            int p = -1;
            paths[b] = new int[branches[b].Length];
            for (int i = 0; i < branches[b].Length; i++)
            {
                var key = (p, branches[b][i]);
                if (!index.TryGetValue(key, out int node))
                {
                    node = token.Count;
                    index[key] = node;
                    parent.Add(p);
                    token.Add(branches[b][i]);
                    depth.Add(i);
                    children.Add(new List<int>());
                    if (p < 0) roots.Add(node); else children[p].Add(node);
                }
                p = node;
                paths[b][i] = node;
            }
        }
        int n = token.Count;
        var serial = new int[n];
        var order = new List<int>(n);
        var stack = new Stack<int>();
        for (int r = roots.Count - 1; r >= 0; r--) stack.Push(roots[r]);
        while (stack.Count > 0)
        {
            int v = stack.Pop();
            serial[v] = order.Count;
            order.Add(v);
            for (int c = children[v].Count - 1; c >= 0; c--) stack.Push(children[v][c]);
        }

        var blocked = new bool[n * n];
        Array.Fill(blocked, true);
        for (int v = 0; v < n; v++)
            for (int a = v; a >= 0; a = parent[a])
                blocked[serial[v] * n + serial[a]] = false;

        // Distinct predicted tokens: tree nodes that are a loss token of some branch, in serial order.
        var predicted = new SortedDictionary<int, List<int>>();   // serial index -> branches
        for (int b = 0; b < branches.Count; b++)
            for (int t = prompt[b]; t < branches[b].Length; t++)
            {
                int s = serial[paths[b][t]];
                if (!predicted.TryGetValue(s, out var list)) predicted[s] = list = new List<int>();
                if (!list.Contains(b)) list.Add(b);
            }
        var predictedSerials = predicted.Keys.ToArray();
        var slotOf = new Dictionary<int, int>();
        for (int u = 0; u < predictedSerials.Length; u++) slotOf[predictedSerials[u]] = u;
        var rows = predictedSerials.Select(s => (long)serial[parent[order[s]]]).ToArray();
        var labels = predictedSerials.Select(s => token[order[s]]).ToArray();
        var lossLengths = branches.Select((br, b) => br.Length - prompt[b]).ToArray();
        int tmax = lossLengths.Max();
        var branchIndex = new long[branches.Count * tmax];
        var branchValid = new bool[branches.Count * tmax];
        for (int b = 0; b < branches.Count; b++)
            for (int t = 0; t < lossLengths[b]; t++)
            {
                branchIndex[b * tmax + t] = slotOf[serial[paths[b][prompt[b] + t]]];
                branchValid[b * tmax + t] = true;
            }

        var dev = device ?? CPU;
        return new TreeTrainingBatch
        {
            Branches = branches.Count,
            TreeTokens = n,
            BranchTokens = branches.Sum(x => x.Length),
            PredictedTokens = predictedSerials.Length,
            LossLengths = lossLengths,
            BranchSequences = branches.Select(x => x.ToArray()).ToArray(),
            PromptLengths = prompt,
            BranchesThroughToken = predicted.Values.Select(x => x.ToArray()).ToArray(),
            MaxLossLength = tmax,
            Tokens = tensor(order.Select(v => token[v]).ToArray(), new long[] { 1, n }, device: dev),
            Positions = tensor(order.Select(v => (long)depth[v]).ToArray(), new long[] { 1, n }, device: dev),
            Blocked = tensor(blocked, new long[] { n, n }, device: dev),
            BranchValid = tensor(branchValid, new long[] { branches.Count, tmax }, device: dev),
            PredictorRows = tensor(rows, device: dev),
            Labels = tensor(labels, device: dev),
            BranchIndex = tensor(branchIndex, device: dev),
        };
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in new[] { Tokens, Positions, Blocked, BranchValid, PredictorRows, Labels, BranchIndex }) t.Dispose();
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
