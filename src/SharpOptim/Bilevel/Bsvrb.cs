using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// BSVRB v1 and v2, blockwise stochastic variance-reduced bilevel methods for multi-block problems (Hu, Qiu, Guo, Zhang
/// and Yang, "Blockwise Stochastic Variance-Reduced Methods with Parallel Speedup for Multi-Block Bilevel Optimization",
/// ICML 2023, arXiv 2305.18730; update order read from the official code quanqihu/BSVRB_ICML2023,
/// Hyperparameter_Optimization/HO/main.py, function BSVRB). Problem: <see cref="MultiBlockBilevelProblem"/>,
/// min_x (1/m) Σ_i f_i(x, y_i*(x)).
/// <para>Each iteration draws I blocks (the problem's block sampler) and, per visited block, one lower batch B and one
/// upper batch B'. With (x̄, ȳ_i, v̄_i, H̄_i) the previous iterates, every estimator is evaluated at the current AND the
/// previous iterates on the SAME batch, and only then are the variables updated:</para>
/// <list type="number">
/// <item>MSVR estimate of ∇_y g_i: s_i ← (1 − a)s_i + (a + c)∇_y g_i(x, y_i; B) − c∇_y g_i(x̄, ȳ_i; B).</item>
/// <item>v1: H_i' ← Π((1 − a)H_i + (a + c)∇²_yy g_i(x, y_i; B) − c∇²_yy g_i(x̄, ȳ_i; B)) (dense, from
/// <see cref="HypergradientOracle.LowerHessian"/>); G ← G + ∇_x f_i − ∇²_xy g_i·H_i⁻¹∇_y f_i at (x, y_i) and
/// Ḡ ← Ḡ + the same at (x̄, ȳ_i) with H̄_i: the H_i held at the START of the iteration, not the one just formed.
/// <br/>v2: u_i ← (1 − a)u_i + (a + c)(∇²_yy g_i·v_i − ∇_y f_i)(x, y_i) − c(∇²_yy g_i·v̄_i − ∇_y f_i)(x̄, ȳ_i);
/// G ← G + ∇_x f_i − ∇²_xy g_i·v_i at (x, y_i), Ḡ likewise at (x̄, ȳ_i) with v̄_i (HVP and cross product from one
/// double-backward each).</item>
/// <item>Lower updates. v1: EVERY block moves, y_j ← y_j − τ s_j (unvisited blocks with their stale s_j).
/// v2: only visited blocks move, scaled by the iterations since they were last visited (d_j):
/// y_j ← y_j − τ d_j s_j, v_j ← clip_norm(v_j − τ_v d_j u_j, V).</item>
/// <item>STORM estimate of ∇Φ and the upper step: z ← (1 − b)(z − Ḡ/I) + G/I; x ← x − η z.</item>
/// </list>
/// Defaults of the official scripts: a = 0.9 (MSVR "alpha"), c = 1 (MSVR "gamma"), b = 0.9, η = 1e-3, τ = 0.5 (v1) or
/// 1 (v2), τ_v = τ, V = 10, I = 10 of m = 100 blocks, B = 32.
/// <para>Deviations from the official code, and why:</para>
/// <list type="bullet">
/// <item>The official script's Hessian of the logistic loss has the wrong sign (it tracks λI − ∇²loss); here every
/// second-order quantity comes from autograd.</item>
/// <item>The official v1 "projection" rescales H_i UP to Frobenius norm 10 when it is smaller (a crude guard against a
/// near-singular H_i); here Π is the Frobenius projection onto {H symmetric, H ⪰ h_min·I} (symmetrise, floor the
/// eigenvalues at <see cref="HessianFloor"/>), which keeps H_i invertible with a stated bound.</item>
/// <item>The official code starts every state (x̄, ȳ, v̄, H̄, s, u, z, H, v) from uniform random numbers; here s, u,
/// z and v start at 0, H_i (and H̄_i) at <see cref="InitialCurvature"/>·I, and at the first iteration the previous
/// iterates equal the current ones (so the correction terms cancel).</item>
/// <item>The official f_i does not depend on x; here ∇_x f_i is added to G and Ḡ (it is part of ∇Φ in general).</item>
/// <item>Sampling: the official code shuffles blocks and data once per epoch and slices disjoint batches; here the
/// problem's <see cref="BatchStream"/>s decide (uniform without replacement per draw, or a script).</item>
/// </list>
/// State: s_i (and v1: H_i, H̄_i dense n×n per block, n = y_i's size — v1 is for small lower dimensions, as the paper
/// says; v2: v_i, v̄_i, u_i), ȳ, x̄, z.
/// </summary>
public sealed class Bsvrb : BilevelSolver
{
    private readonly MultiBlockBilevelProblem _multi;
    private readonly HypergradientOracle[] _oracles;
    private readonly Tensor _s, _yOld, _xOld, _z;
    private readonly Tensor? _u, _v, _vOld;
    private Tensor? _h, _hOld;
    private readonly long[] _delay;
    private readonly long _n;

    /// <summary>BSVRB <paramref name="variant"/> on <paramref name="problem"/>.</summary>
    /// <param name="problem">The multi-block problem.</param>
    /// <param name="variant">v1 (dense Hessian estimates) or v2 (linear-system residual estimates).</param>
    /// <param name="outerLr">η, the x step.</param>
    /// <param name="innerLr">τ, the y step.</param>
    /// <param name="systemLr">τ_v, the v step (v2; ignored by v1).</param>
    /// <param name="msvrWeight">a ∈ (0, 1], the MSVR averaging weight (official "alpha" 0.9).</param>
    /// <param name="msvrCorrection">c ≥ 0, the MSVR correction weight (official "gamma" 1).</param>
    /// <param name="stormWeight">b ∈ (0, 1], the STORM weight (official "beta" 0.9).</param>
    /// <param name="vRadius">V, the norm bound of v_i (v2).</param>
    /// <param name="hessianFloor">h_min &gt; 0, the eigenvalue floor of the Hessian estimates (v1): at most the lower
    /// problems' strong-convexity modulus.</param>
    /// <param name="initialCurvature">H_i's starting value is this times I (v1).</param>
    public Bsvrb(MultiBlockBilevelProblem problem, BsvrbVariant variant, StepSchedule outerLr, double innerLr, double systemLr = 1,
        double msvrWeight = 0.9, double msvrCorrection = 1, double stormWeight = 0.9, double vRadius = 10, double hessianFloor = 1e-3,
        double initialCurvature = 1)
        : base((problem ?? throw new ArgumentNullException(nameof(problem))).Combined)
    {
        if (variant is not (BsvrbVariant.V1 or BsvrbVariant.V2)) throw new ArgumentException($"unknown BSVRB variant {variant}.", nameof(variant));
        InnerLr = Positive(innerLr, nameof(innerLr));
        SystemLr = Positive(systemLr, nameof(systemLr));
        if (!(msvrWeight > 0 && msvrWeight <= 1)) throw new ArgumentException($"msvrWeight must be in (0, 1], got {msvrWeight}.", nameof(msvrWeight));
        if (!(msvrCorrection >= 0) || double.IsInfinity(msvrCorrection)) throw new ArgumentException($"msvrCorrection must be finite and at least 0, got {msvrCorrection}.", nameof(msvrCorrection));
        if (!(stormWeight > 0 && stormWeight <= 1)) throw new ArgumentException($"stormWeight must be in (0, 1], got {stormWeight}.", nameof(stormWeight));
        VRadius = Positive(vRadius, nameof(vRadius));
        HessianFloor = Positive(hessianFloor, nameof(hessianFloor));
        InitialCurvature = Positive(initialCurvature, nameof(initialCurvature));
        if (initialCurvature < hessianFloor) throw new ArgumentException($"initialCurvature ({initialCurvature}) must be at least hessianFloor ({hessianFloor}).", nameof(initialCurvature));
        _multi = problem;
        Variant = variant;
        OuterLr = outerLr;
        MsvrWeight = msvrWeight;
        MsvrCorrection = msvrCorrection;
        StormWeight = stormWeight;
        int m = problem.BlockCount;
        _n = problem.Y[0].numel();
        _oracles = Enumerable.Range(0, m).Select(i => new HypergradientOracle(problem.Block(i))).ToArray();
        _delay = new long[m];
        using var _ = no_grad();
        var y = problem.Y;
        _s = zeros_like(y).detach().DetachFromDisposeScope();
        _yOld = y.detach().clone().DetachFromDisposeScope();
        _xOld = problem.X.detach().clone().DetachFromDisposeScope();
        _z = zeros_like(problem.X).detach().DetachFromDisposeScope();
        if (variant == BsvrbVariant.V2)
        {
            _u = zeros_like(y).detach().DetachFromDisposeScope();
            _v = zeros_like(y).detach().DetachFromDisposeScope();
            _vOld = zeros_like(y).detach().DetachFromDisposeScope();
        }
        else
        {
            using var hold = new SharpOptim.Optimizers.ScalarHold();
            var eye = TorchSharp.torch.eye(_n, dtype: y.dtype, device: y.device).mul(hold[initialCurvature]);
            _h = eye.unsqueeze(0).repeat(m, 1, 1).DetachFromDisposeScope();
            _hOld = _h.clone().DetachFromDisposeScope();
            eye.Dispose();
        }
    }

    /// <summary>v1 or v2.</summary>
    public BsvrbVariant Variant { get; }
    /// <summary>η_t, the x step.</summary>
    public StepSchedule OuterLr { get; }
    /// <summary>τ, the y step.</summary>
    public double InnerLr { get; }
    /// <summary>τ_v, the v step (v2).</summary>
    public double SystemLr { get; }
    /// <summary>a, the MSVR averaging weight.</summary>
    public double MsvrWeight { get; }
    /// <summary>c, the MSVR correction weight.</summary>
    public double MsvrCorrection { get; }
    /// <summary>b, the STORM weight.</summary>
    public double StormWeight { get; }
    /// <summary>V, v_i's norm bound (v2).</summary>
    public double VRadius { get; }
    /// <summary>The eigenvalue floor of the Hessian estimates (v1).</summary>
    public double HessianFloor { get; }
    /// <summary>H_i's starting multiple of the identity (v1).</summary>
    public double InitialCurvature { get; }
    /// <summary>The multi-block problem.</summary>
    public MultiBlockBilevelProblem MultiBlockProblem => _multi;
    /// <summary>The STORM estimate z of ∇Φ.</summary>
    public Tensor Z => _z;

    /// <inheritdoc />
    public override OracleCounts Counts
    {
        get
        {
            long u = 0, l = 0, s = 0;
            foreach (var o in _oracles) { var c = o.Counts; u += c.UpperGradients; l += c.LowerGradients; s += c.SecondOrder; }
            return new OracleCounts(u, l, s);
        }
    }

    /// <inheritdoc />
    protected override Tensor StepCore(long t)
    {
        var x = _multi.X;
        var y = _multi.Y;
        double a = MsvrWeight, c = MsvrCorrection;
        using var blockTensor = _multi.BlockSampler.Next();
        long[] blocks = blockTensor is null ? Enumerable.Range(0, _multi.BlockCount).Select(i => (long)i).ToArray() : blockTensor.data<long>().ToArray();
        foreach (var b in blocks)
            if (b < 0 || b >= _multi.BlockCount) throw new InvalidOperationException($"The block sampler drew block {b}, outside [0, {_multi.BlockCount}).");
        var gNew = zeros_like(x);
        var gOld = zeros_like(x);
        var hNext = _h?.clone();
        foreach (var i in blocks)
        {
            var oracle = _oracles[i];
            var lower = _multi.LowerBatches.Next();
            var upper = _multi.UpperBatches.Next();
            var yi = y[i];
            var yOldi = _yOld[i];
            var dyNew = oracle.LowerGradientY(x, yi, lower);
            var dyOld = oracle.LowerGradientY(_xOld, yOldi, lower);
            Msvr(_s[i], dyNew, dyOld, a, c);
            var (fxNew, fyNew) = oracle.UpperGradient(x, yi, upper);
            var (fxOld, fyOld) = oracle.UpperGradient(_xOld, yOldi, upper);
            Tensor crossNew, crossOld;
            if (Variant == BsvrbVariant.V2)
            {
                var (hvNew, cvNew) = oracle.LowerSecondOrder(x, yi, _v![i], lower);
                var (hvOld, cvOld) = oracle.LowerSecondOrder(_xOld, yOldi, _vOld![i], lower);
                Msvr(_u![i], TensorMath.Combine(hvNew, -1.0, fyNew), TensorMath.Combine(hvOld, -1.0, fyOld), a, c);
                crossNew = cvNew!;
                crossOld = cvOld!;
            }
            else
            {
                var hessNew = oracle.LowerHessian(x, yi, lower);
                var hessOld = oracle.LowerHessian(_xOld, yOldi, lower);
                var hi = hNext![i];
                Msvr(hi, hessNew, hessOld, a, c);
                TensorMath.Assign(hi, FloorEigenvalues(hi, HessianFloor));
                var wNew = linalg.solve(_h![i], fyNew.reshape(_n)).reshape(yi.shape);
                var wOld = linalg.solve(_hOld![i], fyOld.reshape(_n)).reshape(yi.shape);
                crossNew = oracle.LowerSecondOrder(x, yi, wNew, lower).Hxy!;
                crossOld = oracle.LowerSecondOrder(_xOld, yOldi, wOld, lower).Hxy!;
            }
            TensorMath.Axpy(gNew, 1.0, TensorMath.Combine(fxNew, -1.0, crossNew));
            TensorMath.Axpy(gOld, 1.0, TensorMath.Combine(fxOld, -1.0, crossOld));
        }

        var yBefore = y.detach().clone();
        if (Variant == BsvrbVariant.V1)
        {
            TensorMath.Axpy(y, -InnerLr, _s);
        }
        else
        {
            TensorMath.Assign(_vOld!, _v!);
            var visited = new HashSet<long>(blocks);
            for (int j = 0; j < _multi.BlockCount; j++)
            {
                if (!visited.Contains(j)) { _delay[j]++; continue; }
                double d = _delay[j] + 1;
                TensorMath.Axpy(y[j], -InnerLr * d, _s[j]);
                var vj = _v![j];
                TensorMath.Axpy(vj, -SystemLr * d, _u![j]);
                TensorMath.ClipNorm(vj, VRadius);
                _delay[j] = 0;
            }
        }
        TensorMath.Assign(_yOld, yBefore);
        TensorMath.Assign(_xOld, x);
        double inv = 1.0 / blocks.Length;
        // z ← (1 − b)(z − Ḡ/I) + G/I
        TensorMath.Axpy(_z, -inv, gOld);
        TensorMath.Blend(_z, 1 - StormWeight, inv, gNew);
        TensorMath.Axpy(x, -OuterLr.At(t), _z);
        if (hNext is not null)
        {
            TensorMath.Assign(_hOld!, _h!);
            TensorMath.Assign(_h!, hNext);
        }
        return _z;
    }

    /// <summary>e ← (1 − a)e + (a + c)·now − c·before, in place.</summary>
    private static void Msvr(Tensor e, Tensor now, Tensor before, double a, double c)
    {
        TensorMath.Blend(e, 1 - a, a + c, now);
        TensorMath.Axpy(e, -c, before);
    }

    /// <summary>The Frobenius projection of <paramref name="h"/> onto {symmetric, eigenvalues ≥ <paramref name="floor"/>}.</summary>
    private static Tensor FloorEigenvalues(Tensor h, double floor)
    {
        using var s = new SharpOptim.Optimizers.ScalarHold();
        var sym = h.add(h.transpose(0, 1), s[1.0]).mul(s[0.5]);
        var (values, vectors) = linalg.eigh(sym);
        var clamped = values.clamp_min(s[floor]);
        return (vectors * clamped.unsqueeze(0)).matmul(vectors.transpose(0, 1));
    }
}
