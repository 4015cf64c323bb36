using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.MultiTask;

/// <summary>
/// MARIGOLD — Chen, He, Xu, Huang, Liu, Liu, Tian, Wei, Jin, Park, Long &amp; Feng, "Feed m Birds with One Scone:
/// Accelerating Multi-task Gradient Balancing via Bi-level Optimization", arXiv:2603.07389 (2026).
/// <para><b>Reconstruction.</b> Only the abstract could be read (no full text, no public code): it establishes that
/// MARIGOLD views gradient balancing and training as one bi-level problem, coupled throughout training, and solves it
/// with a zeroth-order method so that not every task gradient is needed. The rule below is this library's
/// reconstruction (../shared/papers/multitask.md §5); it is NOT known to be the paper's algorithm.</para>
/// <para>Reconstructed bi-level view: lower level w*(θ) = argmin_{w∈Δ} ½‖G w‖² + (ρ/2)‖w‖² (MGDA's problem), upper
/// level θ follows G w*. A single-loop scheme takes one step on each per batch. The lower level's gradient
/// Gᵀ(Gw) + ρw needs, beyond d = Gw (one backward of Σ w_t L_t), only the directional derivatives (Gᵀd)_t = ⟨g_t, d⟩ of
/// every task loss along d, which one extra forward estimates for all T tasks at once:
/// (Gᵀd)_t ≈ [L_t(· + μd) − L_t(·)]/μ (or the central difference with two forwards).</para>
/// <para>Step k here, on the shared representation Z (the cheapest place: the probe re-runs the heads only):
/// (1) d_Z = ∂(Σ_t w_{k,t} L_t)/∂Z by one head-only backward; (2) one head-only backward of Σ_t L_t gives the heads
/// their unweighted task gradients, as in the other balancers (the paper may instead let the heads take weighted
/// gradients, saving this pass); (3) μ = μ₀/‖d_Z‖ and one forward of the heads at Z + μ d_Z (no graph) gives
/// ĝ_t = [L_t(Z + μd_Z) − L_t(Z)]/μ; (4) w_{k+1} = Π_Δ(w_k − γ(ĝ/‖d_Z‖² + ρ w_k)) — ĝ is divided by ‖d_Z‖² = w_kᵀĝ
/// (exactly, for the exact Gᵀd) so that the step is scale-free, and since Π_Δ ignores a constant shift, the
/// fixed points are MGDA's: (Mw)_t/(wᵀMw) = 1 on the support; (5) one trunk backward of d_Z. The direction of this
/// step uses w_k; w starts uniform. Cost per step: 2 head backward, 1 head forward (2 central), 1 trunk backward,
/// independent of T; state: T weights. Defaults γ = 0.1, μ₀ = 1e-2 (a float32 forward difference with a smaller
/// probe loses digits to cancellation; use float64 models for smaller), ρ = 0. A non-finite probe leaves w unchanged
/// for the step. Heads must be deterministic (no dropout) for the difference to mean anything.</para>
/// </summary>
public sealed class Marigold : GradientBalancer
{
    private double[]? _w;
    private int _steps;

    /// <summary>MARIGOLD (reconstruction) on the shared representation.</summary>
    /// <exception cref="ArgumentException">A non-positive or non-finite step size or perturbation, or a negative
    /// regularisation.</exception>
    public Marigold(double stepSize = 0.1, double perturbation = 1e-2, bool central = false, double regularization = 0)
    {
        if (!(stepSize > 0) || double.IsInfinity(stepSize))
            throw new ArgumentException(FormattableString.Invariant($"stepSize must be positive and finite; got {stepSize}."), nameof(stepSize));
        if (!(perturbation > 0) || double.IsInfinity(perturbation))
            throw new ArgumentException(FormattableString.Invariant($"perturbation must be positive and finite; got {perturbation}."), nameof(perturbation));
        if (!(regularization >= 0) || double.IsInfinity(regularization))
            throw new ArgumentException(FormattableString.Invariant($"regularization must be finite and non-negative; got {regularization}."), nameof(regularization));
        StepSize = stepSize;
        Perturbation = perturbation;
        Central = central;
        Regularization = regularization;
    }

    /// <inheritdoc />
    public override string Name => "marigold";
    /// <inheritdoc />
    public override bool SupportsSharedParameters => false;
    /// <inheritdoc />
    public override bool SupportsSharedRepresentation => true;
    /// <inheritdoc />
    public override BalancingMode PreferredMode => BalancingMode.SharedRepresentation;
    /// <summary>γ, the step size on w.</summary>
    public double StepSize { get; }
    /// <summary>μ₀, the length of the probe in representation space.</summary>
    public double Perturbation { get; }
    /// <summary>Whether the probe is a central difference (two forwards).</summary>
    public bool Central { get; }
    /// <summary>ρ, the lower level's ridge term.</summary>
    public double Regularization { get; }
    /// <summary>The weights the next step will use (uniform before the first step; null until the task count is known).</summary>
    public double[]? Weights => _w is null ? null : (double[])_w.Clone();
    /// <summary>The last step's zeroth-order estimate ĝ of (Gᵀd)_t = ⟨∂L_t/∂Z, d_Z⟩.</summary>
    public double[]? LastEstimate { get; private set; }
    /// <summary>The last step's ‖d_Z‖².</summary>
    public double LastDirectionSquaredNorm { get; private set; }
    /// <summary>Steps taken.</summary>
    public int Steps => _steps;

    /// <inheritdoc />
    protected override BalanceReport BackwardSharedParameters(IReadOnlyList<Tensor> losses, double[] values, IReadOnlyList<Tensor> sharedParameters) =>
        throw new NotSupportedException("marigold balances on the shared representation only.");

    /// <inheritdoc />
    protected override BalanceReport BackwardSharedRepresentation(Tensor representation, Tensor detached,
        Func<Tensor, IReadOnlyList<Tensor>> heads, IReadOnlyList<Tensor> losses, double[] values)
    {
        int t = losses.Count;
        var w = _w ?? Enumerable.Repeat(1.0 / t, t).ToArray();
        Tensor dz;
        using (var weighted = WeightedSum(losses, w))
            dz = autograd.grad(new[] { weighted }, new[] { detached }, retain_graph: true)[0];
        using (dz)
        {
            using (var plain = WeightedSum(losses, Enumerable.Repeat(1.0, t).ToArray())) plain.backward();
            double dn2;
            using (var d64 = dz.detach().reshape(-1).to(ScalarType.Float64)) using (var sq = d64.dot(d64)) dn2 = sq.cpu().item<double>();
            double[] next = w;
            int probes = 0;
            double[]? estimate = null;
            if (dn2 > 0 && double.IsFinite(dn2))
            {
                double mu = Perturbation / Math.Sqrt(dn2);
                var plus = Probe(heads, detached, dz, mu, t);
                var minus = Central ? Probe(heads, detached, dz, -mu, t) : values;
                probes = Central ? 2 : 1;
                estimate = new double[t];
                for (int i = 0; i < t; i++) estimate[i] = (plus[i] - minus[i]) / (Central ? 2 * mu : mu);
                if (estimate.All(double.IsFinite))
                    next = MinNormSolver.ProjectOntoSimplex(Enumerable.Range(0, t).Select(i => w[i] - StepSize * (estimate[i] / dn2 + Regularization * w[i])).ToArray());
            }
            representation.backward(new[] { dz });
            LastEstimate = estimate;
            LastDirectionSquaredNorm = dn2;
            LastWeights = (double[])w.Clone();
            _w = next;
            _steps++;
            TaskCount = t;
            return new BalanceReport(values, LastWeights, 0, 2, 1, probes);
        }
    }

    private static double[] Probe(Func<Tensor, IReadOnlyList<Tensor>> heads, Tensor detached, Tensor dz, double mu, int t)
    {
        using var noGrad = no_grad();
        using var s = new ScalarHold();
        using var moved = detached.detach().add(dz, alpha: s[mu]);
        var probe = heads(moved);
        if (probe.Count != t)
            throw new InvalidOperationException(FormattableString.Invariant($"The heads returned {probe.Count} losses on the probe but {t} on the step."));
        var r = new double[t];
        for (int i = 0; i < t; i++)
        {
            using var l = probe[i];
            r[i] = l.detach().cpu().to(ScalarType.Float64).item<double>();
        }
        return r;
    }
}
