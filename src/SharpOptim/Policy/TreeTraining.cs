using System.Globalization;
using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// Tree Training: Shaojie Wang, Jinghui Wang, Yinghan Cui, Xuxing Chen, Chao Wang, Liang Huang, Xiaojiang Zhang, Junyi
/// Peng, Li Wan, Haotian Zhang, Bin Chen, "Tree Training: Accelerating Agentic LLMs Training via Shared Prefix Reuse",
/// arXiv 2511.00413. <b>Reconstruction</b>: the paper body was not available to us (no official code either); this
/// follows the abstracts (v1–v5), a third-party summary of v5 ("averaging the loss over branches equals a per-token
/// weighted loss with weight = fraction of branches through the token; DFS serialisation; tree attention") and the
/// third-party implementation in inclusionAI/AReaL (<c>areal/models/tree_attn</c>), as summarised in the project's
/// brief (shared/papers/policy.md §8). The weighting rule itself is algebra and is tested to float64 rounding.
/// <para>A tree-shaped rollout (branching at tool calls, sub-agents, …) has B branches (root-to-leaf sequences) whose
/// tokens on shared paths carry loss. Per-branch training runs B forwards and
/// <c>L = (1/B) Σ_b n_b Σ_{t∈b} x_{b,t}(ℓ_{b,t})</c> (n_b: 1 for a sum, 1/|b| for a per-branch mean). Tree Training
/// runs one forward over the trie (<see cref="TreeTrainingBatch"/>: depth-first order, position = depth;
/// <see cref="TreeTrainingAttention"/>: ancestors and self) and gets ℓ once per distinct (node, label) — equal to
/// every branch's value, since each token sees the same context and positions.</para>
/// <para>"Gradient restoration" (the loss weighting): for terms linear in ℓ (SFT: x = −ℓ; REINFORCE-style:
/// x = −A_b ℓ) the tree loss is <c>−Σ_u c_u ℓ_u</c> with <c>c_u = Σ_{b through u} coefficient_b</c>, coefficient_b =
/// n_b·A_b/B (<see cref="TokenWeights"/>); with n_b = 1 and SFT this is the paper's "fraction of branches through the
/// token". For nonlinear per-token terms whose inputs differ per branch (PPO's min(ρA_b, clip(ρ)A_b), ρ equal for all
/// branches through a token) use the branch view <see cref="TreeTrainingLogProbs.BranchLogProbs"/>: an index of the
/// token log-probabilities whose backward sums over branches, so any loss of it has exactly the per-branch gradient.</para>
/// <para>Not implemented: the paper's packing/partitioning of large trees under a memory cap (Tree Packing /
/// Redundancy-Free Tree Partitioning), unnecessary at this scale; one tree (or forest) per forward.</para>
/// </summary>
public static class TreeTraining
{
    /// <summary>Log-probabilities of every loss token from one tree forward of <paramref name="model"/>.</summary>
    public static TreeTrainingLogProbs LogProbs(ICausalLanguageModel model, TreeTrainingBatch batch)
    {
        Check(model, batch);
        using var scope = NewDisposeScope();
        var attention = new TreeTrainingAttention(batch);
        var logits = model.Forward(batch.Tokens, batch.Positions, attention);
        var rows = logits[0].index_select(0, batch.PredictorRows);
        var token = rows.log_softmax(-1).gather(1, batch.Labels.unsqueeze(1)).squeeze(1);
        var branch = token.index_select(0, batch.BranchIndex).view(batch.Branches, batch.MaxLossLength);
        branch = where(batch.BranchValid, branch, zeros_like(branch));
        var mask = batch.BranchValid.to_type(logits.dtype);
        return new TreeTrainingLogProbs(token.MoveToOuterDisposeScope(), branch.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The per-branch baseline: one plain causal forward per branch (rows right-padded, positions 0..T−1), the loss
    /// tokens' log-probabilities in the branch layout [branches, T_max] and the mask. What Tree Training reproduces.
    /// </summary>
    public static (Tensor LogProbs, Tensor Mask) PerBranch(ICausalLanguageModel model, TreeTrainingBatch batch)
    {
        Check(model, batch);
        using var scope = NewDisposeScope();
        int b = batch.Branches, width = batch.BranchSequences.Max(x => x.Length), tmax = batch.MaxLossLength;
        var tokens = new long[b * width];
        var rows = new long[b * tmax];
        var labels = new long[b * tmax];
        for (int i = 0; i < b; i++)
        {
            var br = batch.BranchSequences[i];
            Array.Copy(br, 0, tokens, i * width, br.Length);
            for (int t = 0; t < tmax; t++)
            {
                bool real = t < batch.LossLengths[i];
                int target = batch.PromptLengths[i] + t;
                rows[i * tmax + t] = real ? (long)i * width + target - 1 : (long)i * width;
                labels[i * tmax + t] = real ? br[target] : 0;
            }
        }
        var device = batch.Tokens.device;
        using var hold = new SharpOptim.Optimizers.ScalarHold();
        var positions = arange(hold[0], hold[width], hold[1], dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(b, width).contiguous();
        var logits = model.Forward(tensor(tokens, new long[] { b, width }, device: device), positions, CausalAttention.Instance);
        var picked = logits.reshape(-1, logits.shape[2]).index_select(0, tensor(rows, device: device));
        var logp = picked.log_softmax(-1).gather(1, tensor(labels, device: device).unsqueeze(1)).view(b, tmax);
        logp = where(batch.BranchValid, logp, zeros_like(logp));
        var mask = batch.BranchValid.to_type(logits.dtype);
        return (logp.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Gradient restoration's token weights: <c>c_u = Σ_{b through u} branchCoefficients[b]</c> for every distinct
    /// predicted token u (the order of <see cref="TreeTrainingLogProbs.TokenLogProbs"/>). For the per-branch loss
    /// <c>−(1/B) Σ_b n_b A_b Σ_t ℓ_{b,t}</c> pass <c>n_b·A_b/B</c>; the tree loss <c>−Σ_u c_u ℓ_u</c> then has the
    /// same value and gradients. Throws on a wrong count or a non-finite coefficient.
    /// </summary>
    public static double[] TokenWeights(TreeTrainingBatch batch, IReadOnlyList<double> branchCoefficients)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(branchCoefficients);
        if (branchCoefficients.Count != batch.Branches)
            throw new ArgumentException(Inv($"tree training: {branchCoefficients.Count} branch coefficients for {batch.Branches} branches."), nameof(branchCoefficients));
        for (int b = 0; b < branchCoefficients.Count; b++)
            if (!double.IsFinite(branchCoefficients[b]))
                throw new ArgumentException(Inv($"tree training: branch coefficient {b} is {branchCoefficients[b]}."), nameof(branchCoefficients));
        return batch.BranchesThroughToken.Select(list => list.Sum(b => branchCoefficients[b])).ToArray();
    }

    private static void Check(ICausalLanguageModel model, TreeTrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        batch.ThrowIfDisposed();
        int longest = batch.BranchSequences.Max(x => x.Length);
        if (longest > model.BlockSize)
            throw new ArgumentException(Inv($"tree training: the deepest branch has {longest} tokens; the model has {model.BlockSize} positions."), nameof(batch));
        long maxToken = batch.BranchSequences.Max(x => x.Max());
        if (maxToken >= model.Vocabulary)
            throw new ArgumentException(Inv($"tree training: token id {maxToken} is outside the model's vocabulary of {model.Vocabulary}."), nameof(batch));
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
