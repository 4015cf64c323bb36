namespace SharpOptim.MultiTask;

/// <summary>What one <see cref="GradientBalancer"/> step did, with the backward and forward passes it cost.</summary>
/// <param name="Losses">The task losses of the step, as float64.</param>
/// <param name="Weights">The task weights applied to the combination (null for PCGrad, whose result is not a weighted
/// sum of the task gradients).</param>
/// <param name="FullBackwardPasses">Backward passes through the whole model (heads and trunk).</param>
/// <param name="HeadBackwardPasses">Backward passes from the losses to the shared representation only.</param>
/// <param name="TrunkBackwardPasses">Backward passes from the shared representation into the trunk only.</param>
/// <param name="ExtraHeadForwardPasses">Forward passes through the heads beyond the step's own forward (MARIGOLD's
/// zeroth-order probes).</param>
public sealed record BalanceReport(double[] Losses, double[]? Weights, int FullBackwardPasses, int HeadBackwardPasses,
    int TrunkBackwardPasses, int ExtraHeadForwardPasses)
{
    /// <summary>The passes as a short text: "3 full", or "3 head + 1 trunk", with MARIGOLD's extra head forwards.</summary>
    public string Describe() =>
        FullBackwardPasses > 0 && HeadBackwardPasses == 0 && TrunkBackwardPasses == 0
            ? FormattableString.Invariant($"{FullBackwardPasses} full")
            : FormattableString.Invariant($"{(FullBackwardPasses > 0 ? $"{FullBackwardPasses} full + " : "")}{HeadBackwardPasses} head + {TrunkBackwardPasses} trunk{(ExtraHeadForwardPasses > 0 ? $" (+{ExtraHeadForwardPasses} head fwd)" : "")}");
}
