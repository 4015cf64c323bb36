using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>
/// Log-probabilities from one tree forward (<see cref="TreeTraining.LogProbs"/>): <see cref="TokenLogProbs"/> [U], one per
/// distinct predicted tree token (for the weighted loss of gradient restoration, <see cref="TreeTraining.TokenWeights"/>);
/// <see cref="BranchLogProbs"/> [branches, T_max], the same values laid out per branch (a token shared by k branches
/// appears k times, 0 on padding) and <see cref="BranchMask"/> (1 on loss tokens, the logits' dtype). The branch view
/// is an index of the token view, whose backward sums over the branches: any loss of it has the per-branch gradients.
/// </summary>
public sealed record TreeTrainingLogProbs(Tensor TokenLogProbs, Tensor BranchLogProbs, Tensor BranchMask) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        TokenLogProbs.Dispose();
        BranchLogProbs.Dispose();
        BranchMask.Dispose();
    }
}
