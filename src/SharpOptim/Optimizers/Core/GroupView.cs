using System.Reflection;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// A parameter group as TorchSharp's learning-rate schedulers see it: its learning rates and, for optimizers with
/// momentum or Adam-style betas, that hyperparameter too (TorchSharp's OneCycleLR and CyclicLR with
/// <c>cycle_momentum</c> set it on each group through <see cref="optim.IMomentum"/> or <see cref="optim.IBetas"/>).
/// Reads and writes go to the group's own options.
/// </summary>
internal class GroupView : optim.ILearningRateController
{
    protected GroupView(ParamGroup group) => Group = group;

    protected ParamGroup Group { get; }

    public double LearningRate
    {
        get => Group.LearningRate;
        set => Group.LearningRate = value;
    }

    public double InitialLearningRate
    {
        get => Group.InitialLearningRate;
        set => Group.InitialLearningRate = value;
    }

    /// <summary>The view that fits <paramref name="optimizer"/>'s kind of momentum (none, momentum, or betas).</summary>
    public static GroupView For(OptimizerBase optimizer, ParamGroup group)
    {
        var type = group.Options.GetType();
        if (optimizer is optim.IMomentum && type.GetProperty("Momentum") is { } m) return new Momentum(group, m);
        if (optimizer is optim.IBetas && type.GetProperty("Beta1") is { } b1 && type.GetProperty("Beta2") is { } b2) return new Betas(group, b1, b2);
        return new GroupView(group);
    }

    /// <summary>Reads a <c>double?</c> option, naming it when it is unset (the group inherits defaults when added, so it is set).</summary>
    internal static double Get(PropertyInfo p, object options) =>
        (double?)p.GetValue(options) ?? throw new InvalidOperationException(FormattableString.Invariant($"Option {p.Name} is not set."));

    private sealed class Momentum(ParamGroup group, PropertyInfo momentum) : GroupView(group), optim.IMomentum
    {
        double optim.IMomentum.Momentum
        {
            get => Get(momentum, Group.Options);
            set => momentum.SetValue(Group.Options, value);
        }
    }

    private sealed class Betas(ParamGroup group, PropertyInfo beta1, PropertyInfo beta2) : GroupView(group), optim.IBetas
    {
        (double, double) optim.IBetas.Betas
        {
            get => (Get(beta1, Group.Options), Get(beta2, Group.Options));
            set
            {
                beta1.SetValue(Group.Options, value.Item1);
                beta2.SetValue(Group.Options, value.Item2);
            }
        }
    }
}
