using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>
/// OpenAI evolution strategies: Salimans, Ho, Chen, Sidor and Sutskever, "Evolution Strategies as a Scalable
/// Alternative to Reinforcement Learning", 2017, arXiv:1703.03864; official code openai/evolution-strategies-starter
/// (<c>es_distributed/es.py</c>, <c>optimizers.py</c>).
/// <para>Per generation, with pairs <c>k = 1..K</c> (<c>N = 2K</c>, mirrored sampling) and unit-normal ε_k over all
/// parameters: <c>F_k± = F(θ ± σ ε_k)</c>; fitness shaped jointly over the 2K values (default: centered ranks
/// <c>u ∈ [−0.5, 0.5]</c>); ES estimate <c>g = (1/N) Σ_k (u_k⁺ − u_k⁻) ε_k</c> (without mirroring
/// <c>g = (1/N) Σ_i u_i ε_i</c>); the inner optimizer receives the descent gradient <c>ĝ = −g + l2·θ</c> (coupled L2
/// weight decay, as the official <c>l2coeff</c>).</para>
/// <para>Deviations, each on purpose: (1) scale: the code's form without the paper's <c>1/σ</c> (Adam, the official
/// inner optimizer, is scale-free apart from eps; for textbook ES with SGD use lr·σ); (2) noise: each pair's ε comes
/// from its own counter-based key (<see cref="CounterNoise"/>), not from slices of one shared table, so pairs are
/// exactly independent; (3) the official Adam adds eps to sqrt(v) and folds bias corrections into the step size,
/// SharpOptim's <see cref="Adam"/> adds eps to sqrt(v̂) — any SharpOptim (or TorchSharp) optimizer can be the inner
/// one, and with Adam the two forms differ only through eps; (4) ties in centered ranks break in index order
/// (stable), not NumPy's unstable order.</para>
/// <para>Two evaluation paths with the same noise: <see cref="Evaluate(Func{int, double})"/> perturbs the parameters
/// in place one member at a time (any model, any fitness; memory = one copy of θ) and restores them from the copy
/// exactly; <see cref="EvaluateBatched"/> runs the whole population in one forward of a model built from
/// <see cref="Linear"/>/<see cref="LayerNorm"/> layers, materialising every member's full-rank perturbation of each
/// matrix (<c>[N, m, n]</c> per layer) — the naive batched ES whose cost <see cref="Eggroll"/> removes.</para>
/// </summary>
public sealed class OpenAIES : PopulationStepper
{
    private double _l2;

    /// <summary>Creates the stepper over <paramref name="parameters"/>; <paramref name="inner"/> must hold the same
    /// parameters (e.g. <c>new Adam(parameters, lr: 0.01)</c>).</summary>
    /// <param name="parameters">Named parameters to optimise (noise keys follow this order).</param>
    /// <param name="inner">The optimizer stepping on ĝ.</param>
    /// <param name="population">N (even when <paramref name="mirrored"/>).</param>
    /// <param name="sigma">σ, the perturbation scale (official Humanoid config: 0.02).</param>
    /// <param name="l2">Coupled L2 coefficient added to ĝ (official: 0.005).</param>
    /// <param name="mirrored">Antithetic pairs (official: yes).</param>
    /// <param name="shaping">Fitness shaping (official: centered ranks).</param>
    /// <param name="seed">Seed of the counter-based noise.</param>
    /// <param name="noise">A noise source to use instead (tests inject fixture noise).</param>
    public OpenAIES(IEnumerable<(string name, Parameter parameter)> parameters, optim.Optimizer inner, int population, double sigma,
        double l2 = 0, bool mirrored = true, FitnessShape shaping = FitnessShape.CenteredRank, long seed = 0, INoiseSource? noise = null)
        : base("openai-es", parameters, inner, population, sigma, mirrored, shaping, 0, seed, noise)
    {
        L2 = l2;
    }

    /// <summary>Coupled L2 weight decay coefficient (added to the descent gradient).</summary>
    public double L2
    {
        get => _l2;
        set
        {
            if (!(value >= 0) || !double.IsFinite(value)) throw new ArgumentException(FormattableString.Invariant($"openai-es: l2 {value} must be >= 0 and finite."), nameof(L2));
            _l2 = value;
        }
    }

    /// <summary>Evaluates every member in place: parameters become θ + σ·s_i·ε_i, <paramref name="fitness"/>(i) is
    /// called, then θ is restored exactly from a copy. Returns the N fitness values (not yet told).</summary>
    public double[] Evaluate(Func<int, double> fitness)
    {
        ArgumentNullException.ThrowIfNull(fitness);
        var result = new double[Population];
        using var scope = NewDisposeScope();
        using var guard = no_grad();
        var saved = Parameters.Select(p => p.detach().clone()).ToArray();
        try
        {
            for (int i = 0; i < Population; i++)
            {
                using var s = new ScalarHold();
                for (int j = 0; j < Parameters.Count; j++)
                {
                    var p = Parameters[j];
                    using var eps = NoiseTensors.Normal(Noise, p.shape, NoiseGeneration, j, NoiseMember(i), p.dtype, p.device);
                    p.add_(eps, s[Sigma * SignOf(i)]);
                }
                try
                {
                    using var memberScope = NewDisposeScope();   // the member's activations go as soon as it is scored
                    result[i] = fitness(i);
                }
                finally
                {
                    for (int j = 0; j < Parameters.Count; j++) Parameters[j].copy_(saved[j]);
                }
            }
        }
        finally
        {
            foreach (var t in saved) t.Dispose();
        }
        return result;
    }

    /// <summary>Evaluates the whole population in one forward of <paramref name="model"/> (members along the leading
    /// axis of the input that <paramref name="populationFitness"/> feeds it; it returns the N fitness values). Every
    /// optimised parameter must be a weight or bias of one of the model's <see cref="Linear"/> or
    /// <see cref="LayerNorm"/> layers; each member's full-rank perturbation is materialised per layer. Tensors the
    /// closure creates are disposed when this returns, except the fitness.</summary>
    public Tensor EvaluateBatched(nn.Module model, Func<Tensor> populationFitness)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(populationFitness);
        var index = IndexByHandle();
        var covered = new HashSet<int>();
        foreach (var (_, m) in model.named_modules())
        {
            if (m is Linear l) { Cover(l.weight); Cover(l.bias); }
            else if (m is LayerNorm ln) { Cover(ln.weight); Cover(ln.bias); }
        }
        void Cover(Tensor? t) { if (t is not null && index.TryGetValue(t.Handle, out int i)) covered.Add(i); }
        var missing = Enumerable.Range(0, Parameters.Count).Where(i => !covered.Contains(i)).Select(i => ParameterNames[i]).ToList();
        if (missing.Count > 0) throw new ArgumentException($"openai-es: the batched path perturbs Linear and LayerNorm parameters only; not in such a layer: {string.Join(", ", missing)}.", nameof(model));

        using var guard = no_grad();
        using var scope = NewDisposeScope();   // activations and hook terms go when it returns; only the fitness leaves
        var cache = new Dictionary<int, Tensor>();
        Tensor Members(int j)
        {
            if (cache.TryGetValue(j, out var t)) return t;
            var p = Parameters[j];
            using var keys = NoiseTensors.Stack(Noise, p.shape, NoiseGeneration, j, 0, NoiseMembers, p.dtype, p.device);
            using var s = new ScalarHold();
            Tensor perMember;
            if (Mirrored)
            {
                using var signs = tensor(Enumerable.Range(0, Population).Select(i => (double)SignOf(i)).ToArray(), dtype: p.dtype, device: p.device)
                    .reshape(new long[] { Population }.Concat(Enumerable.Repeat(1L, (int)p.dim())).ToArray());
                using var rep = keys.repeat_interleave(2, 0);
                perMember = rep.mul(signs);
            }
            else perMember = keys.clone();
            perMember.mul_(s[Sigma]);
            cache[j] = perMember;
            return perMember;
        }
        Tensor? Vector(Tensor? param, long rows3)
        {
            if (param is null || !index.TryGetValue(param.Handle, out int j)) return null;
            return Members(j).unsqueeze(1);   // [N, 1, d], broadcast over rows
        }
        try
        {
            using var hooks = new PopulationHooks(model, Population,
                (lin, x3, o3) =>
                {
                    using var s = new ScalarHold();
                    if (index.TryGetValue(lin.weight!.Handle, out int j))
                    {
                        using var et = Members(j).transpose(1, 2);
                        using var d = x3.bmm(et);                               // x (σ s E)ᵀ, [N, rows, m]
                        o3.add_(d, s[1]);
                    }
                    var b = Vector(lin.bias, x3.shape[1]);
                    if (b is not null) o3.add_(b, s[1]);
                },
                (ln, xhat3, o3) =>
                {
                    using var s = new ScalarHold();
                    var w = Vector(ln.weight, xhat3.shape[1]);
                    if (w is not null) o3.addcmul_(xhat3, w, s[1]);
                    var b = Vector(ln.bias, xhat3.shape[1]);
                    if (b is not null) o3.add_(b, s[1]);
                });
            var f = populationFitness();
            if (f.numel() != Population) throw new ArgumentException(FormattableString.Invariant($"openai-es: the population fitness has {f.numel()} values for {Population} members."), nameof(populationFitness));
            return f.MoveToOuterDisposeScope();
        }
        finally
        {
            foreach (var t in cache.Values) t.Dispose();
        }
    }

    /// <summary>Evaluates in place (<see cref="Evaluate(Func{int, double})"/>) and tells; returns the raw fitness.</summary>
    public double[] Step(Func<int, double> fitness)
    {
        var f = Evaluate(fitness);
        Tell(f);
        return f;
    }

    /// <inheritdoc />
    protected override void WriteGradients(double[] shaped)
    {
        // Weight of key k: (1/N) Σ over the members using it of s_i u_i; the descent gradient takes the minus sign.
        var weight = new double[NoiseMembers];
        for (int i = 0; i < Population; i++) weight[NoiseMember(i)] += SignOf(i) * shaped[i];
        using var s = new ScalarHold();
        for (int j = 0; j < Parameters.Count; j++)
        {
            var p = Parameters[j];
            var grad = zeros_like(p);
            for (int k = 0; k < NoiseMembers; k++)
            {
                using var eps = NoiseTensors.Normal(Noise, p.shape, NoiseGeneration, j, k, p.dtype, p.device);
                grad.add_(eps, s[-weight[k] / Population]);
            }
            if (L2 != 0) grad.add_(p, s[L2]);
            p.grad = grad;
        }
    }
}
