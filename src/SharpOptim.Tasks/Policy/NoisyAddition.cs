using System.Globalization;
using System.Text;
using SharpOptim.Tasks.Data;

namespace SharpOptim.Tasks.Policy;

/// <summary>
/// The "noisy addition" verifiable-reward task of the policy brief (§0.2). Prompts "\na+b=" with a ∈ [0, 99],
/// b ∈ [0, 9] (1000 prompts, split 800 train / 200 held out by a seeded permutation); the answer is the decimal sum
/// followed by "\n" (the end token), at most <see cref="MaxNewTokens"/> = 4 new tokens. The supervised ("pretraining")
/// corpus has lines "a+b=c\n" whose c is the true sum with probability <see cref="PCorrect"/> (0.3), the sum plus one
/// with probability <see cref="POffByOne"/> (0.5) and uniform in [0, 108] otherwise, so after next-character training
/// sampling is right about 30% of the time while the greedy answer is the off-by-one one. Vocabulary: the 13
/// characters "\n+0123456789=" through <see cref="TextCorpus"/>. Rewards are exact: <see cref="Reward"/> is 1 iff the
/// completion up to its first "\n" is the decimal sum (no "\n" within the budget → 0); <see cref="FormatReward"/> is 1
/// iff the completion is 1–3 digits followed by "\n". <see cref="NoisyAdditionVariant"/> adds leading zeros (longer
/// budget, zero-blind reward) or a hard subset of problems.
/// </summary>
public sealed class NoisyAddition
{
    /// <summary>Generation budget L_max of the standard task (a variant's budget is <see cref="NewTokens"/>).</summary>
    public const int MaxNewTokens = 4;

    private readonly Dictionary<char, long> _index = new();
    private readonly bool[] _hard;

    /// <summary>Generates the prompts, the split and the supervised corpus from <paramref name="dataSeed"/>.</summary>
    public NoisyAddition(int sftLines = 30_000, double pCorrect = 0.3, double pOffByOne = 0.5, int dataSeed = 1, int operandRange = 100,
        NoisyAdditionVariant? variant = null)
    {
        variant ??= NoisyAdditionVariant.Standard;
        variant.Validate();
        if (sftLines < 100) throw new ArgumentException($"sftLines = {sftLines}; at least 100 are needed.", nameof(sftLines));
        if (!(pCorrect >= 0 && pOffByOne >= 0 && pCorrect + pOffByOne <= 1))
            throw new ArgumentException(FormattableString.Invariant($"pCorrect = {pCorrect}, pOffByOne = {pOffByOne}: both must be ≥ 0 with sum ≤ 1."), nameof(pCorrect));
        if (operandRange is < 10 or > 100) throw new ArgumentException($"operandRange = {operandRange}; it must lie in [10, 100].", nameof(operandRange));
        SftLines = sftLines;
        OperandRange = operandRange;
        PCorrect = pCorrect;
        POffByOne = pOffByOne;
        DataSeed = dataSeed;
        Variant = variant;
        NewTokens = MaxNewTokens + variant.MaxLeadingZeros;
        // The variants draw from their own streams, so the standard corpus and split do not change.
        var hard = new bool[operandRange * 10];
        if (variant.HardFraction > 0 && !variant.HardRandom)
        {
            int fromB = 10 - (int)Math.Round(variant.HardFraction * 10);
            for (int id = 0; id < hard.Length; id++) hard[id] = id % 10 >= fromB;
        }
        else if (variant.HardFraction > 0)
        {
            var hardRng = new Random(unchecked(dataSeed * 7919 + 104_729));
            int count = (int)Math.Round(variant.HardFraction * hard.Length);
            foreach (int id in Enumerable.Range(0, hard.Length).OrderBy(_ => hardRng.Next()).Take(count)) hard[id] = true;
        }
        _hard = hard;
        HardIds = Enumerable.Range(0, hard.Length).Where(i => hard[i]).ToArray();
        var zeroRng = new Random(unchecked(dataSeed * 7919 + 15_485_863));
        var rng = new Random(dataSeed);
        var sb = new StringBuilder();
        for (int i = 0; i < sftLines; i++)
        {
            int a = rng.Next(operandRange), b = rng.Next(10);
            double u = rng.NextDouble();
            double pc = hard[a * 10 + b] ? variant.HardPCorrect : pCorrect;
            int c = u < pc ? a + b : u < pc + pOffByOne ? a + b + 1 : rng.Next(operandRange + 9);
            string zeros = variant.MaxLeadingZeros > 0 && zeroRng.NextDouble() < variant.PLeadingZeros ? new string('0', zeroRng.Next(1, variant.MaxLeadingZeros + 1)) : "";
            sb.Append(CultureInfo.InvariantCulture, $"{a}+{b}={zeros}{c}\n");
        }
        SftText = sb.ToString();
        Corpus = new TextCorpus("noisy-addition", "\n+0123456789=" + SftText);
        for (int i = 0; i < Corpus.Vocabulary.Count; i++) _index[Corpus.Vocabulary[i]] = i;
        EndToken = _index['\n'];
        var prompts = new List<(int A, int B)>();
        for (int a = 0; a < operandRange; a++)
            for (int b = 0; b < 10; b++) prompts.Add((a, b));
        Problems = prompts;
        var perm = Enumerable.Range(0, prompts.Count).OrderBy(_ => rng.Next()).ToArray();
        int train = prompts.Count * 4 / 5;
        TrainIds = perm.Take(train).ToArray();
        HeldOutIds = perm.Skip(train).ToArray();
        HeldOutHardIds = HeldOutIds.Where(i => hard[i]).ToArray();
        MaxPromptLength = FormattableString.Invariant($"\n{operandRange - 1}+9=").Length;
        SftTokens = Encode(SftText);
    }

    /// <summary>The variant (<see cref="NoisyAdditionVariant.Standard"/> for the brief's task).</summary>
    public NoisyAdditionVariant Variant { get; }
    /// <summary>This task's generation budget: <see cref="MaxNewTokens"/> + the variant's leading zeros.</summary>
    public int NewTokens { get; }
    /// <summary>The longest prompt ("\n99+9=": 6 tokens on the standard task).</summary>
    public int MaxPromptLength { get; }
    /// <summary>The problems of the hard subset (empty unless the variant has one), ascending.</summary>
    public int[] HardIds { get; }
    /// <summary>The held-out problems of the hard subset.</summary>
    public int[] HeldOutHardIds { get; }
    /// <summary>True iff problem <paramref name="id"/> is in the hard subset.</summary>
    public bool IsHard(int id) => _hard[id];
    /// <summary>Lines in the supervised corpus.</summary>
    public int SftLines { get; }
    /// <summary>Probability of a correct sum in the corpus.</summary>
    public double PCorrect { get; }
    /// <summary>Probability of the sum plus one in the corpus.</summary>
    public double POffByOne { get; }
    /// <summary>a ranges over [0, OperandRange) (100 in the brief; smaller for fast tests); the random wrong sums over
    /// [0, OperandRange + 8].</summary>
    public int OperandRange { get; }
    /// <summary>Seed of the data generation and split.</summary>
    public int DataSeed { get; }
    /// <summary>The supervised corpus text.</summary>
    public string SftText { get; }
    /// <summary>The supervised corpus, encoded.</summary>
    public long[] SftTokens { get; }
    /// <summary>The corpus (its vocabulary defines the tokens).</summary>
    public TextCorpus Corpus { get; }
    /// <summary>Vocabulary size (13).</summary>
    public int Vocabulary => Corpus.Vocabulary.Count;
    /// <summary>The end-of-answer token ("\n").</summary>
    public long EndToken { get; }
    /// <summary>Every problem (a, b); the prompt id is the index.</summary>
    public IReadOnlyList<(int A, int B)> Problems { get; }
    /// <summary>The training prompt ids (80%: 800 of 1000).</summary>
    public int[] TrainIds { get; }
    /// <summary>The held-out prompt ids (20%: 200 of 1000).</summary>
    public int[] HeldOutIds { get; }

    /// <summary>Token ids of <paramref name="text"/>; characters outside the vocabulary are rejected.</summary>
    public long[] Encode(string text) => text.Select(c => _index.TryGetValue(c, out var i) ? i
        : throw new ArgumentException($"character '{c}' is not in the task's vocabulary.", nameof(text))).ToArray();

    /// <summary>The text of <paramref name="tokens"/>.</summary>
    public string Decode(IEnumerable<long> tokens) => new(tokens.Select(t => Corpus.Vocabulary[(int)t]).ToArray());

    /// <summary>The prompt "\na+b=" of problem <paramref name="id"/>.</summary>
    public long[] Prompt(int id) => Encode(FormattableString.Invariant($"\n{Problems[id].A}+{Problems[id].B}="));

    /// <summary>1 iff <paramref name="completion"/> up to its first end token is the decimal sum of problem <paramref name="id"/>
    /// (with the leading-zeros variant: an all-digit answer with its leading zeros removed, "0" if it was only zeros).</summary>
    public double Reward(int id, IReadOnlyList<long> completion)
    {
        int end = IndexOfEnd(completion);
        if (end < 0) return 0;
        string answer = Decode(completion.Take(end));
        if (Variant.MaxLeadingZeros > 0 && answer.Length > 1 && answer.All(char.IsAsciiDigit))
        {
            answer = answer.TrimStart('0');
            if (answer.Length == 0) answer = "0";
        }
        return answer == (Problems[id].A + Problems[id].B).ToString(CultureInfo.InvariantCulture) ? 1 : 0;
    }

    /// <summary>1 iff <paramref name="completion"/> is 1–3 digits (plus up to the variant's leading zeros) followed by the end token.</summary>
    public double FormatReward(IReadOnlyList<long> completion)
    {
        int end = IndexOfEnd(completion);
        return end >= 1 && end <= 3 + Variant.MaxLeadingZeros && Decode(completion.Take(end)).All(char.IsAsciiDigit) ? 1 : 0;
    }

    private int IndexOfEnd(IReadOnlyList<long> completion)
    {
        for (int i = 0; i < completion.Count; i++)
            if (completion[i] == EndToken) return i;
        return -1;
    }
}
