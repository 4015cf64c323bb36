using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Layers;

/// <summary>
/// PC layer: a linear layer whose weight is preconditioned by a low-degree polynomial of its singular spectrum, from
/// "PC Layer: Polynomial Weight Preconditioning for Improving LLM Pre-Training" (2026, arXiv:2606.06470); official
/// code Empath-aln/PC-layer, torchtitan/pc_layer/pc_layer.py (PCTransform, PCLinear), whose forward this reproduces.
/// <para>For the stored weight W (out × in), spectral-norm estimate σ = uᵀ W v + ε (u, v from power iteration):</para>
/// <code>
/// Ŵ = W / σ
/// W_pc = Ŵ q(ŴᵀŴ)   (out ≥ in)      or      q(ŴŴᵀ) Ŵ   (out &lt; in)
/// W_eff = W_pc · stop_gradient(σ) · γ        (γ a learnable scalar, initialised to 1)
/// y = x W_effᵀ + b
/// </code>
/// <para>
/// q(s) = Σ c_k s^k is applied to the singular values, so each σ_i(Ŵ) = s ∈ [0, 1] becomes s·q(s²), pushing the spectrum
/// toward 1. Coefficients (official, by degree): level 1 (1.507, −0.507); level 2 (2.083, −1.643, 0.560); level 3
/// (2.909, −4.649, 4.023, −1.283); level 4 (3.625, −9.261, 14.097, −10.351, 2.890), evaluated in the official
/// Horner order. Defaults as the paper's training configurations: level 4, 10 power iterations, ε = 1e-7, σ restored,
/// learnable γ.
/// </para>
/// <para>
/// Use: after each optimizer step call <see cref="UpdateSpectralState"/> (the official training loop does, and once
/// before the first forward; the constructor does the first). <see cref="Merge"/> returns a plain <c>Linear</c> with
/// weight W_eff and the same bias: identical outputs, no preconditioning cost at inference.
/// Deviations: the power-iteration start vectors are drawn from libtorch's global generator (seed it for
/// reproducibility), as the official code draws them from torch's; no distributed broadcast (single process).
/// </para>
/// </summary>
public sealed class PCLinear : nn.Module<Tensor, Tensor>
{
    private static readonly double[][] Coefficients =
    {
        Array.Empty<double>(),
        new[] { 1.507, -0.507 },
        new[] { 2.083, -1.643, 0.560 },
        new[] { 2.909, -4.649, 4.023, -1.283 },
        new[] { 3.625, -9.261, 14.097, -10.351, 2.890 },
    };

    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly Parameter? gamma;
    private Tensor sn_u, sn_v;

    /// <summary>A PC layer with a fresh weight initialised as <c>nn.Linear</c> initialises its own.</summary>
    public PCLinear(long inFeatures, long outFeatures, bool hasBias = true, int level = 4, int powerIterations = 10,
        double eps = 1e-7, bool learnableGamma = true)
        : this(nn.Linear(inFeatures, outFeatures, hasBias), level, powerIterations, eps, learnableGamma, dispose: true) { }

    /// <summary>Wraps the weight and bias of <paramref name="linear"/> (copied; the linear layer is left as it is).</summary>
    public PCLinear(Linear linear, int level = 4, int powerIterations = 10, double eps = 1e-7, bool learnableGamma = true)
        : this(linear, level, powerIterations, eps, learnableGamma, dispose: false) { }

    private PCLinear(Linear linear, int level, int powerIterations, double eps, bool learnableGamma, bool dispose) : base("PCLinear")
    {
        ArgumentNullException.ThrowIfNull(linear);
        if (level is < 0 or > 4) throw new ArgumentException(FormattableString.Invariant($"Invalid level: {level} (0 to 4)."), nameof(level));
        if (powerIterations < 1) throw new ArgumentException(FormattableString.Invariant($"Invalid powerIterations: {powerIterations} (must be >= 1)."), nameof(powerIterations));
        if (!(eps >= 0) || double.IsInfinity(eps)) throw new ArgumentException(FormattableString.Invariant($"Invalid eps: {eps} (must be finite and >= 0)."), nameof(eps));
        Level = level;
        PowerIterations = powerIterations;
        Eps = eps;
        using (no_grad())
        {
            weight = new Parameter(linear.weight!.detach().clone());
            bias = linear.bias is null ? null : new Parameter(linear.bias.detach().clone());
            gamma = learnableGamma ? new Parameter(ones(1, dtype: weight.dtype)) : null;
            sn_u = Unit(randn(weight.shape[0], dtype: weight.dtype));
            sn_v = Unit(randn(weight.shape[1], dtype: weight.dtype));
        }
        if (dispose) linear.Dispose();
        RegisterComponents();
        UpdateSpectralState();
    }

    /// <summary>Polynomial degree (0: no preconditioning, only the σ normalisation and restoration).</summary>
    public int Level { get; }
    /// <summary>Power iterations per <see cref="UpdateSpectralState"/>.</summary>
    public int PowerIterations { get; }
    /// <summary>Added to the spectral-norm estimate.</summary>
    public double Eps { get; }
    /// <summary>The stored (unpreconditioned) weight W, out × in.</summary>
    public Parameter Weight => weight;
    /// <summary>The bias, or null.</summary>
    public Parameter? Bias => bias;
    /// <summary>The learnable scale γ, or null.</summary>
    public Parameter? Gamma => gamma;
    /// <summary>The power iteration's left and right vectors.</summary>
    public (Tensor U, Tensor V) SpectralVectors => (sn_u, sn_v);

    private Tensor Unit(Tensor x)
    {
        using var s = new ScalarHold();
        return x.div(x.norm().add(s[Eps], s[1]));
    }

    /// <summary>Refines u, v by <see cref="PowerIterations"/> steps of power iteration on the current W (no gradient):
    /// v ← Wᵀu/‖Wᵀu‖, u ← Wv/‖Wv‖. Call after each optimizer step.</summary>
    public void UpdateSpectralState()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        Tensor u = sn_u, v = sn_v;
        for (int i = 0; i < PowerIterations; i++)
        {
            v = Unit(weight.t().mv(u));
            u = Unit(weight.mv(v));
        }
        sn_u.copy_(u);
        sn_v.copy_(v);
    }

    /// <summary>Sets the power iteration's vectors (normalised), e.g. to reproduce a reference run exactly.</summary>
    public void SetSpectralVectors(Tensor u, Tensor v)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(v);
        if (u.NumberOfElements != weight.shape[0] || v.NumberOfElements != weight.shape[1])
            throw new ArgumentException(FormattableString.Invariant($"Spectral vectors of sizes {u.NumberOfElements} and {v.NumberOfElements} do not fit a {weight.shape[0]}x{weight.shape[1]} weight."));
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        sn_u.copy_(Unit(u.reshape(-1).to_type(weight.dtype)));
        sn_v.copy_(Unit(v.reshape(-1).to_type(weight.dtype)));
    }

    /// <summary>The current spectral-norm estimate σ = uᵀ W v + ε (differentiable in W).</summary>
    public Tensor SpectralNorm()
    {
        using var s = new ScalarHold();
        return sn_u.dot(weight.mv(sn_v)).add(s[Eps], s[1]);
    }

    /// <summary>The effective weight W_eff the layer multiplies by (differentiable in W and γ).</summary>
    public Tensor EffectiveWeight()
    {
        using var scope = NewDisposeScope();
        using var s = new ScalarHold();
        var sigma = SpectralNorm();
        var w = weight / sigma;
        var c = Coefficients[Level];
        if (c.Length > 0)
        {
            bool tall = w.shape[0] >= w.shape[1];
            var gram = tall ? w.t().mm(w) : w.mm(w.t());
            var eye = torch.eye(gram.shape[0], dtype: w.dtype, device: w.device);
            // Horner from the highest degree, as the official code: c0 I + S(c1 I + S(c2 I + ... + c_k S)).
            var q = gram.mul(s[c[^1]]);
            for (int k = c.Length - 2; k >= 1; k--) q = gram.mm(eye.mul(s[c[k]]).add(q, s[1]));
            q = eye.mul(s[c[0]]).add(q, s[1]);
            w = tall ? w.mm(q) : q.mm(w);
        }
        w = w * sigma.detach();
        if (gamma is not null) w = w * gamma;
        return w.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        // Held and disposed, not left unreferenced across linear's native call (README, Compatibility).
        using var w = EffectiveWeight();
        return nn.functional.linear(x, w, bias);
    }

    /// <summary>A plain <c>Linear</c> with weight W_eff and this layer's bias: the same outputs without the preconditioner.</summary>
    public Linear Merge()
    {
        using var _ = no_grad();
        var linear = nn.Linear(weight.shape[1], weight.shape[0], bias is not null, dtype: weight.dtype);
        using var w = EffectiveWeight();
        linear.weight!.copy_(w);
        if (bias is not null) linear.bias!.copy_(bias);
        return linear;
    }
}
