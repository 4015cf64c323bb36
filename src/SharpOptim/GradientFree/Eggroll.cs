using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>
/// EGGROLL, low-rank evolution strategies: Sarkar, Fellows, Duque et al., "Evolution Strategies at the Hyperscale",
/// 2025, arXiv:2511.16652; official code ESHyperscale/HyperscaleES (<c>src/hyperscalees/noiser/eggroll.py</c>). The
/// paper body was not available; everything here follows the official code.
/// <para>Members <c>i = 0..N−1</c> form antithetic pairs <c>k = ⌊i/2⌋</c> with sign <c>s_i = ±1</c>. For each
/// <see cref="Linear"/> weight <c>W ∈ R^{m×n}</c> a draw <c>G ∈ R^{(m+n)×r}</c> per pair gives <c>B_k = G[0:n]</c>
/// (input side) and <c>A_k = G[n:n+m]</c>; member i's perturbation is <c>E_i = s_i A_k B_kᵀ/√r</c>, never
/// materialised: the whole population runs in ONE batched forward in which every Linear computes
/// <c>y_i = x_i Wᵀ + (σ s_i/√r)(x_i B_k) A_kᵀ</c> (the official <c>do_mm</c>), i.e. one shared GEMM plus one
/// rank-r <c>bmm</c> and an in-place rank-r accumulation into the GEMM's output. Vectors (Linear biases, LayerNorm gains and biases) get full Gaussian noise <c>σ s_i ε_k</c>
/// (off with <c>perturbVectors: false</c>, the official <c>freeze_nonlora</c>); parameters outside Linear/LayerNorm
/// layers (embeddings) are not perturbed and not updated, as the official <c>EMB_PARAM</c>/<c>EXCLUDED</c>
/// classes.</para>
/// <para>Update (official <c>convert_fitnesses</c>, <c>_simple_lora_update</c>): z-scored fitness f̂ (group mean,
/// global variance, eps 1e-5), <c>c_k = f̂_{2k} − f̂_{2k+1}</c>, descent gradient
/// <c>g_W = −(σ/√N) Σ_i f̂_i E_i = −σ/(√N √r) · Ã B̃ᵀ</c> — ONE matrix product with <c>Ã = [c_1 A_1 | … | c_K A_K]</c>
/// (m × Kr) and <c>B̃ = [B_1 | … | B_K]</c> (n × Kr) — and <c>g_p = −(σ/√N) Σ_k c_k ε_k</c> for vectors; the inner
/// optimizer steps on g (official default: plain SGD, θ ← θ − lr·g). Scale: this is the official code's convention;
/// with textbook ES <c>ĝ_ES = (1/(Nσ)) Σ f̂_i E_i</c> one has <c>g = −σ²√N ĝ_ES</c>, so SGD with rate lr here is
/// textbook ES with rate <c>η = lr·σ²·√N</c> (the paper's α in μ ← μ + (α/N) Σ E_i f̂_i is <c>lr·σ·√N</c>).</para>
/// <para>Noise: key (⌊t/ρ⌋, parameter, pair) with the noise-reuse period ρ (<c>noiseReuse</c>; 0 = the same noise at
/// every generation, the official library default; 1 = fresh noise every generation, the default here as in the
/// official notebook and LLM script). The factors come from <see cref="CounterNoise"/> instead of JAX's threefry
/// (same law). The factors of the current generation are kept between the forward and the update
/// (<c>K·r·(m+n)</c> numbers per matrix), which is what the official code regenerates.</para>
/// <para>Conv2d layers (an extension: the official code has none): the kernel <c>[O, C, kh, kw]</c> is perturbed as
/// the matrix <c>[O, C·kh·kw]</c> with the same rank-r law, applied without materialising it (see
/// <see cref="Install"/>: one grouped convolution with the r thin kernels of every member, then a 1×1 mixing by A),
/// and updated with the same one-GEMM aggregate reshaped to the kernel; groups 1 and explicit zero padding only.
/// Deviations: the conv extension above; embeddings are excluded as in the official code (its <c>do_emb</c>
/// raises).</para>
/// </summary>
public sealed class Eggroll : PopulationStepper
{
    private readonly nn.Module _model;
    private readonly bool[] _isMatrix;
    private readonly long _noiseReuse;
    private Tensor?[]? _factors;     // per parameter: matrices [K, m+n, r]; vectors [K, numel]
    private long _factorsGeneration = -1;

    /// <summary>Creates the stepper for every Linear and Conv2d weight (low rank) and, with
    /// <paramref name="perturbVectors"/>, every Linear/Conv2d bias and LayerNorm parameter of <paramref name="model"/>; <paramref name="inner"/> must hold them
    /// (e.g. <c>new SGD(model.parameters(), lr: 1)</c>, the official default).</summary>
    /// <param name="model">A model whose layers are called through <c>call(...)</c> (hooks run).</param>
    /// <param name="inner">The optimizer stepping on g.</param>
    /// <param name="population">N, even.</param>
    /// <param name="sigma">σ.</param>
    /// <param name="rank">r, between 1 and min(m, n) of every matrix.</param>
    /// <param name="groupSize">Z-score group size (0 = one group).</param>
    /// <param name="noiseReuse">ρ: noise key generation ⌊t/ρ⌋; 0 keeps the first noise forever.</param>
    /// <param name="perturbVectors">Perturb and update biases and LayerNorm parameters (false = official freeze_nonlora).</param>
    /// <param name="seed">Seed of the counter-based noise.</param>
    /// <param name="noise">A noise source to use instead (tests inject fixture factors).</param>
    public Eggroll(nn.Module model, optim.Optimizer inner, int population, double sigma, int rank = 1, int groupSize = 0,
        long noiseReuse = 1, bool perturbVectors = true, long seed = 0, INoiseSource? noise = null)
        : base("eggroll", Collect(model, perturbVectors), inner, population, sigma, true, FitnessShape.ZScore, groupSize, seed, noise)
    {
        if (noiseReuse < 0) throw new ArgumentException(FormattableString.Invariant($"eggroll: noise reuse {noiseReuse} must be >= 0."), nameof(noiseReuse));
        _model = model;
        _noiseReuse = noiseReuse;
        var matrices = new HashSet<IntPtr>();
        foreach (var (name, m) in model.named_modules())
        {
            if (m is Linear l) matrices.Add(l.weight!.Handle);
            else if (m is Conv2d c)
            {
                CheckConv(name, c);
                matrices.Add(c.weight.Handle);
            }
        }
        _isMatrix = Parameters.Select(p => matrices.Contains(p.Handle)).ToArray();
        for (int j = 0; j < Parameters.Count; j++)
        {
            if (!_isMatrix[j]) continue;
            var (mm, nn_) = MatrixShape(Parameters[j]);
            if (rank < 1 || rank > Math.Min(mm, nn_))
                throw new ArgumentException(FormattableString.Invariant($"eggroll: rank {rank} must be between 1 and min(m, n) = {Math.Min(mm, nn_)} of '{ParameterNames[j]}' [{mm}, {nn_}]."), nameof(rank));
        }
        Rank = rank;
    }

    /// <summary>The matrix a weight is perturbed as: Linear [out, in]; Conv2d [out, in·kh·kw] (the kernel reshaped).</summary>
    private static (long M, long N) MatrixShape(Tensor weight) => (weight.shape[0], weight.numel() / weight.shape[0]);

    private static void CheckConv(string name, Conv2d c)
    {
        if (c.groups != 1 || c.padding_mode != PaddingModes.Zeros || c.padding is null || c.transposed)
            throw new ArgumentException(FormattableString.Invariant($"eggroll: Conv2d '{name}' has groups {c.groups}, padding mode {c.padding_mode}, padding {(c.padding is null ? c.padding_type.ToString() : string.Join("x", c.padding))}; the low-rank conv term supports groups 1 with explicit zero padding."), "model");
    }

    private static IEnumerable<(string, Parameter)> Collect(nn.Module model, bool perturbVectors)
    {
        ArgumentNullException.ThrowIfNull(model);
        var wanted = new HashSet<IntPtr>();
        foreach (var (_, m) in model.named_modules())
        {
            if (m is Linear l)
            {
                wanted.Add(l.weight!.Handle);
                if (perturbVectors && l.bias is not null) wanted.Add(l.bias.Handle);
            }
            else if (m is Conv2d c)
            {
                wanted.Add(c.weight.Handle);
                if (perturbVectors && c.bias is not null) wanted.Add(c.bias.Handle);
            }
            else if (m is LayerNorm ln && perturbVectors)
            {
                if (ln.weight is not null) wanted.Add(ln.weight.Handle);
                if (ln.bias is not null) wanted.Add(ln.bias.Handle);
            }
        }
        return model.named_parameters().Where(p => wanted.Contains(p.parameter.Handle)).ToList();
    }

    /// <summary>r, the rank of every matrix perturbation.</summary>
    public int Rank { get; }

    /// <summary>Bytes of the auxiliary factors one generation needs: <c>4·K·r·(m+n)</c> per matrix (float32) plus the
    /// vectors' noise — against <c>4·K·m·n</c> for full-rank perturbations.</summary>
    public (long LowRank, long FullRank) AuxiliaryBytes()
    {
        long low = 0, full = 0;
        for (int j = 0; j < Parameters.Count; j++)
        {
            var p = Parameters[j];
            long size = p.element_size() * (long)NoiseMembers;
            if (_isMatrix[j]) { var (m, n) = MatrixShape(p); low += size * Rank * (m + n); full += size * m * n; }
            else { low += size * p.numel(); full += size * p.numel(); }
        }
        return (low, full);
    }

    /// <inheritdoc />
    protected override long NoiseGeneration => _noiseReuse == 0 ? 0 : Generation / _noiseReuse;

    private Tensor?[] Factors()
    {
        if (_factors is not null && _factorsGeneration == Generation) return _factors;
        DropFactors();
        var f = new Tensor?[Parameters.Count];
        for (int j = 0; j < Parameters.Count; j++)
        {
            var p = Parameters[j];
            long[] shape = _isMatrix[j] ? new[] { p.numel() / p.shape[0] + p.shape[0], (long)Rank } : new[] { p.numel() };
            f[j] = NoiseTensors.Stack(Noise, shape, NoiseGeneration, j, 0, NoiseMembers, p.dtype, p.device).DetachFromDisposeScope();
        }
        _factors = f;
        _factorsGeneration = Generation;
        return f;
    }

    private void DropFactors()
    {
        if (_factors is not null) foreach (var t in _factors) t?.Dispose();
        _factors = null;
    }

    /// <inheritdoc />
    protected override void AfterStep() => DropFactors();

    /// <summary>Runs <paramref name="populationFitness"/> with the population hooks installed: it feeds the model an
    /// input with the N members along the leading axis and returns the N fitness values (higher is better). Tensors
    /// the closure creates are disposed when this returns, except the fitness (detach with
    /// <c>DetachFromDisposeScope()</c> what must outlive it), so the population forward's memory is freed at once.</summary>
    public Tensor Evaluate(Func<Tensor> populationFitness)
    {
        ArgumentNullException.ThrowIfNull(populationFitness);
        using var guard = no_grad();
        // Every tensor of the population forward (activations, hook terms) is freed when it returns; only the
        // fitness leaves.
        using var scope = NewDisposeScope();
        using var hooks = Install();
        var f = populationFitness();
        if (f.numel() != Population) throw new ArgumentException(FormattableString.Invariant($"eggroll: the population fitness has {f.numel()} values for {Population} members."), nameof(populationFitness));
        return f.MoveToOuterDisposeScope();
    }

    /// <summary>Evaluates and tells; returns the raw fitness.</summary>
    public Tensor Step(Func<Tensor> populationFitness)
    {
        var f = Evaluate(populationFitness);
        Tell(f);
        return f;
    }

    /// <summary>Installs the population hooks for the current generation (for callers that drive the forward
    /// themselves); dispose to remove them.
    /// <para>Linear (the official <c>do_mm</c>): <c>y_i = x_i Wᵀ + (x_i B_k)(σ s_i/√r · A_k)ᵀ</c>, the second term
    /// accumulated into the shared GEMM's output in place by one <c>baddbmm_</c> over members.</para>
    /// <para>Conv2d (this library's extension; the official code has no conv layers): with the kernel reshaped to
    /// <c>W ∈ R^{O×(C·kh·kw)}</c> and <c>E_i = s_i A_k B_kᵀ/√r</c>, convolution is linear in the kernel and the kernel
    /// <c>A Bᵀ</c> is a sum of r outer products, so <c>conv(x, W + σE_i) = conv(x, W) + (σ s_i/√r) · A_k ⋆₁ conv(x,
    /// B_kᵀ as r kernels of shape [C, kh, kw])</c>: a convolution of x with r "thin" output channels (same stride,
    /// padding, dilation) followed by a 1×1 mixing of those r channels into O by <c>A_k</c>. All members run at once:
    /// x is laid out as <c>[B, N·C, H, W]</c> and convolved with the <c>[N·r, C, kh, kw]</c> kernels in ONE grouped
    /// convolution (<c>groups = N</c>), then one <c>bmm</c> over members mixes by A; nothing of size O·C·kh·kw per
    /// member is formed. Cost per member: r/O of the layer's own convolution plus O·r per output pixel.</para></summary>
    public IDisposable Install()
    {
        var factors = Factors();
        var index = IndexByHandle();
        var scaled = new Dictionary<int, (Tensor B, Tensor At)>();  // per matrix: B [N, n, r]; (σ s_i/√r · A)ᵀ [N, r, m]
        var kernels = new Dictionary<int, Tensor>();                 // per conv weight: Bᵀ as [N·r, C, kh, kw]
        var vectors = new Dictionary<int, Tensor>();                 // per vector: σ s_i ε [N, 1, d]
        var signs = tensor(Enumerable.Range(0, Population).Select(i => (double)SignOf(i)).ToArray(), dtype: Parameters[0].dtype, device: Parameters[0].device);
        (Tensor B, Tensor At) Matrix(int j)
        {
            if (scaled.TryGetValue(j, out var t)) return t;
            using var s = new ScalarHold();
            var (m, n) = MatrixShape(Parameters[j]);
            var g = factors[j]!;                                     // [K, n+m, r]
            using var gm = g.repeat_interleave(2, 0);                // [N, n+m, r]
            var b = gm.narrow(1, 0, n).contiguous();
            using var a0 = gm.narrow(1, n, m);
            using var a = a0.mul(signs.to(a0.dtype).reshape(Population, 1, 1)).mul_(s[Sigma / Math.Sqrt(Rank)]);
            var at = a.transpose(1, 2).contiguous();
            scaled[j] = (b, at);
            return (b, at);
        }
        Tensor Kernel(int j)
        {
            if (kernels.TryGetValue(j, out var k)) return k;
            var w = Parameters[j];
            var (b, _) = Matrix(j);
            using var bt = b.transpose(1, 2);                        // [N, r, C·kh·kw]
            k = bt.reshape(new[] { Population * (long)Rank }.Concat(w.shape.Skip(1)).ToArray());
            kernels[j] = k;
            return k;
        }
        Tensor? Vector(Tensor? param)
        {
            if (param is null || !index.TryGetValue(param.Handle, out int j)) return null;
            if (vectors.TryGetValue(j, out var v)) return v;
            using var s = new ScalarHold();
            using var rep = factors[j]!.repeat_interleave(2, 0);     // [N, d]
            v = rep.mul(signs.to(rep.dtype).reshape(Population, 1)).mul_(s[Sigma]).unsqueeze(1);
            vectors[j] = v;
            return v;
        }
        var hooks = new PopulationHooks(_model, Population,
            (lin, x3, o3) =>
            {
                using var s = new ScalarHold();
                if (index.TryGetValue(lin.weight!.Handle, out int j))
                {
                    var (b, at) = Matrix(j);
                    using var xb = x3.bmm(b);                        // [N, rows, r]
                    AddLowRank(o3, xb, at, s);                       // += (x B)(σ s/√r A)ᵀ, in place
                }
                var bias = Vector(lin.bias);
                if (bias is not null) o3.add_(bias, s[1]);
            },
            (ln, xhat3, o3) =>
            {
                using var s = new ScalarHold();
                var w = Vector(ln.weight);
                if (w is not null) o3.addcmul_(xhat3, w, s[1]);
                var b = Vector(ln.bias);
                if (b is not null) o3.add_(b, s[1]);
            },
            (cv, x, o4) =>
            {
                using var s = new ScalarHold();
                long members = Population, rows = o4.shape[1], outC = o4.shape[2], pixels = o4.shape[3];
                if (index.TryGetValue(cv.weight.Handle, out int j))
                {
                    var (_, at) = Matrix(j);
                    long c = x.shape[1];
                    // [N·B, C, H, W] → [B, N·C, H, W]: member i's channels form group i of the grouped convolution.
                    using var x5 = x.reshape(members, rows, c, x.shape[2], x.shape[3]);
                    using var xt = x5.transpose(0, 1);
                    using var xg = xt.reshape(rows, members * c, x.shape[2], x.shape[3]);
                    using var u = nn.functional.conv2d(xg, Kernel(j), null, cv.stride, cv.padding, cv.dilation, members);   // [B, N·r, H', W']
                    using var u4 = u.view(rows, members, Rank, pixels);
                    using var up = u4.permute(1, 2, 0, 3);
                    using var u3 = up.reshape(members, Rank, rows * pixels);                  // [N, r, B·H'W']
                    using var a = at.transpose(1, 2);                                         // [N, O, r]
                    using var d = a.bmm(u3);                                                  // [N, O, B·H'W']
                    using var d4 = d.view(members, outC, rows, pixels);
                    using var dt = d4.transpose(1, 2);                                        // [N, B, O, H'W']
                    o4.add_(dt, s[1]);
                }
                var bias = Vector(cv.bias);
                if (bias is not null)
                {
                    using var b4 = bias.view(members, 1, outC, 1);
                    o4.add_(b4, s[1]);
                }
            });
        return new Installed(hooks, () =>
        {
            foreach (var (b, at) in scaled.Values) { b.Dispose(); at.Dispose(); }
            foreach (var k in kernels.Values) k.Dispose();
            foreach (var v in vectors.Values) v.Dispose();
            signs.Dispose();
        });
    }

    /// <summary><c>o3 += xb · at</c> over members ([N, rows, r] · [N, r, m]) in place. For small r as r broadcast
    /// outer products (<c>addcmul_</c>: one read-modify-write pass over the output each, no temporary), which is
    /// what makes the rank-1 term cost about one memory pass; for larger r one <c>bmm</c> into a temporary, then an
    /// add (TorchSharp 0.107 has no in-place <c>baddbmm_</c>).</summary>
    private static void AddLowRank(Tensor o3, Tensor xb, Tensor at, ScalarHold s)
    {
        long r = xb.shape[2];
        if (r <= 4)
        {
            for (long q = 0; q < r; q++)
            {
                using var xq = xb.narrow(2, q, 1);                  // [N, rows, 1]
                using var aq = at.narrow(1, q, 1);                  // [N, 1, m]
                o3.addcmul_(xq, aq, s[1]);
            }
            return;
        }
        using var d = xb.bmm(at);
        o3.add_(d, s[1]);
    }

    private sealed class Installed(PopulationHooks hooks, Action free) : IDisposable
    {
        public void Dispose() { hooks.Dispose(); free(); }
    }

    /// <summary>The explicit perturbation <c>σ E_i</c> (matrices) or <c>σ s_i ε_k</c> (vectors) of member
    /// <paramref name="member"/> for parameter <paramref name="parameterIndex"/> in the current generation — the
    /// reference path for tests (add it to the parameter and run the plain model).</summary>
    public Tensor MaterializedPerturbation(int parameterIndex, int member)
    {
        if (member < 0 || member >= Population) throw new ArgumentException(FormattableString.Invariant($"eggroll: member {member} is outside the population of {Population}."), nameof(member));
        var factors = Factors();
        var p = Parameters[parameterIndex];
        using var s = new ScalarHold();
        var g = factors[parameterIndex]![member / 2];
        if (!_isMatrix[parameterIndex]) return g.reshape(p.shape).mul(s[Sigma * SignOf(member)]);
        var (m, n) = MatrixShape(p);
        using var b = g.narrow(0, 0, n);
        using var a = g.narrow(0, n, m);
        using var e = a.matmul(b.t());
        return e.reshape(p.shape).mul_(s[Sigma * SignOf(member) / Math.Sqrt(Rank)]);
    }

    /// <inheritdoc />
    protected override void WriteGradients(double[] shaped)
    {
        var factors = Factors();
        int k = NoiseMembers;
        var c = new double[k];
        for (int i = 0; i < k; i++) c[i] = shaped[2 * i] - shaped[2 * i + 1];
        using var s = new ScalarHold();
        for (int j = 0; j < Parameters.Count; j++)
        {
            var p = Parameters[j];
            using var ct = tensor(c, dtype: p.dtype, device: p.device);
            var g = factors[j]!;
            if (_isMatrix[j])
            {
                var (m, n) = MatrixShape(p);
                using var a = g.narrow(1, n, m).mul(ct.reshape(k, 1, 1));          // [K, m, r] scaled by c_k
                using var aw = a.permute(1, 0, 2).reshape(m, (long)k * Rank);      // Ã  [m, K·r]
                using var bw = g.narrow(1, 0, n).permute(1, 0, 2).reshape(n, (long)k * Rank);   // B̃ [n, K·r]
                using var gw = aw.matmul(bw.t());                                   // [m, n]
                p.grad = gw.reshape(p.shape).mul_(s[-Sigma / Math.Sqrt(Population) / Math.Sqrt(Rank)]);
            }
            else
            {
                using var v = ct.matmul(g);                                          // Σ_k c_k ε_k
                p.grad = v.reshape(p.shape).mul_(s[-Sigma / Math.Sqrt(Population)]);
            }
        }
    }
}
