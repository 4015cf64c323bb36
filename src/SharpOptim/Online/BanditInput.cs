namespace SharpOptim.Online;

/// <summary>Argument checks shared by the bandit policies, and the lowest-index argmax.</summary>
internal static class BanditInput
{
    public static void CheckShape(int arms, int dimension)
    {
        if (arms < 1) throw new ArgumentException(FormattableString.Invariant($"arms must be at least 1, got {arms}."), nameof(arms));
        if (dimension < 1) throw new ArgumentException(FormattableString.Invariant($"contextDimension must be at least 1, got {dimension}."), "contextDimension");
    }

    public static void CheckContexts(IReadOnlyList<double[]> contexts, int arms, int dimension)
    {
        ArgumentNullException.ThrowIfNull(contexts);
        if (contexts.Count == 0) throw new ArgumentException("contexts holds no arms; a round needs one context per arm.", nameof(contexts));
        if (contexts.Count != arms)
            throw new ArgumentException(FormattableString.Invariant($"contexts holds {contexts.Count} arms, the policy has {arms}."), nameof(contexts));
        for (int a = 0; a < contexts.Count; a++) CheckContext(contexts[a], dimension, FormattableString.Invariant($"contexts[{a}]"));
    }

    public static void CheckContext(double[] context, int dimension, string name = "context")
    {
        if (context is null) throw new ArgumentNullException(name);
        if (context.Length != dimension)
            throw new ArgumentException(FormattableString.Invariant($"{name} has dimension {context.Length}, the policy expects {dimension}."), name);
        for (int i = 0; i < context.Length; i++)
            if (!double.IsFinite(context[i]))
                throw new ArgumentException(FormattableString.Invariant($"{name}[{i}] is {context[i]}; contexts must be finite."), name);
    }

    public static void CheckUpdate(double[] context, int arm, double reward, int arms, int dimension)
    {
        if (arm < 0 || arm >= arms) throw new ArgumentException(FormattableString.Invariant($"arm {arm} is out of range 0..{arms - 1}."), nameof(arm));
        if (!double.IsFinite(reward)) throw new ArgumentException(FormattableString.Invariant($"reward is {reward}; rewards must be finite."), nameof(reward));
        CheckContext(context, dimension);
    }

    /// <summary>Index of the largest value, the lowest index among ties.</summary>
    public static int ArgMax(ReadOnlySpan<double> values)
    {
        int best = 0;
        for (int a = 1; a < values.Length; a++) if (values[a] > values[best]) best = a;
        return best;
    }

    /// <summary>The first arm whose cumulative probability exceeds u ∈ [0, 1) (the last arm with positive probability
    /// if rounding leaves the total below u).</summary>
    public static int Sample(ReadOnlySpan<double> p, double u)
    {
        double c = 0;
        int last = 0;
        for (int a = 0; a < p.Length; a++)
        {
            if (p[a] <= 0) continue;
            last = a;
            c += p[a];
            if (u < c) return a;
        }
        return last;
    }
}
