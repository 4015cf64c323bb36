using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// One level's loss of a bilevel problem as a function of the hyperparameters <paramref name="x"/>, the model parameters
/// <paramref name="y"/> and a minibatch: <paramref name="batch"/> is an int64 tensor of sample indices drawn by that
/// level's <see cref="BatchStream"/>, or null for the full data. It must return a scalar (0-dim or one-element) floating
/// tensor built from <paramref name="x"/> and <paramref name="y"/> with differentiable torch ops (no <c>detach</c>, no
/// <c>no_grad</c>), and must not call <c>autograd.grad</c> or <c>backward</c> itself: the oracles in
/// <see cref="HypergradientOracle"/> differentiate it, once or twice.
/// </summary>
public delegate Tensor BilevelLoss(Tensor x, Tensor y, Tensor? batch);
