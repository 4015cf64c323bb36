using System.Globalization;

namespace SharpOptim.Tasks.Policy;

/// <summary>
/// Variants of <see cref="NoisyAddition"/> for the policy brief's secondary miniatures. The standard task (all defaults)
/// is the brief's §0.2 task, bit for bit (the variants draw from their own random streams, so the standard corpus, split
/// and cache key are unchanged).
/// <list type="bullet">
/// <item><b>Leading zeros</b> (<see cref="MaxLeadingZeros"/> &gt; 0; brief §3, Dr. GRPO's length-bias miniature): each
/// supervised answer carries, with probability <see cref="PLeadingZeros"/>, k ∼ uniform{1..MaxLeadingZeros} leading
/// zeros; the reward ignores leading zeros (an all-digit answer is compared as a number: "0055" counts for 55, "00" for
/// 0, the empty answer never counts) and the generation budget grows to 4 + MaxLeadingZeros new tokens, so the length of
/// a completion can vary without changing its reward.</item>
/// <item><b>Hard subset</b> (<see cref="HardFraction"/> &gt; 0; brief §4 DisCO miniature 2 and §6 ARPO):
/// <see cref="HardFraction"/> of the problems (20% in the brief) get the true sum in only <see cref="HardPCorrect"/>
/// (5%) of their supervised lines; their off-by-one share stays <see cref="NoisyAddition.POffByOne"/> and the rest is
/// uniform. Rewards are unchanged. Which problems: by default those with the largest second operands
/// (b ≥ 10 − 10·HardFraction, i.e. b ∈ {8, 9} for 20%), so the model can tell a hard prompt from its last digit;
/// <see cref="HardRandom"/> picks a seeded random subset instead. Measured: with a random subset the 2 × 64 SFT model
/// does not learn which prompts are hard (held-out sampled accuracy 0.199 on hard vs 0.243 on the others, not 5%), so
/// the default is the structured one. The brief fixes only "20% of prompts, 5% correct"; the choice of subset and
/// keeping the off-by-one share are this variant's.</item>
/// </list>
/// </summary>
public sealed record NoisyAdditionVariant(int MaxLeadingZeros = 0, double PLeadingZeros = 0.5, double HardFraction = 0, double HardPCorrect = 0.05,
    bool HardRandom = false)
{
    /// <summary>The brief's §0.2 task.</summary>
    public static NoisyAdditionVariant Standard { get; } = new();

    /// <summary>Answers with up to 4 leading zeros in half the supervised lines; budget 8 new tokens.</summary>
    public static NoisyAdditionVariant LeadingZeros { get; } = new(MaxLeadingZeros: 4);

    /// <summary>20% of the problems (those with b ∈ {8, 9}) with 5% correct supervised answers.</summary>
    public static NoisyAdditionVariant HardSubset { get; } = new(HardFraction: 0.2);

    /// <summary>The task names of <c>sharpoptim rl --task</c> and their variants.</summary>
    public static IReadOnlyDictionary<string, NoisyAdditionVariant> ByTaskName { get; } = new Dictionary<string, NoisyAdditionVariant>
    {
        ["addition"] = Standard, ["addition-zeros"] = LeadingZeros, ["addition-hard"] = HardSubset,
    };

    /// <summary>True for the brief's §0.2 task (no zeros, no hard subset).</summary>
    public bool IsStandard => MaxLeadingZeros == 0 && HardFraction == 0;

    /// <summary>A file-name-safe key ("" for the standard task, so existing caches stay valid).</summary>
    public string Key => IsStandard ? "" : string.Create(CultureInfo.InvariantCulture,
        $"-z{MaxLeadingZeros}-{(MaxLeadingZeros > 0 ? PLeadingZeros : 0):G4}-h{HardFraction:G4}-{(HardFraction > 0 ? HardPCorrect : 0):G4}{(HardFraction > 0 ? (HardRandom ? "-random" : "-b") : "")}");

    internal void Validate()
    {
        if (MaxLeadingZeros is < 0 or > 8) throw new ArgumentException($"MaxLeadingZeros = {MaxLeadingZeros}; it must lie in [0, 8].", nameof(MaxLeadingZeros));
        if (!(PLeadingZeros >= 0 && PLeadingZeros <= 1)) throw new ArgumentException($"PLeadingZeros = {PLeadingZeros}; it must lie in [0, 1].", nameof(PLeadingZeros));
        if (!(HardFraction >= 0 && HardFraction <= 1)) throw new ArgumentException($"HardFraction = {HardFraction}; it must lie in [0, 1].", nameof(HardFraction));
        if (!HardRandom && Math.Abs(HardFraction * 10 - Math.Round(HardFraction * 10)) > 1e-9)
            throw new ArgumentException($"HardFraction = {HardFraction}; a subset by second operand needs a multiple of 0.1 (or HardRandom).", nameof(HardFraction));
        if (!(HardPCorrect >= 0 && HardPCorrect <= 1)) throw new ArgumentException($"HardPCorrect = {HardPCorrect}; it must lie in [0, 1].", nameof(HardPCorrect));
    }
}
