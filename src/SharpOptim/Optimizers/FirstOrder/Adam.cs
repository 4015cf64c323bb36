using TorchSharp.Modules;

namespace SharpOptim.Optimizers;

/// <summary>
/// Adam: Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015 (arXiv:1412.6980);
/// AMSGrad variant from Reddi, Kale and Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.
/// <para>Update, for gradient g_t (negated when <c>maximize</c>) and L2 weight decay λ added to the gradient:</para>
/// <code>
/// g  ← g_t + λ θ
/// m  ← β1 m + (1 − β1) g
/// v  ← β2 v + (1 − β2) g²
/// v̂  ← max(v̂, v)               (AMSGrad only; else v̂ = v)
/// θ  ← θ − (lr / (1 − β1^t)) · m / (√v̂ / √(1 − β2^t) + ε)
/// </code>
/// <para>
/// This is torch.optim.Adam's formulation (ε added after the bias correction of √v, as in PyTorch, where the paper
/// adds ε to √v̂ after correcting v), and it agrees with PyTorch 1.13 to rtol 1e-5 over 200 steps (golden tests).
/// The fused kernel performs the same float32 operations in the same order.
/// </para>
/// </summary>
public sealed class Adam : AdamBase
{
    /// <summary>Adam over a flat list of parameters.</summary>
    public Adam(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false)
        : base(SingleGroup(parameters), MakeDefaults(lr, beta1, beta2, eps, weight_decay, amsgrad, maximize), null, decoupled: false) { }

    /// <summary>Adam over named parameters (names appear in error messages and checkpoints).</summary>
    public Adam(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false)
        : this(SingleGroup(parameters), MakeDefaults(lr, beta1, beta2, eps, weight_decay, amsgrad, maximize)) { }

    /// <summary>Adam over parameter groups (options of type <see cref="AdamBase.Options"/>); unset options take these defaults.</summary>
    public Adam(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 0, bool amsgrad = false, bool maximize = false)
        : base(groups, MakeDefaults(lr, beta1, beta2, eps, weight_decay, amsgrad, maximize), null, decoupled: false) { }

    private Adam((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names, decoupled: false) { }
}
