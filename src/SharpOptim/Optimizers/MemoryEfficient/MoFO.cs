using SharpOptim.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// MoFO (Momentum-Filtered Optimizer): Chen, Wang, Zhang, Li, Sun, Luo et al., "MoFO: Momentum-Filtered Optimizer
/// for Mitigating Forgetting in LLM Fine-Tuning", 2024 (arXiv:2407.20999); official code YChen-zzz/MoFO
/// (algorithms_MoFO.py, AdamW_MoFO).
/// <para>AdamW moments for every entry; within each parameter block only the fraction α of entries with the
/// largest |m| moves:</para>
/// <code>
/// θ ← θ (1 − lr λ)
/// m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²
/// τ ← the k-th largest |m| in the block, k = ⌊α · numel⌋
/// θ ← θ − (lr / (1 − β1^t)) · 1[|m| ≥ τ] · m / (√v / √(1 − β2^t) + ε)
/// </code>
/// <para>
/// Partition, as the official code: each parameter tensor is one block. Built from named parameters, tensors whose
/// name contains "bias" or "norm" are updated in full (α = 1), and those whose name contains "norm" or "ln_f" get
/// no weight decay. Ties at τ are all updated, as in the official code. Deviation: where ⌊α · numel⌋ is 0 the
/// official code fails (top-k of nothing); here k is at least 1. Moments and the update are fused kernels; the fused
/// path finds the threshold by an exact radix select over |m| (two read passes), the portable path by libtorch. Two state tensors (8 bytes per float32 parameter).
/// </para>
/// </summary>
public sealed class MoFO : OptimizerBase, TorchSharp.torch.optim.IBetas
{
    /// <summary>β1 and β2 of the defaults, for TorchSharp's schedulers that cycle momentum (OneCycleLR); each group's own are in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    (double, double) TorchSharp.torch.optim.IBetas.Betas { get => DefaultBetas; set => DefaultBetas = value; }

    private readonly FusedJob<MofoMomentKernel> _moments = new();
    private readonly FusedJob<MofoApplyKernel> _apply = new();
    private readonly AbsKthLargestJob _select = new();

    /// <summary>
    /// MoFO over a flat list of parameters: every tensor is one block with these defaults. Named parameters
    /// (<c>model.named_parameters()</c>) also apply the official code's name rules (biases and norms updated in full,
    /// norms without weight decay).
    /// </summary>
    public MoFO(IEnumerable<Parameter> parameters, double lr = 1e-5, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 0.1, double fraction = 0.03)
        : base(SingleGroup(parameters), MakeDefaults(lr, beta1, beta2, eps, weight_decay, fraction), null) { }

    /// <summary>MoFO over named parameters, partitioned and decayed by name as the official code does.</summary>
    public MoFO(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-5, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0.1, double fraction = 0.03)
        : this(ByName(parameters), MakeDefaults(lr, beta1, beta2, eps, weight_decay, fraction)) { }

    /// <summary>MoFO over parameter groups (options of type <see cref="Options"/>); unset options take these defaults.</summary>
    public MoFO(IEnumerable<ParamGroup> groups, double lr = 1e-5, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 0.1, double fraction = 0.03)
        : base(groups, MakeDefaults(lr, beta1, beta2, eps, weight_decay, fraction), null) { }

    private MoFO((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names) { }

    private static Options MakeDefaults(double lr, double beta1, double beta2, double eps, double wd, double fraction) =>
        new() { LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps, WeightDecay = wd, Fraction = fraction };

    private static (ParamGroup[], Dictionary<Parameter, string>) ByName(IEnumerable<(string name, Parameter parameter)> named)
    {
        ArgumentNullException.ThrowIfNull(named);
        var names = new Dictionary<Parameter, string>(ReferenceEqualityComparer.Instance);
        var groups = new List<ParamGroup>();
        foreach (var (name, p) in named)
        {
            if (!p.requires_grad) continue;
            names.TryAdd(p, name);
            var o = new Options();
            if (name.Contains("norm") || name.Contains("ln_f")) o.WeightDecay = 0;
            if (name.Contains("bias") || name.Contains("norm")) o.Fraction = 1;
            groups.Add(new ParamGroup<Options>(new[] { p }, o));
        }
        return (groups.ToArray(), names);
    }

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        state.AddZeros("exp_avg");
        state.AddZeros("exp_avg_sq");
    }

    private static (double StepSize, double Bc2Sqrt) Scalars(Options o, long step) =>
        (o.LearningRate!.Value / (1 - Math.Pow(o.Beta1!.Value, step)), Math.Sqrt(1 - Math.Pow(o.Beta2!.Value, step)));

    /// <summary>How many entries of a block move: ⌊α · numel⌋, at least 1; 0 means all (α = 1).</summary>
    private static long Selected(Options o, Tensor m) =>
        o.Fraction!.Value >= 1 ? 0 : Math.Max(1, (long)(m.NumberOfElements * o.Fraction.Value));

    /// <summary>The k-th largest |m| with libtorch (0 when the whole block is updated).</summary>
    private static double Threshold(Options o, Tensor m)
    {
        long k = Selected(o, m);
        if (k == 0) return 0;
        // The k-th largest |m| is the (n − k + 1)-th smallest: kthvalue (a selection) finds the same value as the
        // official top-k's minimum, without sorting k entries.
        // reshape, not view: the state of a non-contiguous parameter may be non-contiguous too. The value is read as
        // a double whatever the dtype (float64, float16 and bfloat16 moments included).
        using var a = m.abs().reshape(-1);
        var (values, indices) = a.kthvalue(m.NumberOfElements - k + 1, 0);
        using (values) using (indices) using (var wide = values.to_type(ScalarType.Float64)) return wide.item<double>();
    }

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        using var s = new ScalarHold();
        long step = ++state.Step;
        double lr = o.LearningRate!.Value, b2 = o.Beta2!.Value;
        var m = state["exp_avg"];
        var v = state["exp_avg_sq"];
        if (o.WeightDecay!.Value != 0) p.mul_(s[1 - lr * o.WeightDecay.Value]);
        m.lerp_(g, s.Weight(1 - o.Beta1!.Value));
        v.mul_(s[b2]).addcmul_(g, g, s[1 - b2]);
        var (stepSize, bc2Sqrt) = Scalars(o, step);
        var h = v.sqrt().div(s[bc2Sqrt]).add_(s[o.Eps!.Value], s[1]);
        double threshold = Threshold(o, m);
        var filtered = threshold > 0 ? where(m.abs().ge(s[threshold]), m, zeros_like(m)) : m;
        p.addcdiv_(filtered, h, s[-stepSize]);
    }

    /// <inheritdoc />
    protected override unsafe void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        long step = ++state.Step;
        double lr = o.LearningRate!.Value;
        var m = state["exp_avg"];
        var v = state["exp_avg_sq"];
        _moments.Run(new MofoMomentKernel
        {
            P = OptimizerPointers.Of(p), G = OptimizerPointers.Of(g), M = OptimizerPointers.Of(m), V = OptimizerPointers.Of(v),
            Sign = 1f, Decay = (float)(1 - lr * o.WeightDecay!.Value), OneMinusBeta1 = (float)(1 - o.Beta1!.Value),
            Beta2 = (float)o.Beta2!.Value, OneMinusBeta2 = (float)(1 - o.Beta2.Value),
        }, p.NumberOfElements);
        var (stepSize, bc2Sqrt) = Scalars(o, step);
        _apply.Run(new MofoApplyKernel
        {
            P = OptimizerPointers.Of(p), M = OptimizerPointers.Of(m), V = OptimizerPointers.Of(v),
            Threshold = Selected(o, m) is var k && k > 0 ? _select.Find(OptimizerPointers.Of(m), m.NumberOfElements, k) : 0f,
            NegStepSize = (float)-stepSize, BiasCorrection2Sqrt = (float)bc2Sqrt,
            Eps = (float)o.Eps!.Value,
        }, p.NumberOfElements);
    }

    /// <summary>MoFO's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : AdamStyleOptions
    {
        /// <summary>Fraction α of each block's entries updated per step, in (0, 1]; 1 updates all.</summary>
        public double? Fraction { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            if (Fraction is not { } f || double.IsNaN(f) || f <= 0 || f > 1)
                throw new ArgumentException(FormattableString.Invariant($"Invalid fraction: {Fraction} (must be in (0, 1])."), "fraction");
        }
    }
}
