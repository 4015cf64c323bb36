using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>
/// Consensus-based optimization (CBO) as studied in Riedl, Klock, Geldhauser and Fornasier, "Gradient is All You
/// Need? How Consensus-Based Optimization can be Interpreted as a Stochastic Relaxation of Gradient Descent",
/// arXiv:2306.09778; the authors' code KonstantinRiedl/CBOGlobalConvergenceAnalysis (MATLAB: <c>compute_valpha.m</c>,
/// <c>CBO_update.m</c>, <c>CBOmachinelearning.m</c>) and the library PdIPS/CBXpy (<c>cbo_update</c>,
/// <c>compute_consensus_default</c>, <c>anisotropic_noise</c>).
/// <para>State: particles <c>X ∈ R^{N×d}</c>. Consensus (log-sum-exp, stable for any α, e.g. 1e5 or 1e15):
/// <c>w_i = softmax(−α f(X_i))</c>, <c>v_α = Σ_i w_i X_i</c>; non-finite losses get weight 0. Step (Euler–Maruyama,
/// CBXpy order, default): <c>D_i = X_i − v_α</c>, <c>X_i ← X_i − λ dt D_i + σ √dt S(D_i, ξ_i)</c> with
/// <c>S = ‖D_i‖₂ ξ_i</c> (isotropic) or <c>D_i ⊙ ξ_i</c> (anisotropic), ξ ~ N(0, I). With <c>matlabOrder</c> the
/// noise amplitude is computed after the drift, from <c>(1 − λ dt) D_i</c>, as the authors' <c>CBO_update.m</c>.</para>
/// <para>Machine-learning loop (<c>CBOmachinelearning.m</c>): one <see cref="Step"/> per data mini-batch (the
/// closure evaluates the loss on the current batch): the particles are shuffled and split into particle batches of
/// <c>particleBatch</c>; for each, v_α is computed from that batch only and either every particle moves toward it
/// (<c>fullUpdate</c>, the setting the authors use) or only the batch; when <c>‖v_α − v_prev‖_∞ &lt; tolerance</c> every
/// particle gets an extra kick <c>σ √dt ξ</c> against stagnation. <see cref="EndEpoch"/> applies the cooling
/// schedule: <c>σ ← σ·log2(e+1)/log2(e+2)</c>, <c>α ← 2α</c> after epoch e = 1, 2, …. Defaults are the authors'
/// MNIST settings: N = 100, particle batch 10, dt = 0.1, λ = 1, σ = √0.4, α = 50, anisotropic.</para>
/// <para>Deviations: ξ and the shuffles come from <see cref="CounterNoise"/> (keyed by step and particle batch);
/// the authors' particle-reduction option is not implemented; the official evaluation recomputes v_α on a larger
/// sample with α = 1e15 (the best particle) — <see cref="Best"/> gives that for the last evaluated losses.</para>
/// </summary>
public sealed class ConsensusBasedOptimization
{
    private double _sigma, _alpha;
    private Tensor? _previousConsensus;

    /// <summary>Creates N particles in R^d, drawn N(0, 1) entrywise from the seed unless <paramref name="initialParticles"/> is given.</summary>
    public ConsensusBasedOptimization(int dimension, int particles = 100, int particleBatch = 10, double dt = 0.1, double lambda = 1,
        double sigma = 0.6324555320336759, double alpha = 50, CboNoise noise = CboNoise.Anisotropic, bool fullUpdate = true,
        double stagnationTolerance = 1e-5, bool matlabOrder = false, long seed = 0, INoiseSource? noiseSource = null,
        Tensor? initialParticles = null, ScalarType dtype = ScalarType.Float32)
    {
        if (dimension < 1) throw new ArgumentException(FormattableString.Invariant($"cbo: dimension {dimension} must be at least 1."), nameof(dimension));
        if (particles < 1) throw new ArgumentException(FormattableString.Invariant($"cbo: particles {particles} must be at least 1."), nameof(particles));
        if (particleBatch < 0 || particleBatch > particles || (particleBatch > 0 && particles % particleBatch != 0))
            throw new ArgumentException(FormattableString.Invariant($"cbo: particle batch {particleBatch} must be 0 (all) or divide the {particles} particles."), nameof(particleBatch));
        if (!(dt > 0) || !double.IsFinite(dt)) throw new ArgumentException(FormattableString.Invariant($"cbo: dt {dt} must be positive and finite."), nameof(dt));
        if (!(lambda >= 0) || !double.IsFinite(lambda)) throw new ArgumentException(FormattableString.Invariant($"cbo: lambda {lambda} must be >= 0 and finite."), nameof(lambda));
        if (!(stagnationTolerance >= 0)) throw new ArgumentException(FormattableString.Invariant($"cbo: stagnation tolerance {stagnationTolerance} must be >= 0."), nameof(stagnationTolerance));
        if (!Enum.IsDefined(noise)) throw new ArgumentException(FormattableString.Invariant($"cbo: unknown noise {noise}."), nameof(noise));
        Sigma = sigma;
        Alpha = alpha;
        Dimension = dimension;
        ParticleCount = particles;
        ParticleBatch = particleBatch == 0 ? particles : particleBatch;
        Dt = dt;
        Lambda = lambda;
        Noise = noise;
        FullUpdate = fullUpdate;
        StagnationTolerance = stagnationTolerance;
        MatlabOrder = matlabOrder;
        NoiseSource = noiseSource ?? new CounterNoise(seed);
        if (initialParticles is not null)
        {
            if (!initialParticles.shape.SequenceEqual(new long[] { particles, dimension }))
                throw new ArgumentException($"cbo: initial particles have shape [{string.Join(", ", initialParticles.shape)}], expected [{particles}, {dimension}].", nameof(initialParticles));
            Particles = initialParticles.detach().to(dtype).clone();
        }
        else Particles = NoiseTensors.Stack(NoiseSource, new long[] { dimension }, -1, -1, 0, particles, dtype, CPU);
        Consensus = Particles.mean(new long[] { 0 });
    }

    /// <summary>d.</summary>
    public int Dimension { get; }
    /// <summary>N.</summary>
    public int ParticleCount { get; }
    /// <summary>Particles per consensus batch.</summary>
    public int ParticleBatch { get; }
    /// <summary>Time step.</summary>
    public double Dt { get; }
    /// <summary>Drift strength λ.</summary>
    public double Lambda { get; }
    /// <summary>The diffusion kind.</summary>
    public CboNoise Noise { get; }
    /// <summary>Move every particle toward each batch's consensus (true) or only the batch.</summary>
    public bool FullUpdate { get; }
    /// <summary>Kick threshold on ‖v − v_prev‖_∞.</summary>
    public double StagnationTolerance { get; }
    /// <summary>Noise amplitude after the drift (authors' MATLAB order).</summary>
    public bool MatlabOrder { get; }
    /// <summary>The noise source (ξ and shuffles).</summary>
    public INoiseSource NoiseSource { get; }
    /// <summary>The particles [N, d].</summary>
    public Tensor Particles { get; }
    /// <summary>The last consensus point [d].</summary>
    public Tensor Consensus { get; private set; }
    /// <summary>Steps (data mini-batches) so far.</summary>
    public long StepCount { get; private set; }
    /// <summary>Epochs ended (cooling steps applied).</summary>
    public long Epoch { get; private set; }
    /// <summary>Kicks applied so far.</summary>
    public long Kicks { get; private set; }
    /// <summary>Bytes of state: the particles.</summary>
    public long StateBytes => Particles.numel() * Particles.element_size();

    /// <summary>σ, the diffusion strength (cooled by <see cref="EndEpoch"/>).</summary>
    public double Sigma
    {
        get => _sigma;
        set
        {
            if (!(value >= 0) || !double.IsFinite(value)) throw new ArgumentException(FormattableString.Invariant($"cbo: sigma {value} must be >= 0 and finite."), nameof(Sigma));
            _sigma = value;
        }
    }

    /// <summary>α, the inverse temperature of the consensus weights (doubled by <see cref="EndEpoch"/>).</summary>
    public double Alpha
    {
        get => _alpha;
        set
        {
            if (!(value > 0) || double.IsNaN(value)) throw new ArgumentException(FormattableString.Invariant($"cbo: alpha {value} must be positive."), nameof(Alpha));
            _alpha = value;
        }
    }

    /// <summary>The consensus point of <paramref name="x"/> [n, d] with losses <paramref name="f"/> [n]:
    /// <c>Σ softmax(−α f)_i X_i</c> by log-sum-exp; non-finite losses get weight 0 (all non-finite: throws).</summary>
    public static Tensor ConsensusPoint(Tensor x, Tensor f, double alpha)
    {
        using var scope = NewDisposeScope();
        using var s = new ScalarHold();
        var ff = f.detach().to(ScalarType.Float64).reshape(-1);
        var finite = ff.isfinite();
        if (!finite.any().item<bool>()) throw new ArgumentException("cbo: every loss is non-finite; no consensus exists.", nameof(f));
        var logits = ff.mul(s[-alpha]).masked_fill(finite.logical_not(), s[double.NegativeInfinity]);
        var logw = logits.add(logits.logsumexp(0, keepdim: true), s[-1]);
        var w = logw.exp().to(x.dtype);
        return w.unsqueeze(0).matmul(x).squeeze(0).MoveToOuterDisposeScope();
    }

    /// <summary>The particle with the lowest loss in <paramref name="f"/> (the α → ∞ consensus).</summary>
    public Tensor Best(Tensor f)
    {
        using var ff = f.detach().to(ScalarType.Float64).reshape(-1).nan_to_num(double.PositiveInfinity, double.PositiveInfinity, double.PositiveInfinity);
        long i = ff.argmin().item<long>();
        return Particles[i].clone();
    }

    /// <summary>One step on the current data batch: <paramref name="losses"/> maps a block of particles [n, d] to
    /// their losses [n] (lower is better). Returns the losses of all particles as evaluated this step (each
    /// particle evaluated once, before its batch moved).</summary>
    public Tensor Step(Func<Tensor, Tensor> losses)
    {
        ArgumentNullException.ThrowIfNull(losses);
        using var guard = no_grad();
        using var s = new ScalarHold();
        int batches = ParticleCount / ParticleBatch;
        var order = Permutation();
        var all = zeros(ParticleCount, dtype: ScalarType.Float64);
        for (int b = 0; b < batches; b++)
        {
            using var scope = NewDisposeScope();
            using var idx = tensor(order.AsSpan(b * ParticleBatch, ParticleBatch).ToArray(), dtype: ScalarType.Int64);
            var xb = Particles.index_select(0, idx);
            var f = losses(xb).detach().reshape(-1);
            if (f.numel() != ParticleBatch) throw new ArgumentException(FormattableString.Invariant($"cbo: the loss closure returned {f.numel()} values for {ParticleBatch} particles."), nameof(losses));
            all.index_copy_(0, idx, f.to(ScalarType.Float64));
            var v = ConsensusPoint(xb, f, Alpha);
            if (FullUpdate) Move(Particles, v, b, null);
            else
            {
                var moved = xb.clone();
                Move(moved, v, b, null);
                Particles.index_copy_(0, idx, moved);
            }
            if (_previousConsensus is not null && StagnationTolerance > 0)
            {
                double change = TensorValue.Of(v.add(_previousConsensus, s[-1]).abs().max());
                if (change < StagnationTolerance)
                {
                    var xi = NoiseTensors.Stack(NoiseSource, new long[] { Dimension }, StepCount, 2 * b + 1, 0, ParticleCount, Particles.dtype, Particles.device);
                    Particles.add_(xi, s[Sigma * Math.Sqrt(Dt)]);
                    Kicks++;
                }
            }
            _previousConsensus?.Dispose();
            _previousConsensus = v.clone().DetachFromDisposeScope();
            Consensus.Dispose();
            Consensus = v.clone().DetachFromDisposeScope();
        }
        StepCount++;
        return all;
    }

    private void Move(Tensor x, Tensor v, int batch, object? unused)
    {
        using var scope = NewDisposeScope();
        using var s = new ScalarHold();
        long n = x.shape[0];
        var xi = NoiseTensors.Stack(NoiseSource, new long[] { Dimension }, StepCount, 2 * batch, 0, (int)n, x.dtype, x.device);
        var d = x.add(v.unsqueeze(0), s[-1]);
        if (MatlabOrder)
        {
            x.add_(d, s[-Lambda * Dt]);
            d = x.add(v.unsqueeze(0), s[-1]);
        }
        var diffusion = Noise == CboNoise.Anisotropic ? d.mul(xi) : xi.mul(d.norm(1, keepdim: true, p: 2));
        if (!MatlabOrder) x.add_(d, s[-Lambda * Dt]);
        x.add_(diffusion, s[Sigma * Math.Sqrt(Dt)]);
    }

    private long[] Permutation()
    {
        var keys = new float[ParticleCount];
        NoiseSource.Fill(keys, StepCount, -2, 0);
        return Enumerable.Range(0, ParticleCount).Select(i => (long)i).OrderBy(i => keys[i]).ThenBy(i => i).ToArray();
    }

    /// <summary>Ends an epoch: cooling <c>σ ← σ·log2(e+1)/log2(e+2)</c>, <c>α ← 2α</c> (e = this epoch's 1-based index).</summary>
    public void EndEpoch()
    {
        Epoch++;
        double e = Epoch;
        Sigma = Sigma * Math.Log2(e + 1) / Math.Log2(e + 2);
        Alpha = Alpha * 2;
    }

    /// <summary>Copies a flat vector (e.g. <see cref="Consensus"/>) into <paramref name="parameters"/> in order.</summary>
    public static void WriteTo(Tensor vector, IEnumerable<Parameter> parameters)
    {
        var list = parameters.ToList();
        long total = list.Sum(p => p.numel());
        if (vector.numel() != total) throw new ArgumentException(FormattableString.Invariant($"cbo: a vector of {vector.numel()} values for parameters of {total}."), nameof(vector));
        using var guard = no_grad();
        long offset = 0;
        foreach (var p in list)
        {
            using var part = vector.reshape(-1).narrow(0, offset, p.numel());
            p.copy_(part.reshape(p.shape));
            offset += p.numel();
        }
    }

    /// <summary>Saves particles, the last consensus, σ, α and the counters atomically.</summary>
    public void Save(string path)
    {
        var prev = _previousConsensus ?? Consensus;
        GradientFreeCheckpoint.Save(path, "cbo", Scalars(), new[] { ("particles", Particles), ("consensus", Consensus), ("previous", prev) }, null);
    }

    private (string, double)[] Scalars() => new[] { ("step", (double)StepCount), ("epoch", (double)Epoch), ("kicks", (double)Kicks), ("sigma", Sigma), ("alpha", Alpha), ("has_previous", _previousConsensus is null ? 0.0 : 1.0) };

    /// <summary>Loads a state written by <see cref="Save"/> into this instance (same N and d; checked first). The
    /// run then continues bit for bit.</summary>
    public void Load(string path)
    {
        var consensus = Consensus.clone();
        var previous = Consensus.clone();
        try
        {
            var sc = GradientFreeCheckpoint.Load(path, "cbo", Scalars().Select(x => x.Item1).ToArray(),
                new[] { ("particles", Particles), ("consensus", consensus), ("previous", previous) }, null);
            StepCount = (long)sc["step"];
            Epoch = (long)sc["epoch"];
            Kicks = (long)sc["kicks"];
            _sigma = sc["sigma"];
            _alpha = sc["alpha"];
            Consensus.Dispose();
            Consensus = consensus.clone();
            _previousConsensus?.Dispose();
            _previousConsensus = sc["has_previous"] != 0 ? previous.clone() : null;
        }
        finally
        {
            consensus.Dispose();
            previous.Dispose();
        }
    }
}
