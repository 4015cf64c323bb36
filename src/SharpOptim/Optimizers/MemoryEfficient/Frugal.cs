using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// FRUGAL (Full-Rank Updates with GrAdient spLitting): Zmushko, Beznosikov, Takáč and Horváth, "FRUGAL:
/// Memory-Efficient Optimization by Reducing State Overhead for Scalable Training", ICML 2025 (arXiv:2411.07837).
/// <para>
/// The gradient is split into a state-full part, updated by AdamW with moments kept only on a low-dimensional
/// subspace, and the state-free rest, updated by signSGD (or SGD), so every step is full-rank while the state is that
/// of the subspace. With projector P (refreshed every T steps), k the steps since the last refresh:
/// </para>
/// <code>
/// g_full = P(g);   g_free = g − P⁻¹(g_full)
/// m ← β1 m + (1 − β1) g_full;   v ← β2 v + (1 − β2) g_full²
/// θ ← θ (1 − lr λ) − lr · P⁻¹( (m / (1 − β1^k)) / (√(v / (1 − β2^k)) + ε) ) − lr · s · sign(g_free)    (or s · g_free for SGD)
/// </code>
/// <para>Subspaces (<see cref="FrugalSubspace"/>), both with the paper's density ρ:</para>
/// <list type="bullet">
/// <item><term>Svd</term><description>GaLore-style: for each matrix routed to splitting, the top r = max(1, round(ρ·min(m, n)))
/// singular vectors of the gradient on its smaller side (as GaLore's "std" projector, signs normalised as in
/// <see cref="GaLore"/>); other parameters (vectors, embeddings, heads) are wholly state-full.</description></item>
/// <item><term>Blocks</term><description>BAdam-style: parameter tensors are blocks; at each refresh a seeded random order
/// of the blocks is drawn and blocks are taken in that order until they hold at least ρ of all parameters. Selected
/// blocks are state-full, the rest state-free (and hold no state).</description></item>
/// </list>
/// <para>
/// At a refresh the moments are reset to zero and the bias correction restarts (k counts from the refresh), so no
/// moment is carried between subspaces. Defaults: lr 1e-3, β = (0.9, 0.999), ε = 1e-8, λ = 0, ρ = 0.25, T = 200,
/// state-free rule signSGD with lr scale s = 1.
/// </para>
/// <para>
/// Sources and deviations: the official code (philip-zmushko/FRUGAL) could not be read here; the rule above follows the
/// paper's description of the framework and its default FRUGAL(AdamW, signSGD) instantiation. Choices not pinned down
/// by what could be read, made here and documented: resetting the moments at each refresh; block selection by a
/// seeded random order filled to ρ of the parameter count; rank r = round(ρ·min(m, n)); the state-free lr scale s.
/// Each state-full tensor keeps its refresh index (one scalar in the parameter's dtype) so that a resumed run
/// continues in the same subspace. The SVD runs in float64 (rounded to the parameter's dtype), so the split does not
/// depend on the float32 LAPACK build: signSGD on the residual turns tiny differences into whole steps otherwise.
/// Portable path only (SVD and matmuls).
/// </para>
/// </summary>
public sealed class Frugal : OptimizerBase, TorchSharp.torch.optim.IBetas
{
    /// <summary>β1 and β2 of the defaults, for TorchSharp's schedulers that cycle momentum (OneCycleLR); each group's own are in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    (double, double) TorchSharp.torch.optim.IBetas.Betas { get => DefaultBetas; set => DefaultBetas = value; }

    private readonly HashSet<Parameter> _split;
    private readonly List<Parameter> _order;
    private readonly int _seed;
    private long _selectedFor = -1;
    private HashSet<Parameter> _active = new(ReferenceEqualityComparer.Instance);

    /// <summary>Not available: FRUGAL chooses the state-full blocks and the projected matrices by module name, as the official code does. Pass model.named_parameters().</summary>
    [Obsolete("FRUGAL chooses the state-full blocks and the projected matrices by module name, as the official code does. Pass model.named_parameters().", error: true)]
    public Frugal(IEnumerable<Parameter> parameters) : this(NamesRequired(parameters, "Frugal")) { }

    /// <summary>
    /// FRUGAL over named parameters. <paramref name="split"/> says which matrices are split by the SVD subspace
    /// (default: hidden matrices by <see cref="Muon.IsHiddenMatrix"/>'s rule); in Blocks mode every tensor is a block.
    /// </summary>
    public Frugal(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, double density = 0.25, long update_gap = 200,
        FrugalSubspace subspace = FrugalSubspace.Svd, FrugalStateFree state_free = FrugalStateFree.SignSgd,
        double free_lr_scale = 1.0, int seed = 0, Func<string, Parameter, bool>? split = null,
        Func<long, IEnumerable<int>>? select_blocks = null)
        : this(SingleGroup(parameters), new Options { LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps,
            WeightDecay = weight_decay, FreeLrScale = free_lr_scale }, density, update_gap, subspace, state_free, seed, split)
    {
        _selectBlocks = select_blocks;
    }

    private readonly Func<long, IEnumerable<int>>? _selectBlocks;

    private Frugal((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults, double density, long gap,
        FrugalSubspace subspace, FrugalStateFree stateFree, int seed, Func<string, Parameter, bool>? split)
        : base(Validated(named.Groups, density, gap, subspace, stateFree), defaults, named.Names)
    {
        Density = density;
        UpdateGap = gap;
        Subspace = subspace;
        StateFree = stateFree;
        _seed = seed;
        _order = named.Groups.SelectMany(g => g.Parameters).ToList();
        _split = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var p in _order)
        {
            string n = Names.TryGetValue(p, out var nm) ? nm : "";
            bool s = split?.Invoke(n, p) ?? (p.ndim == 2 && Muon.IsHiddenMatrix(n, p));
            if (s && p.ndim != 2)
                throw new ArgumentException(FormattableString.Invariant($"Parameter '{n}' (shape [{string.Join(", ", p.shape)}]) was routed to the SVD split but is not a matrix."), nameof(split));
            if (s) _split.Add(p);
        }
    }

    private static ParamGroup[] Validated(ParamGroup[] groups, double density, long gap, FrugalSubspace subspace, FrugalStateFree stateFree)
    {
        if (!(density >= 0 && density <= 1)) throw new ArgumentException(FormattableString.Invariant($"Invalid density: {density} (must be in [0, 1])."), nameof(density));
        if (gap < 1) throw new ArgumentException(FormattableString.Invariant($"Invalid update_gap: {gap} (must be >= 1)."), "update_gap");
        if (!Enum.IsDefined(subspace)) throw new ArgumentException(FormattableString.Invariant($"Invalid subspace: {subspace}."), nameof(subspace));
        if (!Enum.IsDefined(stateFree)) throw new ArgumentException(FormattableString.Invariant($"Invalid state_free rule: {stateFree}."), "state_free");
        return groups;
    }

    /// <summary>Fraction ρ of the parameters (Blocks) or of each matrix's smaller dimension (Svd) that is state-full.</summary>
    public double Density { get; }
    /// <summary>Steps between refreshes of the subspace (T).</summary>
    public long UpdateGap { get; }
    /// <summary>How the state-full subspace is chosen.</summary>
    public FrugalSubspace Subspace { get; }
    /// <summary>The state-free rule.</summary>
    public FrugalStateFree StateFree { get; }

    /// <summary>The rank used for an m × n matrix in Svd mode: max(1, round(ρ·min(m, n))).</summary>
    public long RankFor(long m, long n) => Math.Max(1, (long)Math.Round(Density * Math.Min(m, n), MidpointRounding.AwayFromZero));

    /// <summary>Blocks mode: the blocks (parameters) that are state-full during refresh period <paramref name="refresh"/>
    /// (the constructor's <c>select_blocks</c>, given block indices in parameter order, replaces the seeded draw).</summary>
    public IReadOnlySet<Parameter> ActiveBlocks(long refresh)
    {
        if (_selectBlocks is not null)
            return new HashSet<Parameter>(_selectBlocks(refresh).Select(i => i >= 0 && i < _order.Count ? _order[i]
                : throw new ArgumentOutOfRangeException(nameof(refresh), i, FormattableString.Invariant($"select_blocks gave block {i}; there are {_order.Count}."))),
                ReferenceEqualityComparer.Instance);
        var idx = Enumerable.Range(0, _order.Count).ToArray();
        new Random(unchecked(_seed * 1_000_003 + (int)refresh)).Shuffle(idx);
        long total = _order.Sum(p => p.NumberOfElements), taken = 0;
        var set = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (int i in idx)
        {
            if (taken >= Density * total) break;
            set.Add(_order[i]);
            taken += _order[i].NumberOfElements;
        }
        return set;
    }

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override bool ShapeFlexibleState => true;

    /// <inheritdoc />
    protected override void BeforeUpdates()
    {
        long r = StepCount / UpdateGap;
        if (Subspace == FrugalSubspace.Blocks && r != _selectedFor)
        {
            _active = (HashSet<Parameter>)ActiveBlocks(r);
            _selectedFor = r;
        }
    }

    /// <inheritdoc />
    /// <remarks>False: the projector and moments are created from the gradient at each refresh, so a fresh initialization does not show the saved layout.</remarks>
    protected override bool StateLayoutFollowsOptions => false;

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state) { }

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, b1 = o.Beta1!.Value, b2 = o.Beta2!.Value, wd = o.WeightDecay!.Value;
        long r = StepCount / UpdateGap;
        using var held = new ScalarHold();
        if (wd > 0) p.mul_(held[1 - lr * wd]);
        bool stateful = Subspace == FrugalSubspace.Svd || _active.Contains(p);
        if (!stateful)
        {
            if (state.Tensors.Count > 0) state.Clear();
            state.Step = 0;
            FreeStep(p, g, lr * o.FreeLrScale!.Value);
            return;
        }
        bool project = Subspace == FrugalSubspace.Svd && _split.Contains(p);
        bool right = project && p.shape[0] >= p.shape[1];
        var refresh = state.TryGet("refresh");
        if (refresh is null || refresh.to_type(ScalarType.Float64).item<double>() != r)
        {
            state.Clear();
            state.Step = 0;
            state.Add("refresh", tensor((double)r, dtype: p.dtype, device: p.device));
            if (project)
            {
                long rank = RankFor(p.shape[0], p.shape[1]);
                var shape = right ? new[] { rank, p.shape[1] } : new[] { p.shape[0], rank };
                state.Add("projector", GaLore.Projector(g, shape, right, float64: true));
                var mShape = right ? new[] { p.shape[0], rank } : new[] { rank, p.shape[1] };
                state.Add("exp_avg", zeros(mShape, dtype: p.dtype, device: p.device));
                state.Add("exp_avg_sq", zeros(mShape, dtype: p.dtype, device: p.device));
            }
            else
            {
                state.AddZeros("exp_avg");
                state.AddZeros("exp_avg_sq");
            }
        }
        Tensor full = g, back = g;
        Tensor? proj = project ? state["projector"] : null;
        if (proj is not null)
        {
            full = right ? g.matmul(proj.t()) : proj.t().matmul(g);
            back = right ? full.matmul(proj) : proj.matmul(full);
        }
        var m = state["exp_avg"];
        var v = state["exp_avg_sq"];
        state.Step++;
        using var s = new ScalarHold();
        m.mul_(s[b1]).add_(full, s[1 - b1]);
        v.mul_(s[b2]).addcmul_(full, full, s[1 - b2]);
        double bc1 = 1 - Math.Pow(b1, state.Step), bc2 = 1 - Math.Pow(b2, state.Step);
        var update = m.div(s[bc1]).div(v.div(s[bc2]).sqrt().add_(s[o.Eps!.Value], s[1]));
        if (proj is not null) update = right ? update.matmul(proj) : proj.matmul(update);
        p.add_(update, s[-lr]);
        if (proj is not null) FreeStep(p, g - back, lr * o.FreeLrScale!.Value);
    }

    private void FreeStep(Parameter p, Tensor free, double lr)
    {
        using var s = new ScalarHold();
        if (StateFree == FrugalStateFree.SignSgd) p.add_(free.sign(), s[-lr]);
        else p.add_(free, s[-lr]);
    }

    /// <summary>FRUGAL's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : OptionsBase
    {
        /// <summary>Decay of the first moment, in [0, 1).</summary>
        public double? Beta1 { get; set; }
        /// <summary>Decay of the second moment, in [0, 1).</summary>
        public double? Beta2 { get; set; }
        /// <summary>Added to the denominator, &gt;= 0.</summary>
        public double? Eps { get; set; }
        /// <summary>Decoupled weight decay, &gt;= 0.</summary>
        public double? WeightDecay { get; set; }
        /// <summary>Learning-rate scale s of the state-free update, &gt;= 0.</summary>
        public double? FreeLrScale { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireUnitInterval("beta1", Beta1);
            RequireUnitInterval("beta2", Beta2);
            RequireNonNegative("eps", Eps);
            RequireNonNegative("weight_decay", WeightDecay);
            RequireNonNegative("free_lr_scale", FreeLrScale);
        }
    }
}
