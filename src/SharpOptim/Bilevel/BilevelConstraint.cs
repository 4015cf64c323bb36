using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// The lower level's constraints of a <see cref="ConstrainedBilevelProblem"/>: G(x, y; batch) as a 1-dimensional floating
/// tensor of k values, feasible when every entry is ≤ 0 (or = 0 for equality constraints). Built from x and y with
/// differentiable torch ops, like a <see cref="BilevelLoss"/>.
/// </summary>
public delegate Tensor BilevelConstraint(Tensor x, Tensor y, Tensor? batch);
