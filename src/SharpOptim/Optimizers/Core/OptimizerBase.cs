using SharpOptim.Checkpoints;
using SharpOptim.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// The common machinery of SharpOptim optimizers. Every optimizer is a TorchSharp <c>torch.optim.Optimizer</c>
/// (through <see cref="OptimizerHelper"/>), so <c>zero_grad()</c>, <c>step()</c>, TorchSharp's LR schedulers,
/// <c>state_dict()</c> and <c>save_state_dict()</c> work unchanged.
/// <para>
/// A step runs in three phases, so that a step that fails leaves everything as it was:
/// (1) collect every parameter with a gradient and validate it (shape, dtype, sparsity, path eligibility, and that
/// every hyperparameter the update passes into the parameter's dtype — and the derived scalars of
/// <see cref="StepScalars"/> — is finite in that dtype); parameters with no elements are skipped here, so they never
/// get state or an update;
/// (2) check that every gradient is finite, applying <see cref="NonFinitePolicy"/>;
/// (3) update each parameter: the portable-path parameters first, then the fused ones.
/// Phases 1 and 2 write nothing. Phase 3 is a transaction (see <see cref="TransactionalSteps"/>): what the portable
/// path and <see cref="BeforeUpdates"/> can write is copied before it starts and restored if anything in it throws.
/// The fused kernels are pure managed loops over memory that phases 1–2 have checked; they cannot fail once
/// started, which is why they run last and are not copied (a fused-only step stays free of per-step allocation).
/// </para>
/// </summary>
public abstract class OptimizerBase : OptimizerHelper
{
    private readonly List<WorkItem> _work = new();
    private readonly FiniteCheckJob _finiteCheck = new();
    private readonly HashSet<(OptionsBase Options, ScalarType Dtype, long Step)> _representable = new();

    /// <summary>Validates <paramref name="defaults"/>, then adds every group (each validated before any is added).</summary>
    protected OptimizerBase(IEnumerable<ParamGroup> groups, OptionsBase defaults, IReadOnlyDictionary<Parameter, string>? names)
    {
        ArgumentNullException.ThrowIfNull(groups);
        defaults.InitialLearningRate = defaults.LearningRate ?? double.NaN;
        defaults.Validate();
        _defaults = defaults;
        _parameter_groups = new List<ParamGroup>();
        Names = names ?? new Dictionary<Parameter, string>(ReferenceEqualityComparer.Instance);
        var list = groups.ToList();
        if (list.Count == 0) throw new ArgumentException("The optimizer was given no parameters.", nameof(groups));
        foreach (var g in list) Prepare(g, list);
        foreach (var g in list) Register(g);
    }

    /// <summary>Wraps a flat parameter list into one group with default options.</summary>
    protected static ParamGroup[] SingleGroup(IEnumerable<Parameter> parameters) =>
        new[] { new ParamGroup { Parameters = parameters ?? throw new ArgumentNullException(nameof(parameters)) } };

    /// <summary>Splits named parameters into one group and a name map.</summary>
    protected static (ParamGroup[] Groups, Dictionary<Parameter, string> Names) SingleGroup(IEnumerable<(string name, Parameter parameter)> named)
    {
        ArgumentNullException.ThrowIfNull(named);
        var names = new Dictionary<Parameter, string>(ReferenceEqualityComparer.Instance);
        var list = new List<Parameter>();
        foreach (var (n, p) in named)
        {
            list.Add(p);
            names.TryAdd(p, n);
        }
        return (new[] { new ParamGroup { Parameters = list } }, names);
    }

    /// <summary>
    /// For the flat-list constructors of optimizers that cannot work without names (marked obsolete as errors, so the
    /// compiler explains why): reached only through reflection or dynamic calls, and then it explains the same.
    /// </summary>
    protected static IEnumerable<(string name, Parameter parameter)> NamesRequired(IEnumerable<Parameter> parameters, string optimizer) =>
        throw new ArgumentException(FormattableString.Invariant($"{optimizer} needs parameter names (model.named_parameters()); see the constructor's documentation."), nameof(parameters));

    /// <summary>Names given with named parameters.</summary>
    protected IReadOnlyDictionary<Parameter, string> Names { get; }

    /// <summary>Which implementation runs the update (default <see cref="ExecutionPath.Auto"/>).</summary>
    public ExecutionPath Path { get; set; } = ExecutionPath.Auto;

    /// <summary>What a step does with NaN or infinite gradients (default <see cref="NonFiniteGradientPolicy.Throw"/>).</summary>
    public NonFiniteGradientPolicy NonFinitePolicy { get; set; } = NonFiniteGradientPolicy.Throw;

    /// <summary>
    /// Whether a step that throws during its updates restores every parameter and state as they were before it
    /// (default true). The cost is a copy, per step, of the parameters updated on the portable path and of the state
    /// that path (and <see cref="BeforeUpdates"/>) can write: memory of the size of those parameters and their state,
    /// and one extra read and write of them. On by default because a half-applied step silently corrupts a run
    /// (some layers stepped, their moments advanced, the step counts not); turn it off for large models on the
    /// portable path where that memory is not available — a failure then leaves the step partly applied. Steps on
    /// the fused path copy nothing either way.
    /// </summary>
    public bool TransactionalSteps { get; set; } = true;

    /// <summary>Steps skipped under <see cref="NonFiniteGradientPolicy.SkipStep"/>.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>Steps applied (calls to <c>step()</c> that updated parameters).</summary>
    public long StepCount { get; private set; }

    /// <summary>Whether this optimizer has a fused CPU kernel.</summary>
    public virtual bool HasFusedPath => true;

    /// <summary>Bytes of optimizer state currently allocated (state is created on each parameter's first step).</summary>
    public long StateBytes => States.Sum(s => s.Bytes);

    /// <summary>The state of every parameter, group by group.</summary>
    public IEnumerable<ParameterState> States =>
        _parameter_groups.SelectMany(g => g.Parameters).Select(p => (ParameterState)_state[p.Handle]);

    /// <summary>The parameter groups with their options.</summary>
    public IReadOnlyList<ParamGroup> Groups => (IReadOnlyList<ParamGroup>)_parameter_groups;

    /// <summary>The options that groups inherit unset values from.</summary>
    public OptionsBase Defaults => (OptionsBase)_defaults;

    /// <summary>
    /// The groups as TorchSharp's schedulers see them: learning rates, and each group's momentum (optimizers that are
    /// <see cref="optim.IMomentum"/>) or β1/β2 (<see cref="optim.IBetas"/>), so that OneCycleLR and CyclicLR with
    /// <c>cycle_momentum</c> drive them as they drive TorchSharp's SGD and Adam.
    /// </summary>
    public override IEnumerable<optim.ILearningRateController> ParamGroups => _parameter_groups.Select(g => GroupView.For(this, g));

    /// <summary>The defaults' momentum (for optimizers that implement <see cref="optim.IMomentum"/>).</summary>
    protected double DefaultMomentum
    {
        get => GroupView.Get(Defaults.GetType().GetProperty("Momentum")!, Defaults);
        set => Defaults.GetType().GetProperty("Momentum")!.SetValue(Defaults, value);
    }

    /// <summary>The defaults' β1 and β2 (for optimizers that implement <see cref="optim.IBetas"/>).</summary>
    protected (double, double) DefaultBetas
    {
        get => (GroupView.Get(Defaults.GetType().GetProperty("Beta1")!, Defaults), GroupView.Get(Defaults.GetType().GetProperty("Beta2")!, Defaults));
        set
        {
            Defaults.GetType().GetProperty("Beta1")!.SetValue(Defaults, value.Item1);
            Defaults.GetType().GetProperty("Beta2")!.SetValue(Defaults, value.Item2);
        }
    }

    /// <summary>The number of parameters the last step would have sent to the fused path (for tests and benchmarks).</summary>
    public int LastFusedCount { get; private set; }

    /// <inheritdoc />
    public override void add_param_group(ParamGroup param_group)
    {
        Prepare(param_group, Array.Empty<ParamGroup>());
        Register(param_group);
    }

    /// <summary>Fills defaults, validates options and parameters; changes nothing on this optimizer.</summary>
    private void Prepare(ParamGroup group, IReadOnlyList<ParamGroup> pending)
    {
        ArgumentNullException.ThrowIfNull(group);
        var defaults = (OptionsBase)_defaults;
        group.Options ??= (OptimizerOptions)Activator.CreateInstance(defaults.GetType())!;
        if (group.Options is not OptionsBase opts || opts.GetType() != defaults.GetType())
            throw new ArgumentException(FormattableString.Invariant($"Group options must be {defaults.GetType().FullName}, got {group.Options.GetType().FullName}."));
        if (group.Parameters is null) throw new ArgumentException("A parameter group has no parameter list.");
        var candidate = opts.Clone();
        candidate.FillFrom(defaults);
        candidate.Validate();

        var parameters = group.Parameters.ToList();
        if (parameters.Count == 0) throw new ArgumentException("A parameter group is empty.");
        var seen = new HashSet<object>();
        foreach (var existing in _parameter_groups.SelectMany(g => g.Parameters)) seen.Add(Identity(existing));
        foreach (var other in pending)
        {
            if (ReferenceEquals(other, group)) break;
            foreach (var p in other.Parameters) seen.Add(Identity(p));
        }
        foreach (var p in parameters)
        {
            if (p is null) throw new ArgumentException("A parameter group contains a null parameter.");
            if (!is_floating_point(p))
                throw new ArgumentException(FormattableString.Invariant($"Parameter '{NameOf(p, parameters)}' has dtype {p.dtype}; optimizers need floating-point parameters."));
            if (!seen.Add(Identity(p)))
                throw new ArgumentException(FormattableString.Invariant($"Parameter '{NameOf(p, parameters)}' (shape [{string.Join(", ", p.shape)}]) appears more than once among the optimizer's parameters."));
            CheckParameter(candidate, p, NameOf(p, parameters));
        }
        group.Parameters = parameters;
    }

    private void Register(ParamGroup group)
    {
        var opts = (OptionsBase)group.Options;
        opts.FillFrom((OptionsBase)_defaults);
        opts.InitialLearningRate = opts.LearningRate!.Value;
        int gi = _parameter_groups.Count;
        _parameter_groups.Add(group);
        int pi = 0;
        foreach (var p in group.Parameters)
        {
            string name = Names.TryGetValue(p, out var n) ? n : $"group{gi}.param{pi}";
            _state[p.Handle] = new ParameterState(p, name) { StateMatchesParameterShape = !ShapeFlexibleState };
            pi++;
        }
    }

    private string NameOf(Parameter p, List<Parameter> inGroup) =>
        Names.TryGetValue(p, out var n) ? n : $"group{_parameter_groups.Count}.param{inGroup.IndexOf(p)}";

    /// <summary>
    /// Identity of a parameter's view of memory: the address of its first element with its sizes and strides, so two
    /// wrappers of one tensor (contiguous or not) share it.
    /// </summary>
    private static object Identity(Parameter p)
    {
        if (p.NumberOfElements == 0) return p;
        // Both wrappers are held and disposed: an unreferenced detach() could be finalized during as_strided's native
        // call (README, Compatibility: "TorchSharp's tensor-temporary race").
        using var detached = p.detach();
        using var first = detached.as_strided(new long[] { 1 }, new long[] { 1 }, p.storage_offset());
        IntPtr address;
        unsafe
        {
            fixed (byte* b = first.bytes) address = (IntPtr)b;
        }
        return (address, string.Join(",", p.shape), string.Join(",", p.stride()));
    }

    /// <summary>
    /// Zeroes every parameter's gradient in place (parameters without one are skipped), as TorchSharp's
    /// <c>OptimizerHelper.zero_grad</c> does, but disposes both wrappers it creates per parameter: the gradient's (which
    /// TorchSharp's also disposes) and the new one that <c>zero_()</c> returns (which TorchSharp 0.107's leaves to the
    /// finalizer: one per parameter per call). README, Compatibility: "TorchSharp's tensor-temporary race".
    /// </summary>
    public override void zero_grad()
    {
        foreach (var group in _parameter_groups)
            foreach (var p in group.Parameters)
            {
                using var grad = p.grad;
                if (grad is null) continue;
                using var zeroed = grad.zero_();
            }
    }

    /// <inheritdoc />
    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
        {
            using (enable_grad()) loss = closure();
        }

        using (no_grad())
        using (NewDisposeScope())
        {
            _work.Clear();
            _representable.Clear();
            try
            {
                int fused = 0;
                foreach (var group in _parameter_groups)
                {
                    var opts = (OptionsBase)group.Options;
                    foreach (var p in group.Parameters)
                    {
                        var g = p.grad;
                        if (g is null) continue;
                        var state = (ParameterState)_state[p.Handle];
                        if (!g.shape.SequenceEqual(p.shape))
                            throw new ArgumentException(FormattableString.Invariant($"The gradient of parameter '{state.Name}' has shape [{string.Join(", ", g.shape)}], the parameter [{string.Join(", ", p.shape)}]."));
                        if (g.dtype != p.dtype)
                            throw new ArgumentException(FormattableString.Invariant($"The gradient of parameter '{state.Name}' has dtype {g.dtype}, the parameter {p.dtype}."));
                        if (g.is_sparse)
                            throw new ArgumentException(FormattableString.Invariant($"The gradient of parameter '{state.Name}' is sparse; SharpOptim optimizers take dense gradients."));
                        // Nothing to update: no state (a mean over no elements is NaN) and no kernel call.
                        if (p.NumberOfElements == 0) continue;
                        // Once per (group, dtype, step count): the scalars do not depend on anything else, and a
                        // fused step should not pay reflection per parameter.
                        if (_representable.Add((opts, p.dtype, state.Step))) CheckRepresentable(opts, p, state);
                        bool useFused = ChooseFused(p, g, state, opts);
                        if (useFused) fused++;
                        _work.Add(new WorkItem(opts, p, g, state, useFused));
                    }
                }
                LastFusedCount = fused;

                foreach (var w in _work)
                {
                    if (IsFinite(w)) continue;
                    if (NonFinitePolicy == NonFiniteGradientPolicy.Throw) throw new NonFiniteGradientException(w.State.Name);
                    SkippedSteps++;
                    return loss!;
                }

                ApplyUpdates();
                StepCount++;
            }
            finally
            {
                _work.Clear();
            }
        }
        return loss!;
    }

    /// <summary>Phase 3: the portable updates (inside the transaction), then the fused ones (which cannot fail).</summary>
    private void ApplyUpdates()
    {
        StepSnapshot? snapshot = null;
        bool needed = _overridesBeforeUpdates;
        foreach (var w in _work) needed |= !w.Fused || !w.State.IsInitialized;
        if (TransactionalSteps && needed) snapshot = TakeSnapshot();
        WorkItem current = default;
        try
        {
            BeforeUpdates();
            foreach (var w in _work)
            {
                if (w.Fused) continue;
                current = w;
                EnsureState(w.Options, w.Parameter, w.State);
                PortableUpdate(w.Options, w.Parameter, w.Grad, w.State);
            }
            // State creation allocates; do all of it before the first fused write, so that nothing after that can fail.
            foreach (var w in _work)
            {
                if (!w.Fused) continue;
                current = w;
                EnsureState(w.Options, w.Parameter, w.State);
            }
        }
        catch (Exception e) when (snapshot is not null)
        {
            snapshot.Restore();
            if (e is ArgumentException or InvalidOperationException or ArithmeticException or OutOfMemoryException) throw;
            // A libtorch error (or any other) becomes a managed one that names the parameter and says what happened.
            string where = current.State is { } st ? $"The update of parameter '{st.Name}'"
                : $"The preparation of the step of {GetType().Name} (before any parameter was updated; parameters {string.Join(", ", _work.Select(w => $"'{w.State.Name}'"))})";
            throw new InvalidOperationException(FormattableString.Invariant($"{where} failed; every parameter and state was restored: {e.Message}"), e);
        }
        finally
        {
            snapshot?.Dispose();
        }
        foreach (var w in _work)
            if (w.Fused) FusedUpdate(w.Options, w.Parameter, w.Grad, w.State);
    }

    /// <summary>Whether this optimizer has a <see cref="BeforeUpdates"/> hook (which may write any parameter's state).</summary>
    private bool _overridesBeforeUpdates => _beforeUpdatesOverridden ??=
        GetType().GetMethod(nameof(BeforeUpdates), System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.DeclaringType != typeof(OptimizerBase);

    private bool? _beforeUpdatesOverridden;

    /// <summary>
    /// Copies what phase 3 can write before its first fused write: the parameters of the portable work items, their
    /// states and the (empty) states of fused items on their first step — or, when the
    /// optimizer has a <see cref="BeforeUpdates"/> hook (which may write the state of any parameter, e.g. a shared
    /// accumulator or per-layer rates), the state of every parameter — plus the subclass's
    /// <see cref="SaveTransientState"/>.
    /// </summary>
    private StepSnapshot TakeSnapshot()
    {
        var snapshot = new StepSnapshot(this, SaveTransientState());
        try
        {
            foreach (var w in _work)
                if (!w.Fused) snapshot.AddParameter(w.Parameter);
            if (_overridesBeforeUpdates)
                foreach (var (_, _, st) in Parameters()) snapshot.AddState(st);
            else
                foreach (var w in _work)
                    // A fused item's existing state is written only by its kernel, after everything that can fail.
                    if (!w.Fused || !w.State.IsInitialized) snapshot.AddState(w.State);
            return snapshot;
        }
        catch
        {
            snapshot.Dispose();
            throw;
        }
    }

    /// <summary>Managed per-step state of a subclass that phase 3 changes (counters, diagnostics, RNG positions), for
    /// a failed step to restore; null when there is none (the default). State tensors need no hook: they are copied.</summary>
    protected virtual object? SaveTransientState() => null;

    /// <summary>Restores what <see cref="SaveTransientState"/> returned, after a failed step.</summary>
    protected virtual void RestoreTransientState(object? saved) { }

    /// <summary>The copy a transactional step restores on failure.</summary>
    private sealed class StepSnapshot(OptimizerBase owner, object? transient) : IDisposable
    {
        private readonly List<(Tensor Target, Tensor Copy)> _parameters = new();
        private readonly List<(ParameterState State, ParameterState.Saved Saved)> _states = new();
        private readonly HashSet<ParameterState> _seen = new(ReferenceEqualityComparer.Instance);

        public void AddParameter(Tensor p) => _parameters.Add((p, p.detach().clone().DetachFromDisposeScope()));

        public void AddState(ParameterState s)
        {
            if (_seen.Add(s)) _states.Add((s, s.Save()));
        }

        public void Restore()
        {
            foreach (var (target, copy) in _parameters) target.detach().copy_(copy);
            foreach (var (state, saved) in _states) state.Restore(saved);
            owner.RestoreTransientState(transient);
        }

        public void Dispose()
        {
            foreach (var (_, copy) in _parameters) copy.Dispose();
            _parameters.Clear();
            foreach (var (_, saved) in _states) saved.Dispose();
            _states.Clear();
        }
    }

    /// <summary>The largest finite value of a floating dtype (double's for types this check does not know).</summary>
    internal static double MaxFinite(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => 65504.0,
        ScalarType.BFloat16 => 3.3895313892515355e38,
        ScalarType.Float32 => float.MaxValue,
        _ => double.MaxValue,
    };

    /// <summary>The smallest positive (subnormal) value of a floating dtype; a positive value below half of it rounds to 0.</summary>
    internal static double MinPositive(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => 5.960464477539063e-08,
        ScalarType.BFloat16 => 9.183549615799121e-41,
        ScalarType.Float32 => 1.401298464324817e-45,
        _ => double.Epsilon,
    };

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> naming the option, its value and the parameter's dtype when a
    /// hyperparameter (every <c>double</c> option and lr) or a derived scalar of <see cref="StepScalars"/> is not
    /// finite in the parameter's dtype: libtorch refuses such a scalar mid-update ("value cannot be converted to type
    /// c10::Half without overflow") and a fused kernel would write infinities.
    /// </summary>
    private void CheckRepresentable(OptionsBase options, Parameter p, ParameterState state)
    {
        double max = MaxFinite(p.dtype);
        foreach (var (property, name, value) in options.NamedValues())
            if (Math.Abs(value) > max && UsesOption(options, property))
                throw new ArgumentException(FormattableString.Invariant(
                    $"Option {name} = {value:R} is not finite in the dtype {p.dtype} of parameter '{state.Name}' (largest finite value {max:R}); nothing was changed."), name);
        // A nonzero ε that rounds to 0 in the dtype (1e-8 in float16, whose smallest positive value is 6e-8) turns the
        // guarded division into 0/0 wherever a squared gradient underflows: refuse it rather than write NaN. In the
        // half types squares underflow for ordinary gradients (|g| < 2.4e-4 in float16), so ε = 0 is refused there
        // too; in float32/float64 ε = 0 divides by zero only where a gradient history is exactly 0, as in PyTorch.
        double tiny = MinPositive(p.dtype);
        bool half = p.dtype is ScalarType.Float16 or ScalarType.BFloat16;
        foreach (var (property, name, value) in options.NamedValues())
            if (name.EndsWith("eps", StringComparison.Ordinal) && (value != 0 || half) && Math.Abs(value) < tiny && UsesOption(options, property))
                throw new ArgumentException(FormattableString.Invariant(
                    $"Option {name} = {value:R} rounds to 0 in the dtype {p.dtype} of parameter '{state.Name}' (smallest positive value {tiny:R}), so the update would divide by zero where a squared gradient underflows; nothing was changed. Use {name} >= {tiny:R}, or float32 parameters."), name);
        foreach (var (name, value) in StepScalars(options, p, state))
            if (!(Math.Abs(value) <= max))
                throw new ArgumentException(FormattableString.Invariant(
                    $"The scalar {name} = {value:R} of this step is not finite in the dtype {p.dtype} of parameter '{state.Name}' (largest finite value {max:R}); nothing was changed. Lower the options it is made of."), name.Split(' ')[0]);
    }

    /// <summary>
    /// Whether the update of a group with these options uses the hyperparameter property <paramref name="property"/>
    /// (a property name such as "Eps"; "LearningRate" for lr), so that the representability check skips options a
    /// group carries but does not use (Muon's auxiliary Adam ε in a Muon group). True for every option by default.
    /// </summary>
    protected virtual bool UsesOption(OptionsBase options, string property) => true;

    /// <summary>
    /// The scalars derived from the options that this step's update passes into the parameter's dtype, by name (the
    /// name starts with the option to blame). The default covers the common ones by option name: lr·weight_decay and
    /// 1 − lr·weight_decay (decoupled decay), and the bias-corrected step lr / (1 − beta1^t) at this step t. The
    /// last is checked for every optimizer with a beta1, also those that do not divide by 1 − beta1^t (Lion): a
    /// conservative bound that only rejects an lr within a factor 1 / (1 − beta1) of the dtype's largest value, where
    /// a step of any size near 1 overflows anyway. Optimizers with other derived scalars override it and add theirs.
    /// It is evaluated once per group, dtype and state step count in a step, so it must depend on nothing else of
    /// <paramref name="parameter"/> and <paramref name="state"/>.
    /// </summary>
    protected virtual IEnumerable<(string Name, double Value)> StepScalars(OptionsBase options, Parameter parameter, ParameterState state)
    {
        double lr = options.LearningRate!.Value;
        if (options.Value("WeightDecay") is { } wd && UsesOption(options, "WeightDecay"))
        {
            yield return ("lr·weight_decay", lr * wd);
            yield return ("lr (in 1 − lr·weight_decay)", 1 - lr * wd);
        }
        if (options.Value("Beta1") is { } b1 && b1 is >= 0 and < 1 && UsesOption(options, "Beta1"))
            yield return ("lr / (1 − beta1^t)", lr / (1 - Math.Pow(b1, state.Step + 1)));
    }

    private bool ChooseFused(Parameter p, Tensor g, ParameterState state, OptionsBase opts)
    {
        if (Path == ExecutionPath.Portable) return false;
        string? why = !HasFusedPath ? $"{GetType().Name} has no fused kernel"
            : !FusedEligible(p) ? "the parameter is not a contiguous float32 CPU tensor"
            : !FusedEligible(g) ? "its gradient is not a contiguous float32 CPU tensor"
            : state.Tensors.Any(kv => !FusedEligible(kv.Value)) ? "its state is not contiguous float32 CPU memory"
            : state.Tensors.Any(kv => kv.Value.NumberOfElements != p.NumberOfElements) ? "its state does not have the parameter's size"
            : FusedUnsupportedReason(opts, p);
        if (why is null) return true;
        if (Path == ExecutionPath.Fused)
            throw new InvalidOperationException(FormattableString.Invariant($"ExecutionPath.Fused was forced, but parameter '{state.Name}' cannot use it: {why}."));
        return false;
    }

    /// <summary>Returns why the fused kernel cannot serve these options, or null when it can.</summary>
    protected virtual string? FusedUnsupportedReason(OptionsBase options, Parameter parameter) => null;

    /// <summary>True for tensors the fused kernels can address directly.</summary>
    protected static bool FusedEligible(Tensor t) =>
        t.dtype == ScalarType.Float32 && t.device_type == DeviceType.CPU && t.is_contiguous()
        && t.NumberOfElements * 4 <= int.MaxValue;

    private bool IsFinite(WorkItem w)
    {
        if (w.Fused)
        {
            unsafe
            {
                return _finiteCheck.AllFinite(OptimizerPointers.Of(w.Grad), w.Grad.NumberOfElements);
            }
        }
        return w.Grad.isfinite().all().item<bool>();
    }

    /// <summary>Creates the parameter's state now if it does not exist yet (for work outside <c>step()</c>).</summary>
    protected void EnsureState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        if (state.IsInitialized) return;
        InitializeState(options, parameter, state);
        state.IsInitialized = true;
    }

    /// <summary>Each group's options with each of its parameters and their state.</summary>
    protected IEnumerable<(OptionsBase Options, Parameter Parameter, ParameterState State)> Parameters() =>
        _parameter_groups.SelectMany(g => g.Parameters.Select(p => ((OptionsBase)g.Options, p, (ParameterState)_state[p.Handle])));

    /// <summary>Hook called once per applied step, after validation and before the first update.</summary>
    protected virtual void BeforeUpdates() { }

    /// <summary>Creates the parameter's state tensors (called once, on its first step).</summary>
    protected abstract void InitializeState(OptionsBase options, Parameter parameter, ParameterState state);

    /// <summary>The update with torch operations (any device and floating dtype).</summary>
    protected abstract void PortableUpdate(OptionsBase options, Parameter parameter, Tensor grad, ParameterState state);

    /// <summary>The update with the fused CPU kernel; only called when the tensors are eligible.</summary>
    protected virtual void FusedUpdate(OptionsBase options, Parameter parameter, Tensor grad, ParameterState state) =>
        PortableUpdate(options, parameter, grad, state);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            // Through the state table, not the parameters: the model may already be disposed.
            foreach (var (_, s) in _state) (s as ParameterState)?.Dispose();
        base.Dispose(disposing);
    }

    // ---- Serialization used by checkpoints: read everything, validate, then apply. ----

    internal void WriteState(BinaryWriter w)
    {
        w.Write(GetType().FullName!);
        w.Write(StepCount);
        w.Write(SkippedSteps);
        w.Write(_parameter_groups.Count);
        foreach (var g in _parameter_groups)
        {
            g.Options.SaveStateDict(w);
            var ps = g.Parameters.ToList();
            w.Write(ps.Count);
            foreach (var p in ps)
            {
                var st = (ParameterState)_state[p.Handle];
                w.Write(st.Name);
                w.Write(p.shape.Length);
                foreach (var d in p.shape) w.Write(d);
                st.SaveStateDict(w);
            }
        }
    }

    /// <summary>
    /// Reads a state written by <see cref="WriteState"/>, checking it against this optimizer's type, groups and
    /// parameter shapes. Nothing is changed until the returned action runs.
    /// </summary>
    internal (Action Apply, Action Discard) ReadState(BinaryReader r)
    {
        string type = CheckedReader.ReadString(r, "Optimizer type");
        if (type != GetType().FullName)
            throw new InvalidDataException(FormattableString.Invariant($"The checkpoint holds the state of optimizer {type}, not {GetType().FullName}."));
        long steps = r.ReadInt64(), skipped = r.ReadInt64();
        if (steps < 0 || skipped < 0)
            throw new InvalidDataException(FormattableString.Invariant($"The checkpoint's step count {steps} or skipped-step count {skipped} is negative."));
        int groups = r.ReadInt32();
        if (groups != _parameter_groups.Count)
            throw new InvalidDataException(FormattableString.Invariant($"The checkpoint has {groups} parameter groups; this optimizer has {_parameter_groups.Count}."));
        var options = new List<OptionsBase>();
        var states = new List<(ParameterState Target, ParameterState Loaded)>();
        try
        {
            for (int gi = 0; gi < groups; gi++)
            {
                var g = _parameter_groups[gi];
                var o = (OptionsBase)Activator.CreateInstance(g.Options.GetType())!;
                o.LoadStateDict(r);
                // The hyperparameters come from the file: values the constructor would refuse make the file invalid.
                if (!double.IsFinite(o.InitialLearningRate) || o.InitialLearningRate < 0)
                    throw new InvalidDataException(FormattableString.Invariant($"Group {gi} of the checkpoint has initial learning rate {o.InitialLearningRate}."));
                try
                {
                    o.Validate();
                }
                catch (ArgumentException e)
                {
                    throw new InvalidDataException(FormattableString.Invariant($"Group {gi} of the checkpoint: {e.Message}"), e);
                }
                CheckLoadedOptions((OptionsBase)g.Options, o, gi);
                options.Add(o);
                var ps = g.Parameters.ToList();
                int count = r.ReadInt32();
                if (count != ps.Count)
                    throw new InvalidDataException(FormattableString.Invariant($"Group {gi} of the checkpoint has {count} parameters; this optimizer's has {ps.Count}."));
                foreach (var p in ps)
                {
                    var target = (ParameterState)_state[p.Handle];
                    string name = CheckedReader.ReadString(r, FormattableString.Invariant($"Group {gi}: parameter name"));
                    int rank = r.ReadInt32();
                    if (rank != p.shape.Length)
                        throw new InvalidDataException(FormattableString.Invariant($"Parameter '{name}' in the checkpoint has rank {rank}; '{target.Name}' here has shape [{string.Join(", ", p.shape)}]."));
                    var shape = new long[rank];
                    for (int k = 0; k < rank; k++) shape[k] = r.ReadInt64();
                    if (!shape.SequenceEqual(p.shape))
                        throw new InvalidDataException(FormattableString.Invariant($"Parameter '{name}' in the checkpoint has shape [{string.Join(", ", shape)}]; '{target.Name}' here has [{string.Join(", ", p.shape)}]."));
                    // ReadDetached checks each state tensor's dtype and, for elementwise state, its shape.
                    var loaded = target.ReadDetached(r);
                    states.Add((target, loaded));
                    if (loaded.IsInitialized) CheckLoadedState(o, p, loaded);
                }
            }
        }
        catch
        {
            foreach (var (_, l) in states) l.Dispose();
            throw;
        }

        void Apply()
        {
            for (int gi = 0; gi < groups; gi++)
            {
                _parameter_groups[gi].Options.LoadStateDict(options[gi]);
            }
            foreach (var (t, l) in states)
            {
                t.LoadStateDict(l);
                l.Dispose();
            }
            StepCount = steps;
            SkippedSteps = skipped;
        }

        void Discard()
        {
            foreach (var (_, l) in states) l.Dispose();
        }

        return (Apply, Discard);
    }

    /// <summary>
    /// Replaces every group's options and every parameter's state with <paramref name="options"/> and
    /// <paramref name="states"/> (group by group, parameter by parameter; detached states, copied here) after checking
    /// all of them as a checkpoint load does; nothing changes when a check fails. For state interop.
    /// </summary>
    internal void ImportState(IReadOnlyList<OptionsBase> options, IReadOnlyList<ParameterState?> states)
    {
        if (options.Count != _parameter_groups.Count)
            throw new ArgumentException(FormattableString.Invariant($"{options.Count} groups of options for {_parameter_groups.Count} parameter groups."));
        var targets = Parameters().ToList();
        if (states.Count != targets.Count)
            throw new ArgumentException(FormattableString.Invariant($"{states.Count} parameter states for {targets.Count} parameters."));
        for (int gi = 0; gi < options.Count; gi++)
        {
            options[gi].Validate();
            CheckLoadedOptions((OptionsBase)_parameter_groups[gi].Options, options[gi], gi);
        }
        int k = 0;
        for (int gi = 0; gi < options.Count; gi++)
        {
            foreach (var p in _parameter_groups[gi].Parameters)
            {
                var loaded = states[k++];
                if (loaded is null || !loaded.IsInitialized) continue;
                try
                {
                    CheckLoadedState(options[gi], p, loaded);
                }
                catch (InvalidDataException e)
                {
                    throw new ArgumentException(e.Message.Replace("the checkpoint holds", "the imported state holds", StringComparison.Ordinal), e);
                }
            }
        }
        for (int gi = 0; gi < options.Count; gi++) _parameter_groups[gi].Options.LoadStateDict(options[gi]);
        k = 0;
        foreach (var (_, _, target) in targets)
        {
            // An uninitialized loaded state loads as one: no tensors, step 0 (what Clear() leaves).
            if (states[k++] is { } loaded) target.LoadStateDict(loaded);
            else target.Clear();
        }
    }

    /// <summary>Per parameter: the state bytes this optimizer holds now, and what AdamW would hold for it (two
    /// moments of the parameter's size) — the figure memory-efficient optimizers (GaLore, FRUGAL, Adam-mini) are
    /// judged by.</summary>
    public IReadOnlyList<(string Name, long Bytes, long AdamWBytes)> MemoryReport() =>
        States.Select(s => (s.Name, s.Bytes, 2 * s.Parameter.NumberOfElements * s.Parameter.ElementSize)).ToList();

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> naming the parameter when it cannot be in a group with these options
    /// (e.g. a vector in a group that orthogonalizes matrices); called for every parameter of a group before the
    /// group is added. <paramref name="options"/> has the optimizer's defaults filled in.
    /// </summary>
    protected virtual void CheckParameter(OptionsBase options, Parameter parameter, string name) { }

    /// <summary>
    /// Throws an <see cref="InvalidDataException"/> when a group's options read from a checkpoint cannot replace the
    /// group's current ones (e.g. they change what kind of update the group gets, which its state and parameters were
    /// chosen for). Called before anything is applied.
    /// </summary>
    protected virtual void CheckLoadedOptions(OptionsBase current, OptionsBase loaded, int groupIndex) { }

    /// <summary>
    /// Called for each initialized parameter state read from a checkpoint, before anything is applied: throws an
    /// <see cref="InvalidDataException"/> when the state is not what this optimizer keeps for that parameter with
    /// those (loaded) options. By default the loaded tensors' names and shapes must equal those of a fresh
    /// <see cref="InitializeState"/>; optimizers whose state is created from the gradient override
    /// <see cref="StateLayoutFollowsOptions"/> (or this method).
    /// </summary>
    protected virtual void CheckLoadedState(OptionsBase options, Parameter parameter, ParameterState loaded)
    {
        if (!StateLayoutFollowsOptions) return;
        using var fresh = new ParameterState(parameter, loaded.Name);
        using (no_grad()) InitializeState(options, parameter, fresh);
        static string Describe(ParameterState s) => string.Join(", ", s.Tensors.Select(kv => FormattableString.Invariant($"{kv.Key} [{string.Join(", ", kv.Value.shape)}]")));
        var want = fresh.Tensors;
        var got = loaded.Tensors;
        if (want.Count != got.Count || want.Zip(got).Any(x => x.First.Key != x.Second.Key || !x.First.Value.shape.SequenceEqual(x.Second.Value.shape)))
            throw new InvalidDataException(FormattableString.Invariant(
                $"Parameter '{loaded.Name}': the checkpoint holds state {Describe(loaded)}; {GetType().Name} with these options keeps {Describe(fresh)}."));
    }

    /// <summary>Whether <see cref="InitializeState"/> alone (from the options and the parameter) determines the names
    /// and shapes of a parameter's state, so that a loaded state can be checked against it (true for most).</summary>
    protected virtual bool StateLayoutFollowsOptions => true;

    /// <summary>True for optimizers whose state tensors need not match their parameter's element count (e.g. factored state).</summary>
    protected virtual bool ShapeFlexibleState => false;

    private readonly record struct WorkItem(OptionsBase Options, Parameter Parameter, Tensor Grad, ParameterState State, bool Fused);
}
