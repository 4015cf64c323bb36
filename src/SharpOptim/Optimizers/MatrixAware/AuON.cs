using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// AuON and Hybrid-AuON: Dipan Maity, "AuON: A Linear-time Alternative to Semi-Orthogonal Momentum Updates", 2025
/// (arXiv:2509.24320); official code ryyzn9/AuON (auon/optimizer.py: AuON, HybridAuON).
/// <para>For gradient g, momentum β, decoupled weight decay λ and brake scale γ:</para>
/// <code>
/// θ ← θ (1 − lr λ)
/// m ← β m + (1 − β) g                     (m.lerp_(g, 1 − β))
/// G ← g + β (m − g)                        (Nesterov form, g.lerp(m, β))
/// G ← NewtonSchulz_k(G)                   (Hybrid-AuON only, tensors with ≥ 2 dimensions)
/// r ← √ mean( cosh(γ G / (‖G‖_F + 1e-7))² )
/// θ ← θ − lr · G / (r + 1e-8)              (skipped when ‖G‖ = 0)
/// </code>
/// <para>
/// The hyperbolic-cosine RMS replaces Muon's orthogonalization by a linear-time normalisation. Paper and official
/// code differ, and this class follows the official code: the paper's update divides the <i>normalised</i> matrix,
/// θ ← θ − lr · Ĝ / √mean(cosh(Ĝ)²) with Ĝ = G / ‖G‖_F, and has no γ; the official <c>AuON.step</c> divides the raw
/// (Nesterov) momentum G, θ ← θ − lr · G / (r + 1e-8), and puts γ = 1.5 inside the cosh. The two steps differ by the
/// factor ‖G‖_F (so the official lr is tied to the gradient scale); the official code's tuned lr 0.24 only makes sense
/// for its form, which is why its form is the one implemented. Defaults follow the official code (lr 0.24, β 0.95,
/// λ 0, γ 1.5); γ = 1 does not recover the paper's step (the raw G is still divided). Hybrid-AuON applies a single Newton–Schulz iteration by default, as
/// the paper describes (the official class's own default is 5; pass <c>ns_steps</c> to choose). Deviation: the official
/// code overwrites <c>p.grad</c> with G; here the gradient is left untouched. One state tensor (4 bytes per float32
/// parameter). No fused kernel yet: the update needs two whole-tensor reductions.
/// </para>
/// <para>
/// Dtypes and shapes: the momentum is kept in the parameter's dtype; for float16 and bfloat16 parameters the direction,
/// its norm and the brake are computed in float32 and the update is cast back (float32 and float64 compute in their
/// own dtype). The official code runs on every tensor it is given, so vectors and 0-dim parameters are updated by the
/// same rule (for a 0-dim G the brake is cosh(γ)); Hybrid-AuON orthogonalizes tensors with ≥ 2 dimensions only.
/// </para>
/// </summary>
public sealed class AuON : OptimizerBase, TorchSharp.torch.optim.IMomentum
{
    /// <summary>The defaults' momentum, for TorchSharp's schedulers that cycle momentum (OneCycleLR, CyclicLR); each group's own is in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    double TorchSharp.torch.optim.IMomentum.Momentum { get => DefaultMomentum; set => DefaultMomentum = value; }

    /// <summary>AuON (ns_steps = 0) or Hybrid-AuON (ns_steps ≥ 1) over a flat list of parameters.</summary>
    public AuON(IEnumerable<Parameter> parameters, double lr = 0.24, double momentum = 0.95, double weight_decay = 0,
        double gamma = 1.5, long ns_steps = 0)
        : base(SingleGroup(parameters), MakeDefaults(lr, momentum, weight_decay, gamma, ns_steps), null) { }

    /// <summary>AuON over named parameters (names appear in error messages and checkpoints).</summary>
    public AuON(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 0.24, double momentum = 0.95, double weight_decay = 0,
        double gamma = 1.5, long ns_steps = 0)
        : this(SingleGroup(parameters), MakeDefaults(lr, momentum, weight_decay, gamma, ns_steps)) { }

    private AuON((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names) { }

    /// <summary>AuON over parameter groups; unset options take these defaults.</summary>
    public AuON(IEnumerable<ParamGroup> groups, double lr = 0.24, double momentum = 0.95, double weight_decay = 0,
        double gamma = 1.5, long ns_steps = 0)
        : base(groups, MakeDefaults(lr, momentum, weight_decay, gamma, ns_steps), null) { }

    /// <summary>Hybrid-AuON: one Newton–Schulz iteration (by default) before the cosh brake.</summary>
    public static AuON Hybrid(IEnumerable<Parameter> parameters, double lr = 0.24, double momentum = 0.95,
        double weight_decay = 0, double gamma = 1.5, long ns_steps = 1)
    {
        if (ns_steps < 1) throw new ArgumentException(FormattableString.Invariant($"Invalid ns_steps: {ns_steps} (Hybrid-AuON needs at least 1)."), nameof(ns_steps));
        return new AuON(parameters, lr, momentum, weight_decay, gamma, ns_steps);
    }

    private static Options MakeDefaults(double lr, double momentum, double wd, double gamma, long nsSteps) =>
        new() { LearningRate = lr, Momentum = momentum, WeightDecay = wd, Gamma = gamma, NsSteps = nsSteps };

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state) =>
        state.AddZeros("momentum_buffer");

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, wd = o.WeightDecay!.Value, beta = o.Momentum!.Value;
        state.Step++;
        using var s = new ScalarHold();
        if (wd != 0) p.mul_(s[1 - lr * wd]);
        var m = state["momentum_buffer"];
        m.lerp_(g, s.Weight(1 - beta));
        var u = g.lerp(m, s.Weight(beta));
        // Half types: the direction, its norm and the cosh brake are computed in float32 and the update cast back
        // (a float16 sum of squares overflows at |G| ≈ 256, and its mean over many entries loses the brake's
        // precision); float32 and float64 compute in their own dtype.
        if (u.dtype is ScalarType.Float16 or ScalarType.BFloat16) u = u.to_type(ScalarType.Float32);
        if (o.NsSteps!.Value > 0 && u.ndim >= 2) u = NewtonSchulz.Orthogonalize(u, (int)o.NsSteps.Value, muonOrder: false);
        var norm = u.norm();
        // The official code skips the update when ‖G‖ = 0 (read as a double whatever the dtype; a 0-dim parameter's
        // norm is |G|, so the method is defined for scalars and vectors as the official code runs it).
        using (var wide = norm.to_type(ScalarType.Float64))
            if (wide.item<double>() == 0) return;
        var scaled = u.div(norm.add(s[1e-7], s[1])).mul(s[o.Gamma!.Value]);
        var r = scaled.cosh().pow(s[2]).mean().sqrt();
        p.add_(u.div(r.add(s[1e-8], s[1])).to_type(p.dtype), s[-lr]);
    }

    /// <summary>AuON's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Momentum β, in [0, 1].</summary>
        public double? Momentum { get; set; }
        /// <summary>Decoupled weight decay λ, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>Brake scale γ, &gt;= 0.</summary>
        public double? Gamma { get; set; }
        /// <summary>Newton–Schulz iterations before the brake (0: AuON; ≥ 1: Hybrid-AuON), in [0, 100].</summary>
        public long? NsSteps { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireClosedUnitInterval("momentum", Momentum);
            RequireNonNegative("weight_decay", WeightDecay);
            RequireNonNegative("gamma", Gamma);
            if (NsSteps is not (>= 0 and <= 100)) throw new ArgumentException(FormattableString.Invariant($"Invalid ns_steps: {NsSteps} (must be in [0, 100])."), "ns_steps");
        }
    }
}
