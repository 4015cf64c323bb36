using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// SGD with adaptive-memory momentum (AM-SGD): Topollai and Choromanska, "Adaptive Memory Momentum via a Model-Based
/// Framework for Deep Learning Optimization" (arXiv:2510.04988; AISTATS 2026). The momentum coefficient β_t is not a
/// constant but is recomputed at every step from a proximal model of the loss made of two planes: the linearization
/// at the current point and a plane carried in memory whose slope is the momentum d_t. The update has the paper's form
/// <code>
/// d_{t+1} = ((β_t + λ) / (1 + λ)) d_t + ((1 − β_t) / (1 + λ)) g_t
/// x_{t+1} = x_t − lr · d_{t+1}
/// </code>
/// <para><b>β_t as implemented here is derived, not copied.</b> The paper's text beyond its abstract, and any official
/// code, could not be obtained while this was written, so the closed form below is our derivation from the model the
/// paper describes; it may differ from the paper's own formula. The model at step t, with metric M = lr·I (per group):</para>
/// <code>
/// ℓ_g(x) = f_t + ⟨g_t, x − x_t⟩                 (the current mini-batch loss f_t and gradient g_t)
/// ℓ_d(x) = φ_t + ⟨d_t, x − x_t⟩                 (the memory plane: slope d_t, height φ_t at x_t)
/// x_{t+1} = argmin_x  max(ℓ_g, ℓ_d)(x) + ½‖x − x_t‖²_{M⁻¹} + (λ/2)‖x − (x_t − M d_t)‖²_{M⁻¹}
/// </code>
/// <para>The second proximal term (toward the heavy-ball point) is what produces the λ in the paper's update. Writing
/// the max as max over θ ∈ [0, 1] of θ ℓ_g + (1 − θ) ℓ_d and minimizing over x gives x_{t+1} = x_t − M d_{t+1} with the
/// update above for β_t = 1 − θ, and the 1-D dual</para>
/// <code>
/// D(θ) = −θ (c + a) − θ² q / (2(1 + λ)),   c = φ_t − f_t,  a = ⟨g_t − d_t, d_t⟩_M,  q = ‖g_t − d_t‖²_M
/// θ*   = clip(−(1 + λ)(c + a) / q, 0, 1)     (q = 0: θ* = 1 if c + a ≤ 0, else 0)
/// β_t  = 1 − θ*
/// </code>
/// <para>After the step the memory plane becomes the same convex combination of the two planes as the momentum, so its
/// slope stays d_{t+1}; its height at x_{t+1} is φ_{t+1} = ((β_t + λ) φ_t + (1 − β_t) f_t)/(1 + λ) − ‖d_{t+1}‖²_M.
/// At the first step d_0 = g_0 and φ_0 = f_0 (the two planes coincide), so d_1 = g_0. Reading the rule: when the loss
/// came out above the memory plane's prediction (c &lt; 0) the current gradient gets more weight (β falls); when the
/// loss is below it the memory is kept (β rises). β_t is one scalar for the whole model (inner products over every
/// parameter with a gradient, weighted by each group's lr).</para>
/// <para>
/// Consequences of the derivation: the optimizer needs the mini-batch loss f_t at the current parameters, so call
/// <c>step(closure)</c> with a closure that returns the loss (as for LBFGS), or set <see cref="CurrentLoss"/> before
/// <c>step()</c>; <c>step()</c> without either throws <see cref="InvalidOperationException"/>. Hyperparameters: lr and
/// λ (the paper's λ; we could not read its recommended value, and default to λ = 0, fully adaptive β ∈ [0, 1]). λ is
/// optimizer-wide (a constructor argument), lr may differ per group. No weight decay or Nesterov variant. State per
/// parameter: the momentum (param-shaped) and the memory plane's height φ (a 0-dimensional copy per parameter, all
/// equal). No fused kernel (β needs global reductions first).
/// </para>
/// </summary>
public sealed class AdaptiveMomentumSGD : OptimizerBase
{
    private readonly double _lambda;

    /// <summary>AM-SGD over a flat list of parameters.</summary>
    public AdaptiveMomentumSGD(IEnumerable<Parameter> parameters, double lr = 0.1, double lambda = 0)
        : base(SingleGroup(parameters), new Options { LearningRate = lr }, null)
    {
        _lambda = AdaptiveMemory.RequireLambda(lambda);
    }

    /// <summary>AM-SGD over named parameters.</summary>
    public AdaptiveMomentumSGD(IEnumerable<(string name, Parameter parameter)> parameters, double lr = 0.1, double lambda = 0)
        : this(SingleGroup(parameters), lr, AdaptiveMemory.RequireLambda(lambda)) { }

    /// <summary>AM-SGD over parameter groups; unset options take these defaults.</summary>
    public AdaptiveMomentumSGD(IEnumerable<ParamGroup> groups, double lr = 0.1, double lambda = 0)
        : base(groups, new Options { LearningRate = lr }, null)
    {
        _lambda = AdaptiveMemory.RequireLambda(lambda);
    }

    private AdaptiveMomentumSGD((ParamGroup[] Groups, Dictionary<Parameter, string> Names) named, double lr, double lambda)
        : base(named.Groups, new Options { LearningRate = lr }, named.Names)
    {
        _lambda = lambda;
    }

    /// <summary>λ, the weight of the proximal term toward the heavy-ball point.</summary>
    public double Lambda => _lambda;

    /// <summary>The mini-batch loss f_t at the current parameters, used (and cleared) by the next <c>step()</c>.</summary>
    public double? CurrentLoss { get; set; }

    /// <summary>β_t of the last step (NaN before the first).</summary>
    public double LastBeta { get; private set; } = double.NaN;

    /// <summary>The memory plane's height φ at the current parameters (NaN before the first step).</summary>
    public double MemoryPlane => AdaptiveMemory.ReadPlane(Parameters());

    /// <inheritdoc />
    public override bool HasFusedPath => false;

    /// <inheritdoc />
    protected override bool ShapeFlexibleState => true;

    /// <inheritdoc />
    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
        {
            using (enable_grad()) loss = closure();
            CurrentLoss = loss.to_type(ScalarType.Float64).item<double>();
        }
        base.step();
        return loss!;
    }

    /// <inheritdoc />
    protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state)
    {
        state.Add("momentum_buffer", parameter.grad!.detach().clone());
        state.Add("memory_plane", zeros(Array.Empty<long>(), dtype: parameter.dtype, device: parameter.device));
    }

    /// <inheritdoc />
    protected override void BeforeUpdates()
    {
        double f = AdaptiveMemory.RequireLoss(CurrentLoss, nameof(AdaptiveMomentumSGD));
        CurrentLoss = null;
        double phi = AdaptiveMemory.ReadPlane(Parameters());
        if (double.IsNaN(phi)) phi = f;
        double a = 0, q = 0;
        var active = new List<(double Lr, Tensor G, Tensor D)>();
        foreach (var (opts, p, s) in Parameters())
        {
            if (p.grad is not { } g) continue;
            EnsureState(opts, p, s);
            double lr = opts.LearningRate!.Value;
            var d = s["momentum_buffer"];
            var delta = g.sub(d);
            a += lr * delta.mul(d).sum().to_type(ScalarType.Float64).item<double>();
            q += lr * delta.square().sum().to_type(ScalarType.Float64).item<double>();
            active.Add((lr, g, d));
        }
        double theta = AdaptiveMemory.Theta(phi - f, a, q, _lambda);
        double beta = 1 - theta;
        double keep = (beta + _lambda) / (1 + _lambda), take = (1 - beta) / (1 + _lambda);
        double norm = 0;
        foreach (var (lr, g, d) in active)
        {
            d.mul_(keep).add_(g, alpha: take);
            norm += lr * d.square().sum().to_type(ScalarType.Float64).item<double>();
        }
        LastBeta = beta;
        AdaptiveMemory.WritePlane(Parameters(), keep * phi + take * f - norm);
    }

    /// <inheritdoc />
    protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
    {
        p.add_(state["momentum_buffer"], alpha: -options.LearningRate!.Value);
        state.Step++;
    }

    /// <summary>AM-SGD's per-group options: only the learning rate.</summary>
    public sealed class Options : OptionsBase
    {
    }
}
