using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>
/// The ask/tell core shared by the evolution strategies (<see cref="OpenAIES"/>, <see cref="Eggroll"/>): a population
/// of <see cref="Population"/> members around the current parameters, perturbations regenerated from
/// (<see cref="Generation"/>, parameter index, member or antithetic pair) through an <see cref="INoiseSource"/>, fitness
/// shaping, and an inner optimizer that takes the ES estimate as a descent gradient.
/// <para>One generation: evaluate the members (each method's <c>Evaluate</c>: one member at a time in place, or all
/// at once in a batched forward) → <see cref="Tell(ReadOnlySpan{double})"/> with the fitness values (higher is
/// better): non-finite values are handled by <see cref="NonFinitePolicy"/> (before anything changes), the values
/// are shaped, the method writes its descent direction into each parameter's <c>grad</c>, the inner optimizer steps,
/// the gradients are cleared and <see cref="Generation"/> advances (which moves the noise to fresh keys).</para>
/// <para>Antithetic ("mirrored") sampling pairs member <c>2k</c> (+ε_k) with member <c>2k+1</c> (−ε_k), as both
/// official codes do.</para>
/// </summary>
public abstract class PopulationStepper
{
    private readonly string _method;
    private double _sigma;

    /// <summary>Validates and stores the common settings.</summary>
    protected PopulationStepper(string method, IEnumerable<(string Name, Parameter Parameter)> parameters, optim.Optimizer inner,
        int population, double sigma, bool mirrored, FitnessShape shaping, int groupSize, long seed, INoiseSource? noise)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(inner);
        var list = parameters.ToList();
        if (list.Count == 0) throw new ArgumentException($"{method}: no parameters to optimise.", nameof(parameters));
        if (population < 2) throw new ArgumentException(FormattableString.Invariant($"{method}: population {population} must be at least 2."), nameof(population));
        if (mirrored && population % 2 != 0) throw new ArgumentException(FormattableString.Invariant($"{method}: population {population} must be even with mirrored (antithetic) sampling."), nameof(population));
        if (groupSize < 0 || (groupSize > 0 && (population % groupSize != 0 || (mirrored && groupSize % 2 != 0))))
            throw new ArgumentException(FormattableString.Invariant($"{method}: group size {groupSize} must be 0 or divide the population {population} (and be even with mirrored sampling)."), nameof(groupSize));
        if (!Enum.IsDefined(shaping)) throw new ArgumentException(FormattableString.Invariant($"{method}: unknown fitness shape {shaping}."), nameof(shaping));
        CheckSigma(method, sigma);
        _method = method;
        ParameterNames = list.Select(p => p.Name).ToArray();
        Parameters = list.Select(p => p.Parameter).ToArray();
        Inner = inner;
        Population = population;
        _sigma = sigma;
        Mirrored = mirrored;
        Shaping = shaping;
        GroupSize = groupSize;
        Noise = noise ?? new CounterNoise(seed);
    }

    private static void CheckSigma(string method, double sigma)
    {
        if (!(sigma > 0) || !double.IsFinite(sigma)) throw new ArgumentException(FormattableString.Invariant($"{method}: sigma {sigma} must be positive and finite."), nameof(sigma));
    }

    /// <summary>N, the number of members per generation.</summary>
    public int Population { get; }

    /// <summary>σ, the perturbation scale (can be changed between generations, e.g. by a schedule).</summary>
    public double Sigma
    {
        get => _sigma;
        set { CheckSigma(_method, value); _sigma = value; }
    }

    /// <summary>Antithetic pairs (+ε, −ε).</summary>
    public bool Mirrored { get; }

    /// <summary>The fitness shaping applied in <see cref="Tell(ReadOnlySpan{double})"/>.</summary>
    public FitnessShape Shaping { get; }

    /// <summary>Group size for <see cref="FitnessShape.ZScore"/> (0 = one group).</summary>
    public int GroupSize { get; }

    /// <summary>Generations told so far; part of every noise key.</summary>
    public long Generation { get; private set; }

    /// <summary>The source the perturbations are regenerated from.</summary>
    public INoiseSource Noise { get; }

    /// <summary>The optimizer that steps on the ES descent direction written into <c>grad</c>.</summary>
    public optim.Optimizer Inner { get; }

    /// <summary>What <see cref="Tell(ReadOnlySpan{double})"/> does with NaN/∞ fitness.</summary>
    public NonFiniteFitnessPolicy NonFinitePolicy { get; set; } = NonFiniteFitnessPolicy.Throw;

    /// <summary>Names of the optimised parameters, in noise-key order.</summary>
    public IReadOnlyList<string> ParameterNames { get; }

    /// <summary>The optimised parameters, in noise-key order.</summary>
    protected IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The shaped fitness of the last told generation.</summary>
    public double[] LastShapedFitness { get; private set; } = Array.Empty<double>();

    /// <summary>The noise-key index of member <paramref name="member"/>: its antithetic pair, or itself.</summary>
    protected int NoiseMember(int member) => Mirrored ? member / 2 : member;

    /// <summary>+1 or −1: the sign of member <paramref name="member"/>'s perturbation.</summary>
    protected int SignOf(int member) => Mirrored && member % 2 == 1 ? -1 : 1;

    /// <summary>Number of distinct noise keys per generation (pairs when mirrored).</summary>
    protected int NoiseMembers => Mirrored ? Population / 2 : Population;

    /// <summary>The generation part of the noise keys of the current generation.</summary>
    protected virtual long NoiseGeneration => Generation;

    /// <summary>Tells the fitness of the current generation (as a [N] tensor) and steps.</summary>
    public void Tell(Tensor fitness)
    {
        ArgumentNullException.ThrowIfNull(fitness);
        using var f = fitness.detach().to(ScalarType.Float64).cpu().reshape(-1);
        Tell(f.data<double>().ToArray());
    }

    /// <summary>Tells the fitness of the current generation (higher is better) and steps: shape, write the descent
    /// direction into each parameter's grad, step the inner optimizer, clear the grads, advance the generation.</summary>
    public void Tell(ReadOnlySpan<double> fitness)
    {
        if (fitness.Length != Population)
            throw new ArgumentException(FormattableString.Invariant($"{_method}: {fitness.Length} fitness values for a population of {Population}; nothing was changed."), nameof(fitness));
        var clean = FitnessShaping.Sanitize(fitness, NonFinitePolicy);
        var shaped = FitnessShaping.Apply(Shaping, clean, GroupSize);
        // The gradients are written in a dispose scope: the methods' temporaries (and the wrapper of each gradient,
        // which the parameter keeps) stay referenced across every native call, callers need not open a scope (README,
        // Compatibility: "TorchSharp's tensor-temporary race").
        using (no_grad())
        using (NewDisposeScope())
        {
            foreach (var p in Parameters) p.grad = null;
            WriteGradients(shaped);
        }
        Inner.step();
        foreach (var p in Parameters) p.grad = null;
        LastShapedFitness = shaped;
        Generation++;
        AfterStep();
    }

    /// <summary>Writes the method's descent direction for the shaped fitness into <c>grad</c> of each parameter it
    /// updates (others keep a null grad, so the inner optimizer skips them).</summary>
    protected abstract void WriteGradients(double[] shaped);

    /// <summary>Called after each step (drops caches of the finished generation).</summary>
    protected virtual void AfterStep() { }

    /// <summary>Saves the parameters, the generation, σ and the inner optimizer's state atomically (the noise needs
    /// nothing more: it is regenerated from the seed and the generation). The inner optimizer must be a SharpOptim
    /// optimizer.</summary>
    public void Save(string path) =>
        GradientFreeCheckpoint.Save(path, _method, new[] { ("generation", (double)Generation), ("sigma", Sigma) },
            ParameterNames.Zip(Parameters, (n, p) => ("param:" + n, (Tensor)p)).ToList(), InnerForCheckpoint());

    /// <summary>Loads a state written by <see cref="Save"/> into this stepper (same method, parameters and inner
    /// optimizer type); everything is checked before anything changes. The run then continues bit for bit.</summary>
    public void Load(string path)
    {
        var scalars = GradientFreeCheckpoint.Load(path, _method, new[] { "generation", "sigma" },
            ParameterNames.Zip(Parameters, (n, p) => ("param:" + n, (Tensor)p)).ToList(), InnerForCheckpoint());
        Generation = (long)scalars["generation"];
        _sigma = scalars["sigma"];
        AfterStep();
    }

    private OptimizerBase InnerForCheckpoint() => Inner as OptimizerBase
        ?? throw new NotSupportedException($"{_method}: checkpoints need a SharpOptim inner optimizer (its state is saved with the stepper); got {Inner.GetType().Name}.");

    /// <summary>Maps each optimised parameter's native handle to its index.</summary>
    protected Dictionary<IntPtr, int> IndexByHandle()
    {
        var d = new Dictionary<IntPtr, int>();
        for (int i = 0; i < Parameters.Count; i++) d[Parameters[i].Handle] = i;
        return d;
    }
}
