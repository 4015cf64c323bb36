using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// The nested compositional bilevel method — a RECONSTRUCTION. Chen, Balasubramanian and Ghadimi, "Stochastic Nested
/// Compositional Bi-level Optimization for Robust Feature Learning" (arXiv 2307.05384) solve
/// min_x f_1(f_2(… f_T(x, y*(x)) …)) (see <see cref="NestedCompositionalProblem"/>) with stochastic first-order oracles
/// of the individual functions, no matrix inversion and no minibatches, in Õ_T(ε⁻²) oracle calls; only the abstract
/// was read and no code was found, so this is NOT the paper's algorithm or constants. Implemented (a linearised
/// moving-average multilevel scheme in the style of Balasubramanian, Ghadimi and Nguyen's level-independent method,
/// fed by a truncated-Neumann hypergradient; shared/papers/bilevel.md §6), per iteration k with trackers u_1 … u_T of
/// the level values and a direction z:
/// <list type="number">
/// <item>Lower step: y ← y − β_k ∇_y g(x, y; φ).</item>
/// <item>At the current trackers, for i = 1 … T−1: value f_i(u_{i+1}; ξ_i) and Jacobian J_i = ∂f_i(u_{i+1}; ξ_i)
/// (dense, d_i × d_{i+1}); w = J_1 J_2 ⋯ J_{T−1} (a d_T vector).</item>
/// <item>Hypergradient of x ↦ ⟨w, f_T(x, y*(x))⟩ at (x, y): d = ∇_x f_T·w − ∇²_xy g·ṽ with p = ∇_y⟨w, f_T⟩ and
/// ṽ = η·Q·(I − η∇²_yy g(φ_q̃))⋯(I − η∇²_yy g(φ_1))·p, q̃ uniform on {0, …, Q−1} (randomised truncation, an unbiased
/// estimate of η Σ_{q&lt;Q}(I − ηH)^q p; an independent lower batch per factor), or with
/// <c>randomizedTruncation: false</c> the deterministic sum ṽ = η Σ_{q=0}^{Q−1}(I − ηH)^q p (this library's option,
/// for reproducible runs and the parity test).</item>
/// <item>z ← (1 − τ_k) z + τ_k d (z ← d at k = 0); x ← x − α_k z.</item>
/// <item>Trackers: u_T ← f_T(x, y; ξ) at the new x; for i = T−1 down to 1:
/// u_i ← (1 − τ_k) u_i + τ_k f_i(u_{i+1}^{old}) + J_i (u_{i+1}^{new} − u_{i+1}^{old}) (the linearised correction,
/// with the value and Jacobian of step 2). At k = 0 the trackers start at the exact chain u_T = f_T(x_0, y_0),
/// u_i = f_i(u_{i+1}).</item>
/// </list>
/// Costs per iteration: 1 lower gradient; T−1 level Jacobians (d_i backwards each, so meant for small intermediate
/// dimensions, as the composition levels of the application are); 1 upper gradient; q̃ (or Q−1) Hessian-vector products
/// and 1 cross product of g; counted in <see cref="Counts"/> (level backwards add to the upper count).
/// Deviations to expect against the paper: the averaging weights, the use of one τ for z and the trackers, the
/// plain (not averaged) innermost tracker, the dense Jacobians and the Neumann form are all this library's choices.
/// </summary>
public sealed class NestedCompositionalBilevel : BilevelSolver
{
    private readonly NestedCompositionalProblem _nested;
    private readonly System.Random _random;
    private Tensor[]? _trackers;   // u_1 … u_T as _trackers[0 … T−1]
    private Tensor? _z;
    private long _levelBackwards;

    /// <summary>The method on <paramref name="problem"/> (see the class remarks).</summary>
    /// <param name="problem">The nested compositional problem.</param>
    /// <param name="outerLr">α_k.</param>
    /// <param name="innerLr">β_k.</param>
    /// <param name="averaging">τ_k, each value in (0, 1].</param>
    /// <param name="neumannLr">η (at most 1/L_g for the series to converge).</param>
    /// <param name="neumannTerms">Q ≥ 1.</param>
    /// <param name="randomizedTruncation">Draw q̃ (true, the reconstructed estimator) or sum all Q terms (false).</param>
    /// <param name="seed">Seeds q̃.</param>
    public NestedCompositionalBilevel(NestedCompositionalProblem problem, StepSchedule outerLr, StepSchedule innerLr, StepSchedule averaging,
        double neumannLr, int neumannTerms, bool randomizedTruncation = true, int seed = 0) : base(SurrogateOf(problem))
    {
        if (averaging.Initial > 1) throw new ArgumentException($"averaging τ must be in (0, 1], got τ_0 = {averaging.Initial}.", nameof(averaging));
        NeumannLr = Positive(neumannLr, nameof(neumannLr));
        NeumannTerms = Count(neumannTerms, nameof(neumannTerms));
        _nested = problem;
        OuterLr = outerLr;
        InnerLr = innerLr;
        Averaging = averaging;
        RandomizedTruncation = randomizedTruncation;
        _random = new System.Random(seed);
    }

    private static BilevelProblem SurrogateOf(NestedCompositionalProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        return problem.Surrogate;
    }

    /// <summary>α_k.</summary>
    public StepSchedule OuterLr { get; }
    /// <summary>β_k.</summary>
    public StepSchedule InnerLr { get; }
    /// <summary>τ_k.</summary>
    public StepSchedule Averaging { get; }
    /// <summary>η.</summary>
    public double NeumannLr { get; }
    /// <summary>Q.</summary>
    public int NeumannTerms { get; }
    /// <summary>Whether the Neumann truncation is randomised.</summary>
    public bool RandomizedTruncation { get; }
    /// <summary>The tracker u_1 of the objective Φ (NaN before the first step).</summary>
    public double ObjectiveEstimate
    {
        get
        {
            if (_trackers is null) return double.NaN;
            using var scope = NewDisposeScope();
            return _trackers[0].to_type(ScalarType.Float64).item<double>();
        }
    }

    /// <inheritdoc />
    public override OracleCounts Counts
    {
        get { var c = Oracle.Counts; return c with { UpperGradients = c.UpperGradients + _levelBackwards }; }
    }

    /// <inheritdoc />
    protected override Tensor StepCore(long t)
    {
        var x = Problem.X;
        var y = Problem.Y;
        int levels = _nested.Levels.Count;
        if (_trackers is null) InitialiseTrackers(x, y);
        var u = _trackers!;

        // 2. Level values and Jacobians at the current trackers; w = J_1 ⋯ J_{T−1}.
        var values = new Tensor[levels];
        var jacobians = new Tensor[levels];
        for (int i = 0; i < levels; i++)
        {
            int expected = i == 0 ? 1 : (int)u[i].numel();
            (values[i], jacobians[i]) = CompositionLevelOracle.ValueAndJacobian(_nested.Levels[i], i + 1, u[i + 1], UpperBatch(), expected, ref _levelBackwards);
        }
        var w = jacobians[0].reshape(jacobians[0].shape[1]);
        for (int i = 1; i < levels; i++) w = jacobians[i].t().mv(w);
        _nested.SetWeights(w);

        // 1. Lower step (after the level evaluations, so that a level failing its checks changes nothing).
        var gy = Oracle.LowerGradientY(x, y, LowerBatch());
        TensorMath.Axpy(y, -InnerLr.At(t), gy);

        // 3. Hypergradient of ⟨w, f_T(x, y*(x))⟩ by a (randomised) truncated Neumann series.
        var (fx, fy) = Oracle.UpperGradient(x, y, UpperBatch());
        var v = NeumannSolve(x, y, fy);
        var (_, cross) = Oracle.LowerSecondOrder(x, y, v, LowerBatch());
        var d = TensorMath.Combine(fx, -1.0, cross!);

        // 4. Direction and upper step.
        double tau = Averaging.At(t);
        if (_z is null) _z = d.detach().clone().DetachFromDisposeScope();
        else TensorMath.Blend(_z, 1 - tau, tau, d);
        TensorMath.Axpy(x, -OuterLr.At(t), _z);

        // 5. Trackers, innermost first, each corrected by the change of the level below.
        var innerNew = _nested.InnermostValue(x.detach(), y.detach(), UpperBatch(), (int)u[levels].numel()).detach();
        var below = TensorMath.Combine(innerNew, -1.0, u[levels]);
        TensorMath.Assign(u[levels], innerNew);
        for (int i = levels - 1; i >= 0; i--)
        {
            var correction = jacobians[i].mv(below);
            var old = u[i].clone();
            TensorMath.Blend(u[i], 1 - tau, tau, values[i]);
            TensorMath.Axpy(u[i], 1.0, correction);
            below = TensorMath.Combine(u[i], -1.0, old);
        }
        return _z.clone();
    }

    /// <summary>ṽ: randomised (η·Q·(I − ηH)^q̃ p) or full (η Σ_{q&lt;Q} (I − ηH)^q p) truncated Neumann series.</summary>
    private Tensor NeumannSolve(Tensor x, Tensor y, Tensor p)
    {
        var current = p.clone();
        if (RandomizedTruncation)
        {
            int depth = _random.Next(NeumannTerms);
            for (int q = 0; q < depth; q++)
            {
                var (hp, _) = Oracle.LowerSecondOrder(x, y, current, LowerBatch(), withCross: false);
                TensorMath.Axpy(current, -NeumannLr, hp);
            }
            using var s = new SharpOptim.Optimizers.ScalarHold();
            return current.mul(s[NeumannLr * NeumannTerms]);
        }
        var acc = current.clone();
        for (int q = 1; q < NeumannTerms; q++)
        {
            var (hp, _) = Oracle.LowerSecondOrder(x, y, current, LowerBatch(), withCross: false);
            TensorMath.Axpy(current, -NeumannLr, hp);
            TensorMath.Axpy(acc, 1.0, current);
        }
        using var h = new SharpOptim.Optimizers.ScalarHold();
        return acc.mul(h[NeumannLr]);
    }

    private void InitialiseTrackers(Tensor x, Tensor y)
    {
        int levels = _nested.Levels.Count;
        var u = new Tensor[levels + 1];
        u[levels] = _nested.InnermostValue(x.detach(), y.detach(), UpperBatch(), -1).detach().clone().DetachFromDisposeScope();
        for (int i = levels - 1; i >= 0; i--)
            u[i] = CompositionLevelOracle.Value(_nested.Levels[i], i + 1, u[i + 1], UpperBatch(), i == 0 ? 1 : -1).DetachFromDisposeScope();
        _trackers = u;
    }
}
