using TorchSharp.Modules;

namespace SharpOptim.Optimizers;

/// <summary>
/// AdamW: Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (arXiv:1711.05101),
/// with the AMSGrad option of Reddi et al. (2018).
/// <para>Update, for gradient g (negated when <c>maximize</c>) and decoupled weight decay λ:</para>
/// <code>
/// θ  ← θ (1 − lr λ)
/// m  ← β1 m + (1 − β1) g
/// v  ← β2 v + (1 − β2) g²
/// v̂  ← max(v̂, v)               (AMSGrad only; else v̂ = v)
/// θ  ← θ − (lr / (1 − β1^t)) · m / (√v̂ / √(1 − β2^t) + ε)
/// </code>
/// <para>
/// As in torch.optim.AdamW, the decay is multiplied by the current learning rate (the paper scales it by the
/// schedule multiplier η_t only, with a separate base rate); with a constant learning rate the two coincide up to
/// the choice of λ. Agrees with PyTorch 1.13 to rtol 1e-5 over 200 steps (golden tests); the fused kernel performs
/// the same float32 operations in the same order.
/// </para>
/// <para>
/// Defaults are torch.optim.AdamW's (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01). TorchSharp's own
/// <c>optim.AdamW</c> defaults to weight_decay 0: pass it explicitly when swapping one for the other.
/// </para>
/// </summary>
public sealed class AdamW : AdamBase
{
    /// <summary>AdamW over a flat list of parameters.</summary>
    public AdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 1e-2, bool amsgrad = false, bool maximize = false)
        : base(SingleGroup(parameters), MakeDefaults(lr, beta1, beta2, eps, weight_decay, amsgrad, maximize), null, decoupled: true) { }

    /// <summary>AdamW over named parameters (names appear in error messages and checkpoints).</summary>
    public AdamW(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-8, double weight_decay = 1e-2, bool amsgrad = false, bool maximize = false)
        : this(SingleGroup(parameters), MakeDefaults(lr, beta1, beta2, eps, weight_decay, amsgrad, maximize)) { }

    /// <summary>AdamW over parameter groups (options of type <see cref="AdamBase.Options"/>); unset options take these defaults.</summary>
    public AdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 1e-2, bool amsgrad = false, bool maximize = false)
        : base(groups, MakeDefaults(lr, beta1, beta2, eps, weight_decay, amsgrad, maximize), null, decoupled: true) { }

    private AdamW((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names, decoupled: true) { }
}
