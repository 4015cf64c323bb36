using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// One outer level f_i (i = 1 … T−1) of a <see cref="NestedCompositionalProblem"/>: a smooth map of the next level's
/// value <paramref name="u"/> (a 1-D tensor of d_{i+1} entries) and a minibatch (int64 sample indices drawn from the
/// problem's upper stream, or null for the full data) to a 1-D floating tensor of d_i entries (f_1: one entry, the
/// upper objective). Built with differentiable torch ops only; it must not call <c>autograd.grad</c> or
/// <c>backward</c> itself.
/// </summary>
public delegate Tensor CompositionLevel(Tensor u, Tensor? batch);
