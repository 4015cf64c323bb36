namespace SharpOptim.Optimizers;

/// <summary>The diagonal-Hessian estimator that feeds <see cref="Sophia"/>.</summary>
public enum SophiaEstimator
{
    /// <summary>
    /// Gauss-Newton-Bartlett (Sophia-G): labels sampled from the model's own softmax; ĥ = B·ĝ⊙ĝ with ĝ the gradient of
    /// the mean loss on those labels over a batch of B. Call <see cref="Sophia.UpdateHessian()"/> after a backward
    /// pass on <see cref="Sophia.SampledLabelLoss"/>.
    /// </summary>
    GaussNewtonBartlett,

    /// <summary>
    /// Hutchinson (Sophia-H): ĥ = u⊙(∇²L u) with Rademacher u, by a Hessian-vector product through autograd.
    /// Call <see cref="Sophia.UpdateHessian(System.Func{TorchSharp.torch.Tensor}, TorchSharp.torch.Generator?)"/>.
    /// </summary>
    Hutchinson,
}
