using SharpOptim.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// The update shared by <see cref="Adam"/> (L2 penalty added to the gradient) and <see cref="AdamW"/>
/// (decoupled weight decay). See those classes for the papers and the update rule.
/// </summary>
public abstract class AdamBase : OptimizerBase, TorchSharp.torch.optim.IBetas
{
    /// <summary>β1 and β2 of the defaults, for TorchSharp's schedulers that cycle momentum (OneCycleLR); each group's own are in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    (double, double) TorchSharp.torch.optim.IBetas.Betas { get => DefaultBetas; set => DefaultBetas = value; }

    private readonly FusedAdamJob _job = new();
    private readonly bool _decoupled;

    private protected AdamBase(IEnumerable<ParamGroup> groups, Options defaults, IReadOnlyDictionary<Parameter, string>? names, bool decoupled)
        : base(groups, defaults, names)
    {
        _decoupled = decoupled;
    }

    private protected static Options MakeDefaults(double lr, double beta1, double beta2, double eps, double wd, bool amsgrad, bool maximize) =>
        new() { LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps, WeightDecay = wd, Amsgrad = amsgrad, Maximize = maximize };

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        state.AddZeros("exp_avg");
        state.AddZeros("exp_avg_sq");
        if (((Options)options).Amsgrad!.Value) state.AddZeros("max_exp_avg_sq");
    }

    /// <summary>torch.optim's single-tensor Adam/AdamW, operation by operation.</summary>
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, beta1 = o.Beta1!.Value, beta2 = o.Beta2!.Value, wd = o.WeightDecay!.Value;
        using var s = new ScalarHold();
        var grad = o.Maximize!.Value ? g.neg() : g;
        long step = ++state.Step;
        if (_decoupled) p.mul_(s[1 - lr * wd]);
        else if (wd != 0) grad = grad.add(p, s[wd]);

        var m = state["exp_avg"];
        var v = state["exp_avg_sq"];
        m.mul_(s[beta1]).add_(grad, s[1 - beta1]);
        v.mul_(s[beta2]).addcmul_(grad, grad, s[1 - beta2]);

        double stepSize = lr / (1 - Math.Pow(beta1, step));
        double bc2Sqrt = Math.Sqrt(1 - Math.Pow(beta2, step));
        Tensor second = v;
        if (o.Amsgrad!.Value)
        {
            var vmax = state.TryGet("max_exp_avg_sq") ?? state.AddZeros("max_exp_avg_sq");
            vmax.copy_(maximum(vmax, v));
            second = vmax;
        }
        var denom = second.sqrt().div(s[bc2Sqrt]).add_(s[o.Eps!.Value], s[1]);
        p.addcdiv_(m, denom, s[-stepSize]);
    }

    /// <inheritdoc />
    protected override unsafe void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, beta1 = o.Beta1!.Value, beta2 = o.Beta2!.Value, wd = o.WeightDecay!.Value;
        bool amsgrad = o.Amsgrad!.Value;
        long step = ++state.Step;
        var s = new AdamScalars
        {
            Sign = o.Maximize!.Value ? -1f : 1f,
            Beta1 = (float)beta1,
            OneMinusBeta1 = (float)(1 - beta1),
            Beta2 = (float)beta2,
            OneMinusBeta2 = (float)(1 - beta2),
            Eps = (float)o.Eps!.Value,
            NegStepSize = (float)(-(lr / (1 - Math.Pow(beta1, step)))),
            BiasCorrection2Sqrt = (float)Math.Sqrt(1 - Math.Pow(beta2, step)),
            CoupledWeightDecay = (float)wd,
            DecoupledDecay = (float)(1 - lr * wd),
        };
        var vmax = amsgrad ? (state.TryGet("max_exp_avg_sq") ?? state.AddZeros("max_exp_avg_sq")) : null;
        _job.Run(OptimizerPointers.Of(p), OptimizerPointers.Of(g), OptimizerPointers.Of(state["exp_avg"]),
            OptimizerPointers.Of(state["exp_avg_sq"]), vmax is null ? null : OptimizerPointers.Of(vmax),
            p.NumberOfElements, s, amsgrad, coupled: !_decoupled && wd != 0, decoupled: _decoupled && wd != 0);
    }

    /// <summary>Adam/AdamW hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : AdamStyleOptions
    {
        /// <summary>Use the AMSGrad maximum of second moments.</summary>
        public bool? Amsgrad { get; set; }
        /// <summary>Maximize the objective instead of minimizing.</summary>
        public bool? Maximize { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireSet("amsgrad", Amsgrad);
            RequireSet("maximize", Maximize);
        }
    }
}
