using SharpOptim.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// Stochastic gradient descent (Robbins and Monro, "A Stochastic Approximation Method", 1951) with heavy-ball
/// momentum (Polyak, 1964) and Nesterov momentum in the form of Sutskever, Martens, Dahl and Hinton, "On the
/// importance of initialization and momentum in deep learning", ICML 2013.
/// <para>Update, for gradient g (negated when <c>maximize</c>), momentum μ, dampening τ, weight decay λ:</para>
/// <code>
/// d ← g + λ θ
/// b ← d                          (first step)
/// b ← μ b + (1 − τ) d            (later steps)
/// d ← d + μ b  (Nesterov)   or   d ← b
/// θ ← θ − lr d
/// </code>
/// <para>
/// This is torch.optim.SGD exactly (the momentum buffer starts as the first gradient, undampened), and it agrees
/// with PyTorch 1.13 to rtol 1e-5 over 200 steps (golden tests). Sutskever et al. write the velocity with the
/// learning rate inside; PyTorch's form differs only when the learning rate changes during training.
/// </para>
/// </summary>
public sealed class SGD : OptimizerBase, TorchSharp.torch.optim.IMomentum
{
    /// <summary>The defaults' momentum, for TorchSharp's schedulers that cycle momentum (OneCycleLR, CyclicLR); each group's own is in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    double TorchSharp.torch.optim.IMomentum.Momentum { get => DefaultMomentum; set => DefaultMomentum = value; }

    private readonly FusedSgdJob _job = new();

    /// <summary>SGD over a flat list of parameters.</summary>
    public SGD(IEnumerable<Parameter> parameters, double lr, double momentum = 0, double dampening = 0,
        double weight_decay = 0, bool nesterov = false, bool maximize = false)
        : base(SingleGroup(parameters), MakeDefaults(lr, momentum, dampening, weight_decay, nesterov, maximize), null) { }

    /// <summary>SGD over named parameters (names appear in error messages and checkpoints).</summary>
    public SGD(IEnumerable<(string name, Parameter parameter)> parameters, double lr, double momentum = 0,
        double dampening = 0, double weight_decay = 0, bool nesterov = false, bool maximize = false)
        : this(SingleGroup(parameters), MakeDefaults(lr, momentum, dampening, weight_decay, nesterov, maximize)) { }

    /// <summary>SGD over parameter groups; a group's unset options take these defaults.</summary>
    public SGD(IEnumerable<ParamGroup> groups, double lr, double momentum = 0, double dampening = 0,
        double weight_decay = 0, bool nesterov = false, bool maximize = false)
        : base(groups, MakeDefaults(lr, momentum, dampening, weight_decay, nesterov, maximize), null) { }

    private SGD((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults)
        : base(named.Groups, defaults, named.Names) { }

    private static Options MakeDefaults(double lr, double momentum, double dampening, double wd, bool nesterov, bool maximize) =>
        new() { LearningRate = lr, Momentum = momentum, Dampening = dampening, WeightDecay = wd, Nesterov = nesterov, Maximize = maximize };

    /// <inheritdoc />
    /// <remarks>False: the momentum buffer is created on the first step that uses momentum, so a fresh initialization does not show the saved layout.</remarks>
    protected override bool StateLayoutFollowsOptions => false;

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        // The momentum buffer is created on the first step that uses momentum (see MomentumBuffer).
    }

    private static (Tensor? Buffer, bool First) MomentumBuffer(Options o, ParameterState state)
    {
        if (o.Momentum!.Value == 0) return (null, false);
        var buf = state.TryGet("momentum_buffer");
        return buf is null ? (state.AddZeros("momentum_buffer"), true) : (buf, false);
    }

    /// <summary>torch.optim.SGD's single-tensor update, operation by operation.</summary>
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double wd = o.WeightDecay!.Value, mom = o.Momentum!.Value;
        using var s = new ScalarHold();
        var d = o.Maximize!.Value ? g.neg() : g;
        if (wd != 0) d = d.add(p, s[wd]);
        var (buf, first) = MomentumBuffer(o, state);
        if (buf is not null)
        {
            if (first) buf.copy_(d);
            else buf.mul_(s[mom]).add_(d, s[1 - o.Dampening!.Value]);
            d = o.Nesterov!.Value ? d.add(buf, s[mom]) : buf;
        }
        p.add_(d, s[-o.LearningRate!.Value]);
        state.Step++;
    }

    /// <inheritdoc />
    protected override unsafe void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        var (buf, first) = MomentumBuffer(o, state);
        var s = new SgdScalars
        {
            Sign = o.Maximize!.Value ? -1f : 1f,
            WeightDecay = (float)o.WeightDecay!.Value,
            Momentum = (float)o.Momentum!.Value,
            OneMinusDampening = (float)(1 - o.Dampening!.Value),
            NegLr = (float)(-o.LearningRate!.Value),
        };
        _job.Run(OptimizerPointers.Of(p), OptimizerPointers.Of(g), buf is null ? null : OptimizerPointers.Of(buf),
            p.NumberOfElements, s, weightDecay: o.WeightDecay.Value != 0, momentum: buf is not null,
            nesterov: o.Nesterov!.Value, firstStep: first);
        state.Step++;
    }

    /// <summary>SGD's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Momentum factor μ, &gt;= 0 (0 disables momentum and its buffer).</summary>
        public double? Momentum { get; set; }
        /// <summary>Dampening τ of the gradient in the momentum buffer, in [0, 1].</summary>
        public double? Dampening { get; set; }
        /// <summary>L2 penalty added to the gradient, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>Nesterov momentum (needs momentum &gt; 0 and dampening 0).</summary>
        public bool? Nesterov { get; set; }
        /// <summary>Maximize the objective instead of minimizing.</summary>
        public bool? Maximize { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireNonNegative("momentum", Momentum);
            RequireClosedUnitInterval("dampening", Dampening);
            RequireNonNegative("weight_decay", WeightDecay);
            RequireSet("nesterov", Nesterov);
            RequireSet("maximize", Maximize);
            if (Nesterov!.Value && (Momentum!.Value <= 0 || Dampening!.Value != 0))
                throw new ArgumentException(FormattableString.Invariant($"Invalid nesterov: true needs momentum > 0 and dampening = 0 (momentum={Momentum?.ToString(System.Globalization.CultureInfo.InvariantCulture)}, dampening={Dampening?.ToString(System.Globalization.CultureInfo.InvariantCulture)})."), "nesterov");
        }
    }
}
