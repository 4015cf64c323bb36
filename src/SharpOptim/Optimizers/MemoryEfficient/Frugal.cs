using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// FRUGAL (Full-Rank Updates with GrAdient spLitting): Zmushko, Beznosikov, Takáč and Horváth, "FRUGAL:
/// Memory-Efficient Optimization by Reducing State Overhead for Scalable Training", ICML 2025 (arXiv:2411.07837);
/// official code fzmushko/FRUGAL (frugal/proj_optimizer_templates.py: GaloreOptimizer, BlockOptimizer,
/// CoordOptimizer; frugal/adamw.py), which this class follows.
/// <para>
/// Parameters are split as the official <c>prepare_proj_params</c> splits them. The <i>projectable</i> ones are the
/// weights of linear layers inside attention and MLP modules (a 2-D parameter "….weight" whose module path contains
/// attn, mlp, q_proj, k_proj, v_proj, o_proj, up_proj, down_proj, gate_proj, query, key, value, intermediate.dense or
/// output.dense); everything else (embeddings, the output head, norms, biases) is a <i>regular</i> parameter updated
/// by plain AdamW whose moments are never reset. The gradient G of a projectable matrix is split into a state-full
/// part, updated by AdamW with moments kept only on a subspace that is refreshed every T steps, and the state-free
/// rest, updated by signSGD (or SGD, or not at all), so every step is full-rank. With P the subspace's projection,
/// k the steps since the last refresh (the moments and k restart at each refresh):
/// </para>
/// <code>
/// θ ← θ (1 − lr λ)                                                          (every parameter)
/// m ← β1 m + (1 − β1) P(G);   v ← β2 v + (1 − β2) P(G)²
/// θ ← θ + P⁻¹( −(lr / (1 − β1^k)) · m / (√v / √(1 − β2^k) + ε) ) − lr · s · sign(G − P⁻¹P(G))    (or s·(G − P⁻¹P(G)))
/// </code>
/// <para>Subspaces (<see cref="FrugalSubspace"/>), each as the official class with density ρ:</para>
/// <list type="bullet">
/// <item><term>Svd</term><description>GaloreOptimizer (proj_side std, proj_type svd): per matrix, the top r singular
/// vectors of the gradient at the refresh on its smaller side, r = round(ρ·n) (right, m ≥ n) or round(ρ·m) (left),
/// rounded half to even as Python does; r = 0 leaves the whole matrix state-free.</description></item>
/// <item><term>Blocks</term><description>BlockOptimizer: the projectable matrices are the blocks; round(ρ·B) of the B
/// blocks are state-full (moments reset at each refresh, even for a block that stays active), the others take the
/// state-free step and hold no state. <see cref="FrugalBlockOrder"/> chooses which: random (the official default),
/// descending (the paper's pre-training runs), ascending or mirror. The paper's FRUGAL for pre-training.</description></item>
/// <item><term>Columns</term><description>CoordOptimizer (coord_choice columns): per matrix, ⌊ρ·n⌋ random columns are
/// state-full (moments m × ⌊ρ·n⌋), the other columns state-free. The paper's FRUGAL for fine-tuning (its scripts use
/// ρ = rank / min(classifier shape), T = 500 and s = 0.1 there).</description></item>
/// </list>
/// <para>
/// Defaults: lr 1e-3, β = (0.9, 0.999), ε = 1e-8, λ = 0, ρ = 0.25, T = 200, signSGD with s = 1 (the official
/// <c>inactive_lr_scale</c>), Svd subspace, random block order.
/// </para>
/// <para>
/// Differences from the official code, and why: (1) the subspace default is Svd (the GaloreAdamW instantiation), as
/// this class had before; the paper's headline FRUGAL is <c>subspace: Blocks, block_order: Descending</c> for
/// pre-training and <c>subspace: Columns</c> for fine-tuning — choose them explicitly. (2) The SVD runs in float64
/// (rounded to the parameter's dtype; the official code uses float32) and each singular vector's sign is normalised
/// (largest entry positive): signSGD on the residual turns LAPACK-build differences into whole steps otherwise, and the
/// sign change cannot alter an update, since the moments restart with every projector. (3) Random block and column
/// choices come from a generator seeded by (seed, refresh index, block), not torch.randperm, so a resumed run makes the
/// same choices (the official code's draws cannot be reproduced without its generator state anyway). (4) When no
/// parameter name matches the official target modules (a model without attention/MLP names, or unnamed parameters),
/// the hidden matrices by <see cref="Muon.IsHiddenMatrix"/>'s rule are projectable instead, so that FRUGAL is not
/// silently plain AdamW there; pass <c>split</c> to choose exactly. (5) Not offered: <c>proj_params_lr_scale</c>
/// (1.0 in all the paper's experiments), <c>reset_statistics = false</c> (only the GaLore baseline uses it), the
/// random/randperm projections and the rows/randk coordinate choices. Each state-full tensor keeps its refresh index
/// (one scalar in the parameter's dtype) so that a resumed run continues in the same subspace; checkpoints of earlier
/// versions load (a regular parameter's old refresh index is dropped and its moments continue). Portable path only
/// (SVD and matmuls).
/// </para>
/// </summary>
public sealed class Frugal : OptimizerBase, TorchSharp.torch.optim.IBetas
{
    /// <summary>β1 and β2 of the defaults, for TorchSharp's schedulers that cycle momentum (OneCycleLR); each group's own are in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    (double, double) TorchSharp.torch.optim.IBetas.Betas { get => DefaultBetas; set => DefaultBetas = value; }

    /// <summary>The official <c>prepare_proj_params</c> target module names (a linear layer whose module path contains one is projectable).</summary>
    public static IReadOnlyList<string> TargetModules { get; } = new[]
    {
        "attn", "mlp", "q_proj", "v_proj", "up_proj", "down_proj", "gate_proj", "k_proj", "o_proj",
        "query", "value", "key", "intermediate.dense", "output.dense",
    };

    private readonly List<Parameter> _blocks = new();
    private readonly Dictionary<Parameter, int> _blockIndex = new(ReferenceEqualityComparer.Instance);
    private readonly int _seed;
    private readonly Func<long, IEnumerable<int>>? _selectBlocks;
    private readonly Func<long, int, IEnumerable<long>>? _selectColumns;
    private long _selectedFor = -1;
    private HashSet<Parameter> _active = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Parameter, Tensor> _columns = new(ReferenceEqualityComparer.Instance);

    /// <summary>Not available: FRUGAL chooses the state-full blocks and the projected matrices by module name, as the official code does. Pass model.named_parameters().</summary>
    [Obsolete("FRUGAL chooses the state-full blocks and the projected matrices by module name, as the official code does. Pass model.named_parameters().", error: true)]
    public Frugal(IEnumerable<Parameter> parameters) : this(NamesRequired(parameters, "Frugal")) { }

    /// <summary>
    /// FRUGAL over named parameters. <paramref name="split"/> says which parameters are projectable (default:
    /// <see cref="IsTargetMatrix"/>, the official target modules, falling back to hidden matrices when none matches);
    /// the others are regular AdamW parameters. <paramref name="select_blocks"/> (refresh index → block indices, in
    /// the order of the projectable parameters) and <paramref name="select_columns"/> ((refresh index, block index) →
    /// column indices) replace the random draws, for replay.
    /// </summary>
    public Frugal(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0, double density = 0.25, long update_gap = 200,
        FrugalSubspace subspace = FrugalSubspace.Svd, FrugalStateFree state_free = FrugalStateFree.SignSgd,
        double free_lr_scale = 1.0, int seed = 0, Func<string, Parameter, bool>? split = null,
        Func<long, IEnumerable<int>>? select_blocks = null, FrugalBlockOrder block_order = FrugalBlockOrder.Random,
        Func<long, int, IEnumerable<long>>? select_columns = null)
        : this(SingleGroup(parameters), new Options { LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps,
            WeightDecay = weight_decay, FreeLrScale = free_lr_scale }, density, update_gap, subspace, state_free, seed, split, block_order)
    {
        _selectBlocks = select_blocks;
        _selectColumns = select_columns;
    }

    private Frugal((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, Options defaults, double density, long gap,
        FrugalSubspace subspace, FrugalStateFree stateFree, int seed, Func<string, Parameter, bool>? split, FrugalBlockOrder order)
        : base(Validated(named.Groups, density, gap, subspace, stateFree, order), defaults, named.Names)
    {
        Density = density;
        UpdateGap = gap;
        Subspace = subspace;
        StateFree = stateFree;
        BlockOrder = order;
        _seed = seed;
        var all = named.Groups.SelectMany(g => g.Parameters).ToList();
        string NameOf(Parameter p) => Names.TryGetValue(p, out var nm) ? nm : "";
        var rule = split;
        if (rule is null)
        {
            bool any = all.Any(p => IsTargetMatrix(NameOf(p), p));
            rule = any ? IsTargetMatrix : (n, p) => p.ndim == 2 && Muon.IsHiddenMatrix(n, p);
        }
        foreach (var p in all)
        {
            string n = NameOf(p);
            if (!rule(n, p)) continue;
            if (p.ndim != 2)
                throw new ArgumentException(FormattableString.Invariant($"Parameter '{n}' (shape [{string.Join(", ", p.shape)}]) was routed to the projected (state-free capable) matrices but is not a matrix."), nameof(split));
            _blockIndex[p] = _blocks.Count;
            _blocks.Add(p);
        }
        ActiveBlockCount = (int)Math.Round(_blocks.Count * density, MidpointRounding.ToEven);
        if (subspace == FrugalSubspace.Blocks && order == FrugalBlockOrder.Mirror && ActiveBlockCount % 2 != 0)
            throw new ArgumentException(FormattableString.Invariant($"Invalid block_order: Mirror needs an even number of active blocks; round({density} · {_blocks.Count}) = {ActiveBlockCount}."), "block_order");
    }

    private static ParamGroup[] Validated(ParamGroup[] groups, double density, long gap, FrugalSubspace subspace, FrugalStateFree stateFree, FrugalBlockOrder order)
    {
        if (!(density >= 0 && density <= 1)) throw new ArgumentException(FormattableString.Invariant($"Invalid density: {density} (must be in [0, 1])."), nameof(density));
        if (gap < 1) throw new ArgumentException(FormattableString.Invariant($"Invalid update_gap: {gap} (must be >= 1)."), "update_gap");
        if (!Enum.IsDefined(subspace)) throw new ArgumentException(FormattableString.Invariant($"Invalid subspace: {subspace}."), nameof(subspace));
        if (!Enum.IsDefined(stateFree)) throw new ArgumentException(FormattableString.Invariant($"Invalid state_free rule: {stateFree}."), "state_free");
        if (!Enum.IsDefined(order)) throw new ArgumentException(FormattableString.Invariant($"Invalid block_order: {order}."), "block_order");
        return groups;
    }

    /// <summary>The official default rule for projectable parameters: a 2-D "….weight" whose module path contains one
    /// of <see cref="TargetModules"/>.</summary>
    public static bool IsTargetMatrix(string name, Parameter p)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(p);
        if (p.ndim != 2 || !name.EndsWith(".weight", StringComparison.Ordinal)) return false;
        string module = name[..^".weight".Length];
        return TargetModules.Any(k => module.Contains(k, StringComparison.Ordinal));
    }

    /// <summary>Density ρ: the fraction of the blocks (Blocks), of each matrix's columns (Columns) or of its smaller side (Svd) that is state-full.</summary>
    public double Density { get; }
    /// <summary>Steps between refreshes of the subspace (T).</summary>
    public long UpdateGap { get; }
    /// <summary>How the state-full subspace is chosen.</summary>
    public FrugalSubspace Subspace { get; }
    /// <summary>The state-free rule.</summary>
    public FrugalStateFree StateFree { get; }
    /// <summary>Blocks mode: the order in which blocks become state-full.</summary>
    public FrugalBlockOrder BlockOrder { get; }
    /// <summary>The projectable parameters (the blocks of Blocks mode), in parameter order; all others are regular AdamW parameters.</summary>
    public IReadOnlyList<Parameter> ProjectedParameters => _blocks;
    /// <summary>Blocks mode: round(ρ · number of blocks), rounded half to even (Python's round).</summary>
    public int ActiveBlockCount { get; }

    /// <summary>The rank used for an m × n matrix in Svd mode: round(ρ·n) when m ≥ n (right projection), else round(ρ·m), half to even.</summary>
    public long RankFor(long m, long n) => (long)Math.Round((m >= n ? n : m) * Density, MidpointRounding.ToEven);

    /// <summary>The number of state-full columns of a matrix with n columns in Columns mode: ⌊ρ·n⌋.</summary>
    public long ColumnsFor(long n) => (long)Math.Floor(n * Density);

    /// <summary>Blocks mode: the blocks that are state-full during refresh period <paramref name="refresh"/>.</summary>
    public IReadOnlySet<Parameter> ActiveBlocks(long refresh)
    {
        if (refresh < 0) throw new ArgumentOutOfRangeException(nameof(refresh), refresh, "The refresh index must be >= 0.");
        var set = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        int b = _blocks.Count, n = ActiveBlockCount;
        if (_selectBlocks is not null)
        {
            foreach (int i in _selectBlocks(refresh))
                set.Add(i >= 0 && i < b ? _blocks[i]
                    : throw new ArgumentOutOfRangeException(nameof(refresh), i, FormattableString.Invariant($"select_blocks gave block {i}; there are {b}.")));
            return set;
        }
        if (b == 0 || n == 0) return set;
        switch (BlockOrder)
        {
            case FrugalBlockOrder.Random:
            {
                var idx = Enumerable.Range(0, b).ToArray();
                new Random(unchecked(_seed * 1_000_003 + (int)refresh)).Shuffle(idx);
                foreach (int i in idx.Take(n)) set.Add(_blocks[i]);
                break;
            }
            case FrugalBlockOrder.Ascending:
            {
                // The official walk: start ← (start + n) mod B after each refresh, from 0.
                long start = refresh % b * n % b;
                for (long i = start; i < start + n; i++) set.Add(_blocks[(int)(i % b)]);
                break;
            }
            case FrugalBlockOrder.Descending:
            {
                // From B − 1 downwards: start ← (start − n) mod B after each refresh.
                long start = Mod(b - 1 - refresh % b * n % b, b);
                for (long i = start; i > start - n; i--) set.Add(_blocks[(int)Mod(i, b)]);
                break;
            }
            case FrugalBlockOrder.Mirror:
            {
                int half = b / 2, pairs = n / 2;
                if (half == 0) break;
                long start = refresh % half * pairs % half;
                for (long i = start; i < start + pairs; i++)
                {
                    set.Add(_blocks[(int)(i % half)]);
                    set.Add(_blocks[b - 1 - (int)(i % half)]);
                }
                break;
            }
        }
        return set;
    }

    private static long Mod(long a, long m) => ((a % m) + m) % m;

    /// <summary>Columns mode: the state-full columns of projectable matrix <paramref name="block"/> (index into
    /// <see cref="ProjectedParameters"/>) during refresh period <paramref name="refresh"/>, in the order the moments hold them.</summary>
    public long[] ActiveColumns(long refresh, int block)
    {
        if (block < 0 || block >= _blocks.Count) throw new ArgumentOutOfRangeException(nameof(block), block, FormattableString.Invariant($"There are {_blocks.Count} projectable matrices."));
        long n = _blocks[block].shape[1], k = ColumnsFor(n);
        if (_selectColumns is not null)
        {
            var given = _selectColumns(refresh, block).ToArray();
            if (given.Length != k || given.Any(c => c < 0 || c >= n) || given.Distinct().Count() != k)
                throw new ArgumentException(FormattableString.Invariant($"select_columns gave [{string.Join(", ", given)}] for block {block}; it needs {k} distinct columns in [0, {n})."), "select_columns");
            return given;
        }
        var idx = Enumerable.Range(0, (int)n).Select(i => (long)i).ToArray();
        new Random(unchecked((_seed * 1_000_003 + (int)refresh) * 31 + block + 1)).Shuffle(idx);
        return idx.Take((int)k).ToArray();
    }

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override bool ShapeFlexibleState => true;

    /// <inheritdoc />
    protected override void BeforeUpdates()
    {
        long r = StepCount / UpdateGap;
        if (r == _selectedFor) return;
        if (Subspace == FrugalSubspace.Blocks) _active = (HashSet<Parameter>)ActiveBlocks(r);
        if (Subspace == FrugalSubspace.Columns)
        {
            var fresh = new Dictionary<Parameter, Tensor>(ReferenceEqualityComparer.Instance);
            for (int i = 0; i < _blocks.Count; i++)
                // Kept across steps: out of the step's dispose scope.
                fresh[_blocks[i]] = tensor(ActiveColumns(r, i), dtype: ScalarType.Int64, device: _blocks[i].device).DetachFromDisposeScope();
            foreach (var old in _columns.Values) old.Dispose();
            _columns.Clear();
            foreach (var kv in fresh) _columns[kv.Key] = kv.Value;
        }
        _selectedFor = r;
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
        double lr = o.LearningRate!.Value, wd = o.WeightDecay!.Value, free = lr * o.FreeLrScale!.Value;
        long r = StepCount / UpdateGap;
        using var s = new ScalarHold();
        if (wd != 0) p.mul_(s[1 - lr * wd]);
        if (!_blockIndex.ContainsKey(p))
        {
            RegularStep(o, p, g, state);
            return;
        }
        if (Subspace == FrugalSubspace.Blocks && !_active.Contains(p))
        {
            if (state.Tensors.Count > 0) state.Clear();
            state.Step = 0;
            FreeStep(p, g, free, s);
            return;
        }
        bool right = p.shape[0] >= p.shape[1];
        long rank = Subspace switch
        {
            FrugalSubspace.Svd => RankFor(p.shape[0], p.shape[1]),
            FrugalSubspace.Columns => ColumnsFor(p.shape[1]),
            _ => -1,
        };
        var refresh = state.TryGet("refresh");
        if (refresh is null || refresh.to_type(ScalarType.Float64).item<double>() != r)
        {
            state.Clear();
            state.Step = 0;
            state.Add("refresh", tensor((double)r, dtype: p.dtype, device: p.device));
            if (rank != 0)
            {
                long[] momentShape = Subspace switch
                {
                    FrugalSubspace.Svd => right ? new[] { p.shape[0], rank } : new[] { rank, p.shape[1] },
                    FrugalSubspace.Columns => new[] { p.shape[0], rank },
                    _ => p.shape,
                };
                if (Subspace == FrugalSubspace.Svd)
                    state.Add("projector", GaLore.Projector(g, right ? new[] { rank, p.shape[1] } : new[] { p.shape[0], rank }, right, float64: true));
                state.Add("exp_avg", zeros(momentShape, dtype: p.dtype, device: p.device));
                state.Add("exp_avg_sq", zeros(momentShape, dtype: p.dtype, device: p.device));
            }
        }
        state.Step++;
        if (rank == 0)
        {
            // Nothing state-full in this matrix (round(ρ·side) = 0 or ⌊ρ·n⌋ = 0): all of it takes the state-free step.
            FreeStep(p, g, free, s);
            return;
        }
        if (Subspace == FrugalSubspace.Blocks)
        {
            p.add_(AdamUpdate(o, state, g, lr, s), s[1]);
            return;
        }
        Tensor down, update, back;
        if (Subspace == FrugalSubspace.Svd)
        {
            var proj = state["projector"];
            down = right ? g.matmul(proj.t()) : proj.t().matmul(g);
            var low = AdamUpdate(o, state, down, lr, s);
            update = right ? low.matmul(proj) : proj.matmul(low);
            back = right ? down.matmul(proj) : proj.matmul(down);
        }
        else
        {
            var cols = _columns[p];
            down = g.index_select(1, cols);
            update = zeros_like(p).index_copy_(1, cols, AdamUpdate(o, state, down, lr, s));
            back = zeros_like(g).index_copy_(1, cols, down);
        }
        if (StateFree != FrugalStateFree.None)
        {
            var rest = g.sub(back);
            update.add_(StateFree == FrugalStateFree.SignSgd ? rest.sign() : rest, s[-free]);
        }
        p.add_(update, s[1]);
    }

    /// <summary>A regular (non-projectable) parameter: AdamW whose moments are never reset (the official code's
    /// non-projected group). A state written by an earlier version (with a refresh index) continues with its moments.</summary>
    private static void RegularStep(Options o, Parameter p, Tensor g, ParameterState state)
    {
        using var s = new ScalarHold();
        if (state.TryGet("refresh") is not null || (state.TryGet("exp_avg") is { } m0 && !m0.shape.SequenceEqual(p.shape)))
        {
            var m = state.TryGet("exp_avg");
            var v = state.TryGet("exp_avg_sq");
            bool keep = m is not null && v is not null && m.shape.SequenceEqual(p.shape) && v.shape.SequenceEqual(p.shape);
            var (mk, vk) = keep ? (m!.clone(), v!.clone()) : (null, null);
            long step = keep ? state.Step : 0;
            state.Clear();
            state.Step = step;
            if (mk is not null) { state.Add("exp_avg", mk); state.Add("exp_avg_sq", vk!); }
        }
        if (state.TryGet("exp_avg") is null)
        {
            state.Step = 0;
            state.AddZeros("exp_avg");
            state.AddZeros("exp_avg_sq");
        }
        state.Step++;
        p.add_(AdamUpdate(o, state, g, o.LearningRate!.Value, s), s[1]);
    }

    /// <summary>The official AdamW <c>_compute_update</c>: −(lr / (1 − β1^k)) · m / (√v / √(1 − β2^k) + ε), with the moments updated in place.</summary>
    private static Tensor AdamUpdate(Options o, ParameterState state, Tensor grad, double lr, ScalarHold s)
    {
        double b1 = o.Beta1!.Value, b2 = o.Beta2!.Value;
        var m = state["exp_avg"];
        var v = state["exp_avg_sq"];
        m.mul_(s[b1]).add_(grad, s[1 - b1]);
        v.mul_(s[b2]).addcmul_(grad, grad, s[1 - b2]);
        double bc1 = 1 - Math.Pow(b1, state.Step), bc2 = 1 - Math.Pow(b2, state.Step);
        var denom = v.sqrt().div_(s[Math.Sqrt(bc2)]).add_(s[o.Eps!.Value], s[1]);
        return m.div(denom).mul_(s[-(lr / bc1)]);
    }

    private void FreeStep(Parameter p, Tensor free, double lr, ScalarHold s)
    {
        if (StateFree == FrugalStateFree.SignSgd) p.add_(free.sign(), s[-lr]);
        else if (StateFree == FrugalStateFree.Sgd) p.add_(free, s[-lr]);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var c in _columns.Values) c.Dispose();
            _columns.Clear();
        }
        base.Dispose(disposing);
    }

    /// <summary>FRUGAL's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    /// <remarks>β1, β2, ε and the (decoupled) weight decay come from <see cref="AdamStyleOptions"/>.</remarks>
    public sealed class Options : AdamStyleOptions
    {
        /// <summary>Learning-rate scale s of the state-free update (the official <c>inactive_lr_scale</c>), &gt;= 0.</summary>
        public double? FreeLrScale { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            RequireNonNegative("free_lr_scale", FreeLrScale);
        }
    }
}
