using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Interop;

/// <summary>
/// Moves optimizer state between SharpOptim's optimizers and TorchSharp's own (<c>torch.optim.SGD</c>, <c>Adam</c>,
/// <c>AdamW</c>, <c>Adagrad</c>, <c>RMSProp</c>) over the same parameters: the hyperparameters of every group, each
/// parameter's step count and its state tensors (momentum buffer; first and second moments; AMSGrad maximum;
/// Adagrad's sum; RMSprop's square, gradient average and momentum). A run can switch either way mid-training and
/// continue the same trajectory; files written by TorchSharp's <c>save_state_dict</c> load through
/// <see cref="LoadTorchSharpFile(string, OptimizerBase)"/>.
/// <para>
/// Everything is checked before anything changes (the optimizer types correspond, groups and parameters match in
/// number, shape, dtype; the hyperparameters validate): a failed import leaves the target as it was.
/// TorchSharp's SGD keeps no step count; a parameter with a momentum buffer imports as one step taken.
/// </para>
/// </summary>
public static class TorchSharpOptimizerState
{
    /// <summary>Copies <paramref name="source"/>'s state (TorchSharp's optimizer) into <paramref name="target"/>.</summary>
    public static void CopyFrom(OptimizerBase target, OptimizerHelper source)
    {
        var (map, theirs) = Match(target, source);
        var options = new List<OptionsBase>();
        var states = new List<ParameterState?>();
        try
        {
            for (int gi = 0; gi < target.Groups.Count; gi++)
            {
                var o = (OptionsBase)Activator.CreateInstance(target.Groups[gi].Options.GetType())!;
                o.LoadStateDict(target.Groups[gi].Options);
                o.LearningRate = theirs.Options[gi].LearningRate;
                o.InitialLearningRate = theirs.Options[gi].InitialLearningRate;
                map.OptionsFrom(theirs.Options[gi], o);
                options.Add(o);
            }
            var ours = target.States.ToList();
            int k = 0;
            foreach (var (group, gi) in target.Groups.Select((g, i) => (g, i)))
            {
                foreach (var _ in group.Parameters)
                {
                    states.Add(map.StateFrom(theirs.State[k], ours[k], options[gi]));
                    k++;
                }
            }
            target.ImportState(options, states);
        }
        finally
        {
            foreach (var s in states) s?.Dispose();
        }
    }

    /// <summary>Copies <paramref name="source"/>'s state into <paramref name="target"/> (TorchSharp's optimizer).</summary>
    public static void CopyTo(OptimizerBase source, OptimizerHelper target)
    {
        var (map, theirs) = Match(source, target);
        var ours = source.States.ToList();
        foreach (var state in ours) map.CheckExportable(state);
        int k = 0;
        using var scope = NewDisposeScope();
        foreach (var (group, gi) in source.Groups.Select((g, i) => (g, i)))
        {
            var o = (OptionsBase)group.Options;
            theirs.Options[gi].LearningRate = o.LearningRate;
            theirs.Options[gi].InitialLearningRate = o.InitialLearningRate;
            map.OptionsTo(o, theirs.Options[gi]);
            foreach (var _ in group.Parameters)
            {
                map.StateTo(ours[k], o, theirs.State[k]);
                k++;
            }
        }
    }

    /// <summary>
    /// Loads a file written by TorchSharp's <c>save_state_dict</c> for the matching TorchSharp optimizer (same
    /// parameter groups in the same order) into <paramref name="target"/>.
    /// </summary>
    public static void LoadTorchSharpFile(string path, OptimizerBase target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (!File.Exists(path)) throw new FileNotFoundException(FormattableString.Invariant($"No optimizer state file at '{path}'."), path);
        using var twin = CreateTwin(target);
        try
        {
            twin.load_state_dict(path);
        }
        catch (Exception e) when (e is ArgumentException or EndOfStreamException or IOException or InvalidDataException or System.Runtime.InteropServices.ExternalException)
        {
            throw new InvalidDataException(FormattableString.Invariant($"'{path}' is not TorchSharp {twin.GetType().Name} state for these parameters: {e.Message}"), e);
        }
        CopyFrom(target, twin);
    }

    /// <summary>Earlier argument order of <see cref="LoadTorchSharpFile(string, OptimizerBase)"/>.</summary>
    [Obsolete("Use TorchSharpOptimizerState.LoadTorchSharpFile(path, target): SharpOptim's file APIs take the path first, as Checkpoint.Load does.")]
    public static void LoadTorchSharpFile(OptimizerBase target, string path) => LoadTorchSharpFile(path, target);

    /// <summary>Earlier argument order of <see cref="SaveTorchSharpFile(string, OptimizerBase)"/>.</summary>
    [Obsolete("Use TorchSharpOptimizerState.SaveTorchSharpFile(path, source): SharpOptim's file APIs take the path first, as Checkpoint.Save does.")]
    public static void SaveTorchSharpFile(OptimizerBase source, string path) => SaveTorchSharpFile(path, source);

    /// <summary>Writes <paramref name="source"/>'s state as TorchSharp's <c>save_state_dict</c> of the matching optimizer would.</summary>
    public static void SaveTorchSharpFile(string path, OptimizerBase source)
    {
        ArgumentNullException.ThrowIfNull(source);
        using var twin = CreateTwin(source);
        CopyTo(source, twin);
        twin.save_state_dict(path);
    }

    /// <summary>The mapping between the two optimizers' kinds and TorchSharp's state, once both are checked to
    /// correspond (types, groups, parameter shapes and dtypes).</summary>
    private static (Mapping Map, OptimizerHelper.StateDictionary Theirs) Match(OptimizerBase ours, OptimizerHelper theirs)
    {
        ArgumentNullException.ThrowIfNull(ours);
        ArgumentNullException.ThrowIfNull(theirs);
        var map = Mapping.For(ours, theirs);
        var sd = theirs.state_dict();
        CheckShape(ours, sd);
        return (map, sd);
    }

    /// <summary>A TorchSharp optimizer of the kind corresponding to <paramref name="ours"/>, over the same groups.</summary>
    internal static OptimizerHelper CreateTwin(OptimizerBase ours) => Mapping.CreateTwin(ours);

    private static void CheckShape(OptimizerBase ours, OptimizerHelper.StateDictionary theirs)
    {
        if (theirs.Options.Count != ours.Groups.Count)
            throw new ArgumentException(FormattableString.Invariant($"The TorchSharp optimizer has {theirs.Options.Count} parameter groups; the SharpOptim optimizer has {ours.Groups.Count}."));
        for (int gi = 0; gi < ours.Groups.Count; gi++)
        {
            int n = ours.Groups[gi].Parameters.Count();
            if (theirs.StateIndexRef[gi].Count != n)
                throw new ArgumentException(FormattableString.Invariant($"Group {gi}: the TorchSharp optimizer has {theirs.StateIndexRef[gi].Count} parameters; the SharpOptim optimizer has {n}."));
        }
        int k = 0;
        foreach (var s in ours.States)
        {
            var p = s.Parameter;
            var q = theirs.State[k++];
            var tensors = q.GetType().GetFields().Where(f => f.FieldType == typeof(Tensor)).Select(f => (f.Name, T: (Tensor?)f.GetValue(q))).Where(x => x.T is not null);
            foreach (var (name, t) in tensors)
            {
                if (!t!.shape.SequenceEqual(p.shape) || t.dtype != p.dtype)
                    throw new ArgumentException(FormattableString.Invariant(
                        $"Parameter '{s.Name}' [{string.Join(", ", p.shape)}] {p.dtype}: the TorchSharp state '{name}' is [{string.Join(", ", t.shape)}] {t.dtype}; are the parameters in the same order?"));
            }
        }
    }

    /// <summary>How one SharpOptim optimizer type corresponds to one TorchSharp optimizer type.</summary>
    private sealed class Mapping
    {
        private Type Ours { get; init; } = null!;
        private Type Theirs { get; init; } = null!;
        /// <summary>(our option property, their option field) pairs.</summary>
        private (string Ours, string Theirs)[] Options { get; init; } = Array.Empty<(string, string)>();
        /// <summary>State tensor names, shared by both sides, in the order SharpOptim creates them.</summary>
        private string[] Tensors { get; init; } = Array.Empty<string>();
        /// <summary>Whether TorchSharp's state has a step count.</summary>
        private bool HasStep { get; init; } = true;
        /// <summary>Which tensors SharpOptim keeps with these options.</summary>
        private Func<OptionsBase, string, bool> Keeps { get; init; } = (_, _) => true;
        private Func<IEnumerable<Parameter>, OptionsBase, OptimizerHelper> Create { get; init; } = null!;

        private static readonly (string, string)[] AdamOptions =
        {
            ("Beta1", "beta1"), ("Beta2", "beta2"), ("Eps", "eps"), ("WeightDecay", "weight_decay"), ("Amsgrad", "amsgrad"), ("Maximize", "maximize"),
        };

        private static readonly Mapping[] All =
        {
            new()
            {
                Ours = typeof(Optimizers.AdamW), Theirs = typeof(TorchSharp.Modules.AdamW), Options = AdamOptions,
                Tensors = new[] { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" },
                Keeps = (o, t) => t != "max_exp_avg_sq" || ((AdamBase.Options)o).Amsgrad == true,
                Create = (ps, o) => torch.optim.AdamW(ps, lr: o.LearningRate!.Value),
            },
            new()
            {
                Ours = typeof(Optimizers.Adam), Theirs = typeof(TorchSharp.Modules.Adam), Options = AdamOptions,
                Tensors = new[] { "exp_avg", "exp_avg_sq", "max_exp_avg_sq" },
                Keeps = (o, t) => t != "max_exp_avg_sq" || ((AdamBase.Options)o).Amsgrad == true,
                Create = (ps, o) => torch.optim.Adam(ps, lr: o.LearningRate!.Value),
            },
            new()
            {
                Ours = typeof(Optimizers.SGD), Theirs = typeof(TorchSharp.Modules.SGD),
                Options = new[] { ("Momentum", "momentum"), ("Dampening", "dampening"), ("WeightDecay", "weight_decay"), ("Nesterov", "nesterov"), ("Maximize", "maximize") },
                Tensors = new[] { "momentum_buffer" }, HasStep = false,
                Keeps = (o, _) => ((Optimizers.SGD.Options)o).Momentum != 0,
                Create = (ps, o) => torch.optim.SGD(ps, o.LearningRate!.Value),
            },
            new()
            {
                Ours = typeof(Optimizers.Adagrad), Theirs = typeof(TorchSharp.Modules.Adagrad),
                Options = new[] { ("LrDecay", "lr_decay"), ("WeightDecay", "weight_decay"), ("InitialAccumulatorValue", "initial_accumulator_value"), ("Eps", "eps") },
                Tensors = new[] { "sum" },
                Create = (ps, o) => torch.optim.Adagrad(ps, lr: o.LearningRate!.Value),
            },
            new()
            {
                Ours = typeof(Optimizers.RMSprop), Theirs = typeof(TorchSharp.Modules.RMSProp),
                Options = new[] { ("Alpha", "alpha"), ("Eps", "eps"), ("WeightDecay", "weight_decay"), ("Momentum", "momentum"), ("Centered", "centered"), ("Maximize", "maximize") },
                Tensors = new[] { "square_avg", "momentum_buffer", "grad_avg" },
                Keeps = (o, t) => t switch
                {
                    "momentum_buffer" => ((Optimizers.RMSprop.Options)o).Momentum > 0,
                    "grad_avg" => ((Optimizers.RMSprop.Options)o).Centered == true,
                    _ => true,
                },
                Create = (ps, o) => torch.optim.RMSProp(ps, lr: o.LearningRate!.Value),
            },
        };

        public static Mapping For(OptimizerBase ours, OptimizerHelper theirs)
        {
            var m = ForOurs(ours);
            if (theirs.GetType() != m.Theirs)
                throw new ArgumentException(FormattableString.Invariant($"{ours.GetType().Name} corresponds to TorchSharp's {m.Theirs.Name}, not {theirs.GetType().Name}."));
            return m;
        }

        private static Mapping ForOurs(OptimizerBase ours) =>
            All.FirstOrDefault(m => m.Ours == ours.GetType())
            ?? throw new NotSupportedException(FormattableString.Invariant(
                $"{ours.GetType().Name} has no counterpart among TorchSharp's optimizers; state interop covers {string.Join(", ", All.Select(m => m.Ours.Name))}."));

        /// <summary>A TorchSharp optimizer of the corresponding type over the same groups (options copied from ours).</summary>
        public static OptimizerHelper CreateTwin(OptimizerBase ours)
        {
            var m = ForOurs(ours);
            var groups = ours.Groups;
            var twin = m.Create(groups[0].Parameters, (OptionsBase)groups[0].Options);
            for (int gi = 1; gi < groups.Count; gi++)
            {
                var pg = (ParamGroup)Activator.CreateInstance(m.Theirs.GetNestedType("ParamGroup")!)!;
                pg.Parameters = groups[gi].Parameters;
                pg.Options = (OptimizerOptions)Activator.CreateInstance(m.Theirs.GetNestedType("Options")!)!;
                pg.Options.LearningRate = groups[gi].Options.LearningRate;
                m.OptionsTo((OptionsBase)groups[gi].Options, pg.Options);
                twin.add_param_group(pg);
            }
            var theirs = twin.state_dict();
            for (int gi = 0; gi < groups.Count; gi++) m.OptionsTo((OptionsBase)groups[gi].Options, theirs.Options[gi]);
            return twin;
        }

        public void OptionsFrom(OptimizerOptions theirs, OptionsBase ours)
        {
            foreach (var (o, t) in Options)
            {
                object? v = Theirs.GetNestedType("Options")!.GetField(t)!.GetValue(theirs);
                if (v is not null) ours.GetType().GetProperty(o)!.SetValue(ours, v);
            }
        }

        public void OptionsTo(OptionsBase ours, OptimizerOptions theirs)
        {
            foreach (var (o, t) in Options)
                Theirs.GetNestedType("Options")!.GetField(t)!.SetValue(theirs, ours.GetType().GetProperty(o)!.GetValue(ours));
        }

        /// <summary>A detached SharpOptim state holding copies of their tensors, or null when they hold none yet.</summary>
        public ParameterState? StateFrom(OptimizerState theirs, ParameterState ours, OptionsBase options)
        {
            var p = ours.Parameter;
            long step = HasStep ? (long)theirs.GetType().GetField("step")!.GetValue(theirs)! : 0;
            var present = Tensors.Select(t => (Name: t, T: (Tensor?)theirs.GetType().GetField(t)!.GetValue(theirs))).ToList();
            bool started = HasStep ? step > 0 : present.Any(x => x.T is not null);
            var state = new ParameterState(p, ours.Name);
            if (!started) return state;
            foreach (var (name, t) in present)
            {
                if (!Keeps(options, name)) continue;
                if (t is null)
                    throw new ArgumentException(FormattableString.Invariant($"The TorchSharp state of a [{string.Join(", ", p.shape)}] parameter lacks '{name}', which {Ours.Name} keeps with these options."));
                state.Add(name, t.detach().clone());
            }
            state.Step = HasStep ? step : 1;
            state.IsInitialized = true;
            return state;
        }

        public void CheckExportable(ParameterState ours)
        {
            foreach (var kv in ours.Tensors)
                if (!Tensors.Contains(kv.Key))
                    throw new ArgumentException(FormattableString.Invariant($"Parameter '{ours.Name}' holds state '{kv.Key}', which TorchSharp's {Theirs.Name} does not keep."));
        }

        public void StateTo(ParameterState ours, OptionsBase options, OptimizerState theirs)
        {
            using var s = new ScalarHold();
            if (HasStep) theirs.GetType().GetField("step")!.SetValue(theirs, ours.IsInitialized ? ours.Step : 0L);
            foreach (var name in Tensors)
            {
                var field = theirs.GetType().GetField(name)!;
                var mine = ours.IsInitialized ? ours.TryGet(name) : null;
                var current = (Tensor?)field.GetValue(theirs);
                if (mine is not null)
                {
                    if (current is not null && current.shape.SequenceEqual(mine.shape)) current.copy_(mine);
                    else
                    {
                        current?.Dispose();
                        field.SetValue(theirs, mine.detach().clone().DetachFromDisposeScope());
                    }
                }
                else if (current is not null)
                {
                    // TorchSharp creates some state eagerly (Adam's moments, Adagrad's sum): reset it to its start.
                    if (name == "sum") current.fill_(s[((Optimizers.Adagrad.Options)options).InitialAccumulatorValue!.Value]);
                    else if (HasStep) current.zero_();
                    else
                    {
                        current.Dispose();
                        field.SetValue(theirs, null);
                    }
                }
            }
        }
    }
}
