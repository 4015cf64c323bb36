using static TorchSharp.torch;

namespace SharpOptim.Policy;

/// <summary>What <see cref="Disco.Compute"/> returns: the loss to differentiate and the quantities to log.</summary>
/// <param name="Loss">−(1/Q) Σ_q J_q + stopgrad([β(K − δ)]₊)·K, a scalar tensor with gradient.</param>
/// <param name="Objective">(1/Q) Σ_q J_q, the true objective (the official code's logged loss is not it, see <see cref="Disco"/>).</param>
/// <param name="Kl">K, the KL estimate to the rollout policy.</param>
/// <param name="SkippedGroups">Groups with only positives or only negatives (no term, but counted in Q).</param>
public sealed record DiscoResult(Tensor Loss, double Objective, double Kl, int SkippedGroups);
