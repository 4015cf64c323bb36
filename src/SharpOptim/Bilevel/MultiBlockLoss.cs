using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// One level's loss of block <paramref name="block"/> of a <see cref="MultiBlockBilevelProblem"/>: f_i or g_i as a
/// function of the shared hyperparameters <paramref name="x"/>, that block's model parameters <paramref name="y"/> and a
/// minibatch (int64 sample indices, or null for the full data). The same rules as <see cref="BilevelLoss"/>: a scalar
/// floating tensor built with differentiable torch ops, no <c>autograd.grad</c>/<c>backward</c> inside.
/// </summary>
public delegate Tensor MultiBlockLoss(int block, Tensor x, Tensor y, Tensor? batch);
