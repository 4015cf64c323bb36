using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// GaLore: Zhao et al., "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection", ICML 2024
/// (arXiv:2403.03507); official code jiaweizzhao/GaLore, galore_torch/adamw.py and galore_projector.py, whose
/// AdamW step and "std" projector this reproduces.
/// <para>For a matrix parameter W (m × n) in a GaLore group, gradient G, rank r, step t (from 0):</para>
/// <code>
/// every T steps (t mod T = 0): U, S, Vᵀ = svd(G);  P = Vᵀ[:r, :] (right, when m ≥ n) or U[:, :r] (left, m &lt; n)
/// R  = G Pᵀ (right)  or  Pᵀ G (left)                     low-rank gradient, m × r or r × n
/// M ← β1 M + (1 − β1) R;   V ← β2 V + (1 − β2) R²        Adam moments in the projected space
/// N  = M / (√V + ε)
/// W ← W − lr · √(1 − β2^(t+1)) / (1 − β1^(t+1)) · α · (N P  or  P N)
/// W ← W − lr · λ · W                                      decoupled weight decay, after the update (official order)
/// </code>
/// <para>
/// Parameters outside GaLore groups (vectors, embeddings and output heads by the default routing, or whatever
/// <c>useGaLore</c> says) get the same AdamW without projection. Defaults as the official optimizer and its README
/// settings: lr 1e-3, β = (0.9, 0.999), ε = 1e-6, λ = 0, rank 128, update_proj_gap T = 200, scale α = 0.25,
/// projection "std" (<see cref="GaLoreProjection"/>).
/// State per GaLore matrix: P plus the two moments in the projected space, 4·(r·n + 2·m·r) bytes for m ≥ n and
/// 4·(m·r + 2·r·n) for m &lt; n (float32), against AdamW's 8·m·n; <see cref="OptimizerBase.MemoryReport"/> lists both.
/// </para>
/// <para>
/// Deviations: (1) each singular vector's sign is normalised so that its largest-magnitude entry is positive. SVD signs
/// are arbitrary and differ between LAPACK builds; the official code keeps whatever its build returns, and because
/// the moments carry over when P is recomputed, that choice changes the trajectory. Normalising makes results
/// independent of the LAPACK build; with a single projection (no recomputation) the update is sign-invariant anyway.
/// (2) A rank above min(m, n) acts as min(m, n), as the official slicing does; a rank below 1 is refused. (3) Only
/// matrices: the official tensor projector (Tucker, for conv kernels) is not included, so routing a parameter
/// with more than two dimensions to GaLore is refused. (4) Moments are kept, not re-projected, when P changes, as in
/// the official code (the paper notes this is what it does). (5) Portable path only (SVD and matmuls).
/// </para>
/// </summary>
public sealed class GaLore : OptimizerBase, TorchSharp.torch.optim.IBetas
{
    /// <summary>β1 and β2 of the defaults, for TorchSharp's schedulers that cycle momentum (OneCycleLR); each group's own are in <see cref="OptimizerBase.ParamGroups"/>.</summary>
    (double, double) TorchSharp.torch.optim.IBetas.Betas { get => DefaultBetas; set => DefaultBetas = value; }

    /// <summary>Not available: GaLore chooses the matrices it projects by module name (attention and MLP weights, as the official code does). Pass model.named_parameters(), or explicit groups.</summary>
    [Obsolete("GaLore chooses the matrices it projects by module name (attention and MLP weights, as the official code does). Pass model.named_parameters(), or explicit groups.", error: true)]
    public GaLore(IEnumerable<Parameter> parameters) : this(NamesRequired(parameters, "GaLore")) { }

    /// <summary>
    /// GaLore over named parameters: matrices go to GaLore groups unless their name marks them as an embedding or
    /// output head (<see cref="Muon.IsHiddenMatrix"/>'s rule), or as <paramref name="useGaLore"/> says.
    /// </summary>
    public GaLore(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 1e-3, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-6, double weight_decay = 0, long rank = 128, long update_proj_gap = 200,
        double scale = 0.25, GaLoreProjection projection = GaLoreProjection.Std, Func<string, Parameter, bool>? useGaLore = null)
        : this(Route(parameters, useGaLore, rank),
            new Options { LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps, WeightDecay = weight_decay, Rank = 0,
                UpdateProjGap = update_proj_gap, Scale = scale, Projection = (long)projection }) { }

    /// <summary>GaLore over explicit groups: set <see cref="Options.Rank"/> &gt; 0 on the groups to project.</summary>
    public GaLore(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-6,
        double weight_decay = 0, long update_proj_gap = 200, double scale = 0.25, GaLoreProjection projection = GaLoreProjection.Std)
        : base(groups, new Options { LearningRate = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps, WeightDecay = weight_decay, Rank = 0,
            UpdateProjGap = update_proj_gap, Scale = scale, Projection = (long)projection }, null) { }

    private GaLore((ParamGroup[] Groups, Dictionary<Parameter, string> Names) routed, Options defaults)
        : base(routed.Groups, defaults, routed.Names) { }

    private static (ParamGroup[], Dictionary<Parameter, string>) Route(IEnumerable<(string name, Parameter parameter)> named,
        Func<string, Parameter, bool>? useGaLore, long rank)
    {
        ArgumentNullException.ThrowIfNull(named);
        if (rank < 1) throw new ArgumentException(FormattableString.Invariant($"Invalid rank: {rank} (must be >= 1)."), nameof(rank));
        var names = new Dictionary<Parameter, string>(ReferenceEqualityComparer.Instance);
        var low = new List<Parameter>();
        var plain = new List<Parameter>();
        foreach (var (n, p) in named)
        {
            names.TryAdd(p, n);
            bool g = useGaLore?.Invoke(n, p) ?? (p.ndim == 2 && Muon.IsHiddenMatrix(n, p));
            if (g && p.ndim != 2)
                throw new ArgumentException(FormattableString.Invariant($"Parameter '{n}' (shape [{string.Join(", ", p.shape)}]) was routed to GaLore but is not a matrix."));
            (g ? low : plain).Add(p);
        }
        var groups = new List<ParamGroup>();
        if (low.Count > 0) groups.Add(new ParamGroup<Options>(low, new Options { Rank = rank }));
        if (plain.Count > 0) groups.Add(new ParamGroup<Options>(plain, new Options { Rank = 0 }));
        return (groups.ToArray(), names);
    }

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override bool ShapeFlexibleState => true;

    private static bool RightSide(Options o, Tensor p)
    {
        bool tall = p.shape[0] >= p.shape[1];
        return (GaLoreProjection)o.Projection!.Value switch
        {
            GaLoreProjection.Std => tall,
            GaLoreProjection.ReverseStd => !tall,
            GaLoreProjection.Right => true,
            _ => false,
        };
    }

    /// <summary>The projected (low-rank) shape of a parameter's moments, and the projector's shape.</summary>
    private static (long[] Moments, long[] Projector) Shapes(Options o, Tensor p)
    {
        long m = p.shape[0], n = p.shape[1];
        long r = Math.Min(o.Rank!.Value, Math.Min(m, n));
        return RightSide(o, p) ? (new[] { m, r }, new[] { r, n }) : (new[] { r, n }, new[] { m, r });
    }

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        var o = (Options)options;
        if (o.Rank!.Value == 0)
        {
            state.AddZeros("exp_avg");
            state.AddZeros("exp_avg_sq");
            return;
        }
        if (parameter.ndim != 2)
            throw new InvalidOperationException(FormattableString.Invariant($"Parameter '{state.Name}' is in a GaLore group but is not a matrix."));
        var (moments, projector) = Shapes(o, parameter);
        state.Add("exp_avg", zeros(moments, dtype: parameter.dtype, device: parameter.device));
        state.Add("exp_avg_sq", zeros(moments, dtype: parameter.dtype, device: parameter.device));
        state.Add("projector", zeros(projector, dtype: parameter.dtype, device: parameter.device));
    }

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        var o = (Options)options;
        double lr = o.LearningRate!.Value, b1 = o.Beta1!.Value, b2 = o.Beta2!.Value;
        bool project = o.Rank!.Value > 0;
        bool right = project && RightSide(o, p);
        Tensor r = g;
        if (project)
        {
            var proj = state["projector"];
            if (state.Step % o.UpdateProjGap!.Value == 0) proj.copy_(Projector(g, proj.shape, right));
            r = right ? g.matmul(proj.t()) : proj.t().matmul(g);
        }
        var m = state["exp_avg"];
        var v = state["exp_avg_sq"];
        state.Step++;
        using var s = new ScalarHold();
        m.mul_(s[b1]).add_(r, s[1 - b1]);
        v.mul_(s[b2]).addcmul_(r, r, s[1 - b2]);
        var denom = v.sqrt().add_(s[o.Eps!.Value], s[1]);
        double stepSize = lr * Math.Sqrt(1 - Math.Pow(b2, state.Step)) / (1 - Math.Pow(b1, state.Step));
        var normalized = m / denom;
        if (project)
        {
            var proj = state["projector"];
            normalized = (right ? normalized.matmul(proj) : proj.matmul(normalized)).mul(s[o.Scale!.Value]);
        }
        p.add_(normalized, s[-stepSize]);
        double wd = o.WeightDecay!.Value;
        if (wd > 0) p.add_(p, s[-lr * wd]);
    }

    /// <summary>
    /// The rank-r projector of <paramref name="g"/>: the top right singular vectors as rows (r × n) or the top left
    /// singular vectors as columns (m × r), each with its largest-magnitude entry made positive. Computed in float32
    /// or float64 (other dtypes are promoted to float32 and the result cast back, as the official code does).
    /// </summary>
    public static Tensor Projector(Tensor g, long[] shape, bool right) => Projector(g, shape, right, float64: false);

    /// <summary>As <see cref="Projector(Tensor, long[], bool)"/>; with <paramref name="float64"/> the SVD runs in
    /// float64 and the result is rounded to g's dtype (FRUGAL uses this; see its docs).</summary>
    public static Tensor Projector(Tensor g, long[] shape, bool right, bool float64)
    {
        ArgumentNullException.ThrowIfNull(g);
        using var scope = NewDisposeScope();
        var a = float64 ? g.to_type(ScalarType.Float64) : g.dtype is ScalarType.Float32 or ScalarType.Float64 ? g : g.to_type(ScalarType.Float32);
        var (u, _, vh) = linalg.svd(a, fullMatrices: false);
        Tensor pm;
        if (right)
        {
            pm = vh[..(int)shape[0], ..];
            var idx = pm.abs().argmax(1, keepdim: true);
            pm = pm * pm.gather(1, idx).sign();
        }
        else
        {
            pm = u[.., ..(int)shape[1]];
            var idx = pm.abs().argmax(0, keepdim: true);
            pm = pm * pm.gather(0, idx).sign();
        }
        return pm.to_type(g.dtype).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>GaLore's hyperparameters; unset (null) values inherit the optimizer's defaults.</summary>
    public sealed class Options : AdamStyleOptions
    {
        /// <summary>Projection rank; 0 for plain AdamW (no projection).</summary>
        public long? Rank { get; set; }
        /// <summary>Steps between recomputations of the projector (T), &gt;= 1.</summary>
        public long? UpdateProjGap { get; set; }
        /// <summary>Scale α of the projected-back update, &gt;= 0.</summary>
        public double? Scale { get; set; }
        /// <summary>Which side the projector acts on (<see cref="GaLoreProjection"/> as a number).</summary>
        public long? Projection { get; set; }

        /// <inheritdoc />
        public override void Validate()
        {
            base.Validate();
            if (Rank is < 0) throw new ArgumentException(FormattableString.Invariant($"Invalid rank: {Rank} (must be >= 1, or 0 for no projection)."), "rank");
            if (UpdateProjGap is < 1) throw new ArgumentException(FormattableString.Invariant($"Invalid update_proj_gap: {UpdateProjGap} (must be >= 1)."), "update_proj_gap");
            RequireNonNegative("scale", Scale);
            if (Projection is { } pr && !Enum.IsDefined(typeof(GaLoreProjection), (int)pr))
                throw new ArgumentException(FormattableString.Invariant($"Invalid projection: {pr} (0 std, 1 reverse_std, 2 left, 3 right)."), "projection");
        }
    }
}
