using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// The innermost level f_T(x, y; batch) of a <see cref="NestedCompositionalProblem"/>: a smooth map of the
/// hyperparameters x and the lower-level solution y to a 1-D floating tensor of d_T entries (the value the outer levels
/// are composed on). Built with differentiable torch ops only; it must not call <c>autograd.grad</c> or
/// <c>backward</c> itself.
/// </summary>
public delegate Tensor CompositionInnermostLevel(Tensor x, Tensor y, Tensor? batch);
