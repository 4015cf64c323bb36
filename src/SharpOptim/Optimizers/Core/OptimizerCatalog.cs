using System.Globalization;
using TorchSharp.Modules;

namespace SharpOptim.Optimizers;

/// <summary>
/// The registry of SharpOptim optimizers: name, paper, float32 state bytes per parameter with the catalog's
/// defaults, and a factory that takes hyperparameters by their PyTorch names ("lr", "weight_decay", with "betas"
/// split into "beta1" and "beta2"; booleans as 0 or 1). Catalog defaults equal the classes' defaults except SGD,
/// which the catalog gives momentum 0.9 and lr 0.01. Muon's entry routes by shape and, given named parameters, by name (matrices to Muon, embeddings, heads and the rest to
/// its Adam, which holds 8 bytes per parameter); its state figure is for matrices.
/// </summary>
public static class OptimizerCatalog
{
    /// <summary>One registered optimizer.</summary>
    public sealed record Entry(string Name, string Paper, int StateBytesPerParameter, bool HasFusedPath,
        Func<IReadOnlyList<(string Name, Parameter Parameter)>, Hyperparameters, OptimizerBase> Factory)
    {
        /// <summary>Bytes of state per parameter tensor on top of the per-element figure (scalars an optimizer keeps
        /// per tensor, such as AdaGradNorm's shared accumulator); 0 for most.</summary>
        public int StateBytesPerTensor { get; init; }

        /// <summary>For optimizers whose state is not linear in the element count (GaLore's depends on the rank and
        /// the shape): the float32 state bytes of one parameter of this shape with the catalog's defaults.</summary>
        public Func<long[], long>? StateBytesOfShape { get; init; }

        /// <summary>The float32 state bytes this entry's optimizer holds for one parameter of the given shape.</summary>
        public long StateBytesFor(long[] shape) => StateBytesOfShape?.Invoke(shape)
            ?? StateBytesPerParameter * shape.Aggregate(1L, (a, b) => a * b) + StateBytesPerTensor;

        /// <summary>Creates the optimizer over unnamed parameters (named "param0", "param1", ...: optimizers that
        /// route by name then route by shape alone); an unknown hyperparameter name is an error listing the valid ones.</summary>
        public OptimizerBase Create(IEnumerable<Parameter> parameters, IReadOnlyDictionary<string, double> hyperparameters) =>
            Create(parameters.Select((p, i) => (FormattableString.Invariant($"param{i}"), p)), hyperparameters);

        /// <summary>Creates the optimizer over named parameters (as <c>module.named_parameters()</c> gives them), so
        /// that name-based routing (Muon, Adam-mini, MoFO) sees the model's real names; an unknown hyperparameter
        /// name is an error listing the valid ones.</summary>
        public OptimizerBase Create(IEnumerable<(string Name, Parameter Parameter)> parameters, IReadOnlyDictionary<string, double> hyperparameters)
        {
            var h = new Hyperparameters(hyperparameters);
            var opt = Factory(parameters.ToList(), h);
            var unknown = hyperparameters.Keys.Where(k => !h.Requested.Contains(k)).ToList();
            if (unknown.Count == 0) return opt;
            opt.Dispose();
            throw new ArgumentException(FormattableString.Invariant($"Unknown hyperparameter '{unknown[0]}' for {Name} (value {hyperparameters[unknown[0]].ToString(CultureInfo.InvariantCulture)}); valid names: {string.Join(", ", h.Requested)}."));
        }
    }

    /// <summary>The optimizer's own default for every hyperparameter it reads (name → value; flags as 0 or 1), found by
    /// building it once on <paramref name="parameters"/> with <paramref name="given"/> set (what some optimizers cannot
    /// be built without, e.g. Adam-mini's dim and n_heads for attention); a given value does not change the default
    /// reported for its name.</summary>
    public static IReadOnlyDictionary<string, double> Defaults(this Entry entry, IEnumerable<(string Name, Parameter Parameter)> parameters,
        IReadOnlyDictionary<string, double>? given = null)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var h = new Hyperparameters(given ?? new Dictionary<string, double>());
        using var opt = entry.Factory(parameters.ToList(), h);
        return new Dictionary<string, double>(h.Fallbacks);
    }

    /// <summary>Hyperparameter values by name, recording which names a factory asked for.</summary>
    public sealed class Hyperparameters(IReadOnlyDictionary<string, double> values)
    {
        internal List<string> Requested { get; } = new();

        internal Dictionary<string, double> Fallbacks { get; } = new();

        /// <summary>The value given for <paramref name="name"/>, else <paramref name="fallback"/>.</summary>
        public double Get(string name, double fallback)
        {
            Requested.Add(name);
            Fallbacks.TryAdd(name, fallback);
            return values.TryGetValue(name, out var v) ? v : fallback;
        }

        /// <summary>A whole number (a count, a size, a seed); a fractional value is an error naming it.</summary>
        public long Integer(string name, long fallback)
        {
            double v = Get(name, fallback);
            if (v != Math.Floor(v) || double.IsInfinity(v) || Math.Abs(v) > 1e15)
                throw new ArgumentException(FormattableString.Invariant($"Invalid {name}: {v.ToString(CultureInfo.InvariantCulture)} (must be a whole number)."), name);
            return (long)v;
        }

        /// <summary>A boolean given as 0 or 1.</summary>
        public bool Flag(string name, bool fallback)
        {
            double v = Get(name, fallback ? 1 : 0);
            return v switch
            {
                0 => false,
                1 => true,
                _ => throw new ArgumentException(FormattableString.Invariant($"Invalid {name}: {v.ToString(CultureInfo.InvariantCulture)} (a flag is 0 or 1)."), name),
            };
        }
    }

    /// <summary>Every registered optimizer, by name.</summary>
    public static IReadOnlyList<Entry> All { get; } = new Entry[]
    {
        new("sgd", "Robbins & Monro 1951; Polyak 1964 (momentum); Sutskever et al., ICML 2013 (Nesterov)", 4, true,
            (ps, h) => new SGD(ps, h.Get("lr", 0.01), h.Get("momentum", 0.9), h.Get("dampening", 0), h.Get("weight_decay", 0),
                h.Flag("nesterov", false), h.Flag("maximize", false))),
        new("adam", "Kingma & Ba, Adam: A Method for Stochastic Optimization, ICLR 2015 (arXiv:1412.6980)", 8, true,
            (ps, h) => new Adam(ps, h.Get("lr", 1e-3), h.Get("beta1", 0.9), h.Get("beta2", 0.999), h.Get("eps", 1e-8),
                h.Get("weight_decay", 0), h.Flag("amsgrad", false), h.Flag("maximize", false))),
        new("adamw", "Loshchilov & Hutter, Decoupled Weight Decay Regularization, ICLR 2019 (arXiv:1711.05101)", 8, true,
            (ps, h) => new AdamW(ps, h.Get("lr", 1e-3), h.Get("beta1", 0.9), h.Get("beta2", 0.999), h.Get("eps", 1e-8),
                h.Get("weight_decay", 1e-2), h.Flag("amsgrad", false), h.Flag("maximize", false))),
        new("adagrad", "Duchi, Hazan & Singer, Adaptive Subgradient Methods for Online Learning and Stochastic Optimization, JMLR 2011", 4, true,
            (ps, h) => new Adagrad(ps.Select(x => x.Parameter), h.Get("lr", 1e-2), h.Get("lr_decay", 0), h.Get("weight_decay", 0),
                h.Get("initial_accumulator_value", 0), h.Get("eps", 1e-10), h.Flag("maximize", false))),
        new("rmsprop", "Tieleman & Hinton, Lecture 6.5 RMSprop, 2012; Graves 2013 (centered, arXiv:1308.0850)", 4, true,
            (ps, h) => new RMSprop(ps.Select(x => x.Parameter), h.Get("lr", 1e-2), h.Get("alpha", 0.99), h.Get("eps", 1e-8), h.Get("weight_decay", 0),
                h.Get("momentum", 0), h.Flag("centered", false), h.Flag("maximize", false))),
        new("diffgrad", "Dubey et al., diffGrad: An Optimization Method for Convolutional Neural Networks, IEEE TNNLS 2020 (arXiv:1909.11015)", 12, true,
            (ps, h) => new DiffGrad(ps.Select(x => x.Parameter), h.Get("lr", 1e-3), h.Get("beta1", 0.9), h.Get("beta2", 0.999), h.Get("eps", 1e-8),
                h.Get("weight_decay", 0), h.Flag("maximize", false))),
        new("lion", "Chen et al., Symbolic Discovery of Optimization Algorithms, NeurIPS 2023 (arXiv:2302.06675)", 4, true,
            (ps, h) => new Lion(ps, h.Get("lr", 1e-4), h.Get("beta1", 0.9), h.Get("beta2", 0.99), h.Get("weight_decay", 0),
                h.Flag("maximize", false))),
        new("sophia", "Liu et al., Sophia: A Scalable Stochastic Second-order Optimizer for Language Model Pre-training, ICLR 2024 (arXiv:2305.14342)", 8, true,
            (ps, h) => new Sophia(ps.Select(x => x.Parameter), h.Get("lr", 1e-4), h.Get("beta1", 0.965), h.Get("beta2", 0.99), h.Get("rho", 0.04),
                h.Get("weight_decay", 0.1), h.Flag("hutchinson", false) ? SophiaEstimator.Hutchinson : SophiaEstimator.GaussNewtonBartlett,
                h.Integer("batch_size", 5120), h.Get("eps", 1e-15), h.Flag("maximize", false))),
        new("mofo", "Chen et al., MoFO: Momentum-Filtered Optimizer for Mitigating Forgetting in LLM Fine-Tuning, 2024 (arXiv:2407.20999)", 8, true,
            (ps, h) => new MoFO(ps, h.Get("lr", 1e-5), h.Get("beta1", 0.9), h.Get("beta2", 0.999),
                h.Get("eps", 1e-8), h.Get("weight_decay", 0.1), h.Get("fraction", 0.03))),
        new("muon", "Jordan et al., Muon: An optimizer for hidden layers in neural networks, 2024 (kellerjordan.github.io/posts/muon)", 4, false,
            (ps, h) => new Muon(ps, h.Get("lr", 0.02), h.Get("momentum", 0.95), h.Get("weight_decay", 0),
                h.Flag("nesterov", true), h.Integer("ns_steps", 5), h.Get("adam_lr", 3e-4), h.Get("adam_beta1", 0.9), h.Get("adam_beta2", 0.95),
                h.Get("adam_eps", 1e-10), h.Get("adam_weight_decay", 0))),
        new("adam-mini", "Zhang et al., Adam-mini: Use Fewer Learning Rates To Gain More, ICLR 2025 (arXiv:2406.16793)", 4, false,
            (ps, h) => new AdamMini(ps, h.Get("lr", 1e-3), h.Get("beta1", 0.9), h.Get("beta2", 0.999), h.Get("eps", 1e-8), h.Get("weight_decay", 0),
                h.Integer("dim", 0), h.Integer("n_heads", 0), h.Integer("n_kv_heads", 0))) { StateBytesPerTensor = 4 },
        new("galore", "Zhao et al., GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection, ICML 2024 (arXiv:2403.03507)", 8, false,
            (ps, h) => new GaLore(ps, h.Get("lr", 1e-3), h.Get("beta1", 0.9), h.Get("beta2", 0.999), h.Get("eps", 1e-6), h.Get("weight_decay", 0),
                h.Integer("rank", 128), h.Integer("update_proj_gap", 200), h.Get("scale", 0.25)))
        {
            // Hidden matrices: the projector plus two rank-r moments (r = min(128, m, n)); everything else AdamW's 8 B.
            StateBytesOfShape = s => s.Length != 2 ? 8 * s.Aggregate(1L, (a, b) => a * b)
                : 4 * (Math.Min(128, Math.Min(s[0], s[1])) * Math.Min(s[0], s[1]) + 2 * Math.Min(128, Math.Min(s[0], s[1])) * Math.Max(s[0], s[1])),
        },
        new("frugal", "Zmushko et al., FRUGAL: Memory-Efficient Optimization by Reducing State Overhead for Scalable Training, ICML 2025 (arXiv:2411.07837; official code fzmushko/FRUGAL)", 8, false,
            (ps, h) => new Frugal(ps, h.Get("lr", 1e-3), h.Get("beta1", 0.9), h.Get("beta2", 0.999), h.Get("eps", 1e-8), h.Get("weight_decay", 0),
                h.Get("density", 0.25), h.Integer("update_gap", 200),
                h.Flag("blocks", false) ? FrugalSubspace.Blocks : h.Flag("columns", false) ? FrugalSubspace.Columns : FrugalSubspace.Svd,
                h.Flag("sgd", false) ? FrugalStateFree.Sgd : FrugalStateFree.SignSgd, h.Get("free_lr_scale", 1.0), (int)h.Integer("seed", 0),
                block_order: h.Flag("descending", false) ? FrugalBlockOrder.Descending : FrugalBlockOrder.Random))
        {
            // Svd mode: projectable matrices hold a rank-r projector and moments, r = round(0.25·smaller side) (half to
            // even), + a 4 B refresh index; regular parameters AdamW's 8 B.
            StateBytesOfShape = s => s.Length != 2 ? 8 * s.Aggregate(1L, (a, b) => a * b)
                : (long)Math.Round(0.25 * Math.Min(s[0], s[1]), MidpointRounding.ToEven) is var r && r == 0 ? 4
                : 4 * (Math.Min(s[0], s[1]) * r + 2 * r * Math.Max(s[0], s[1])) + 4,
        },
        new("drop-muon", "Gruntkowska, Maziane, Qu & Richtárik, Drop-Muon: Update Less, Converge Faster, 2025 (arXiv:2510.02239)", 4, false,
            (ps, h) => new DropMuon(DropMuon.ByModule(ps), h.Get("lr", 0.02), h.Get("momentum", 0.95), h.Get("weight_decay", 0),
                h.Flag("nesterov", false), h.Integer("ns_steps", 5), h.Get("adam_lr", 3e-4), h.Get("adam_beta1", 0.9), h.Get("adam_beta2", 0.95),
                h.Get("adam_eps", 1e-10), h.Get("adam_weight_decay", 0), seed: (int)h.Integer("seed", 0))),
        new("lanton", "Hao, Gong, Xu, Wang & Liu, Noise-Adaptive Layerwise Learning Rates: Accelerating Geometry-Aware Optimization for Deep Neural Network Training, 2025 (arXiv:2510.14009)", 8, false,
            (ps, h) => new Lanton(ps, h.Get("lr", 0.02), h.Get("sign_lr", 1e-3), h.Get("adam_lr", 3e-4), h.Get("momentum", 0.95), h.Flag("nesterov", false),
                h.Integer("ns_steps", 5), h.Get("noise_beta", 0.99), h.Get("weight_decay", 0), h.Get("adam_beta1", 0.9), h.Get("adam_beta2", 0.95),
                h.Get("adam_eps", 1e-10), h.Get("adam_weight_decay", 0),
                h.Flag("momentum_residual", false) ? LantonNoiseEstimate.MomentumResidual : LantonNoiseEstimate.GradientDifference,
                h.Flag("sign_embeddings", true) ? null : (n, p) => Lanton.DefaultKind(n, p) == LantonLayerKind.Sign ? LantonLayerKind.AdamW : Lanton.DefaultKind(n, p),
                h.Flag("adaptive", true), h.Integer("noise_every", 1), h.Flag("noise_bias_correction", false)))
        {
            // Matrices: momentum and previous gradient, plus the noise average and the rate (two scalars).
            StateBytesPerTensor = 8,
        },
        new("auon", "Maity, AuON: A Linear-time Alternative to Semi-Orthogonal Momentum Updates, 2025 (arXiv:2509.24320; official code ryyzn9/AuON, followed)", 4, false,
            (ps, h) => new AuON(ps.Select(x => x.Parameter), h.Get("lr", 0.24), h.Get("momentum", 0.95), h.Get("weight_decay", 0), h.Get("gamma", 1.5))),
        new("hybrid-auon", "Maity, AuON: A Linear-time Alternative to Semi-Orthogonal Momentum Updates, 2025 (arXiv:2509.24320; Hybrid-AuON, official code ryyzn9/AuON)", 4, false,
            (ps, h) => AuON.Hybrid(ps.Select(x => x.Parameter), h.Get("lr", 0.24), h.Get("momentum", 0.95), h.Get("weight_decay", 0), h.Get("gamma", 1.5),
                h.Integer("ns_steps", 1))),
        new("adagradnorm", "Ward, Wu & Bottou, AdaGrad stepsizes, ICML 2019 (arXiv:1806.01811); the base of AdAdaGrad-Norm, Lau, Liu & Kolar 2024 (arXiv:2402.11215)", 0, false,
            (ps, h) => new AdaGradNorm(ps, h.Get("lr", 1.0), h.Get("initial_accumulator_value", 1e-2), h.Get("eps", 1e-10),
                h.Get("weight_decay", 0), h.Flag("maximize", false))) { StateBytesPerTensor = 4 },
        new("sgd-adaptive-momentum", "Topollai & Choromanska, Adaptive Memory Momentum via a Model-Based Framework for Deep Learning Optimization, 2025 (arXiv:2510.04988)", 4, false,
            (ps, h) => new AdaptiveMomentumSGD(ps, h.Get("lr", 0.1), h.Get("lambda", 0.1), h.Get("beta_max", 0.9), h.Get("weight_decay", 0))),
        new("adamw-adaptive-momentum", "Topollai & Choromanska, Adaptive Memory Momentum via a Model-Based Framework for Deep Learning Optimization, 2025 (arXiv:2510.04988)", 8, false,
            (ps, h) => new AdaptiveMomentumAdamW(ps, h.Get("lr", 1e-3), h.Get("beta1_max", 0.89), h.Get("beta2", 0.999), h.Get("eps", 1e-8),
                h.Get("weight_decay", 1e-2), h.Get("lambda", 0.1))) { StateBytesPerTensor = 8 },
        new("signsgd", "Bernstein et al., signSGD: Compressed Optimisation for Non-Convex Problems, ICML 2018 (arXiv:1802.04434)", 0, true,
            (ps, h) => new SignSGD(ps.Select(x => x.Parameter), h.Get("lr", 1e-3), h.Get("weight_decay", 0), h.Flag("maximize", false))),
        new("signum", "Bernstein et al., signSGD: Compressed Optimisation for Non-Convex Problems, ICML 2018 (arXiv:1802.04434)", 4, true,
            (ps, h) => new Signum(ps.Select(x => x.Parameter), h.Get("lr", 1e-3), h.Get("momentum", 0.9), h.Get("weight_decay", 0), h.Flag("maximize", false))),
    };

    /// <summary>The entry with this name; the error lists the valid names.</summary>
    public static Entry Get(string name) =>
        All.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException(FormattableString.Invariant($"Unknown optimizer '{name}'; valid names: {string.Join(", ", All.Select(e => e.Name))}."), nameof(name));
}
