using SharpOptim.MultiTask;

namespace SharpOptim.Tasks.MultiTask;

/// <summary>The balancers the multi-task benchmark runs, by command-line name, with their default settings.</summary>
public static class MultiTaskBalancers
{
    /// <summary>Balancer names, in the default order. "stl" (the single-task references: one run per task with a
    /// one-hot <see cref="FixedWeights"/>) is run by the benchmark besides these.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "equal", "mgda", "mgda-ub", "pcgrad", "multibalance", "marigold" };

    /// <summary>A fresh balancer <paramref name="name"/> for <paramref name="tasks"/> tasks (PCGrad's order: official fixed).</summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the valid ones.</exception>
    public static GradientBalancer Create(string name, int tasks) => name switch
    {
        "equal" => new EqualWeights(tasks),
        "mgda" => new Mgda(),
        "mgda-ub" => new MgdaUb(),
        "pcgrad" => new PCGrad(),
        "multibalance" => new MultiBalance(),
        "marigold" => new Marigold(),
        _ => throw new ArgumentException(FormattableString.Invariant($"Unknown balancer '{name}'; valid: {string.Join(", ", Names)}."), nameof(name)),
    };

    /// <summary>Whether <paramref name="name"/> is a reconstruction (its paper's algorithm could not be read).</summary>
    public static bool IsReconstruction(string name) => name is "multibalance" or "marigold";
}
