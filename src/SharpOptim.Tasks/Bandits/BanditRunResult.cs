namespace SharpOptim.Tasks.Bandits;

/// <summary>One policy's run over one stream: the cumulative regret (mistakes) after every round and the wall time.</summary>
/// <param name="Policy">Policy name.</param>
/// <param name="Seed">Stream and policy seed.</param>
/// <param name="CumulativeRegret">R_t for t = 1..T (R_t = number of mistakes in the first t rounds).</param>
/// <param name="Seconds">Wall time of the run.</param>
public sealed record BanditRunResult(string Policy, int Seed, int[] CumulativeRegret, double Seconds)
{
    /// <summary>R_T.</summary>
    public int FinalRegret => CumulativeRegret[^1];
}
