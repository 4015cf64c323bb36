namespace SharpOptim.Tasks.Data;

/// <summary>
/// A plain-text corpus encoded character by character: the vocabulary is the set of distinct characters, in
/// ordinal order; the first 90% of the text trains and the last 10% tests (a fixed, contiguous split, so no
/// test window overlaps a training one).
/// </summary>
public sealed class TextCorpus
{
    /// <summary>SHA-256 of the embedded data/fortunes/fortunes.txt.gz.</summary>
    public const string FortunesSha256 = "c0915b9e6e22b4715210a31de23ddb35ff684169f36b533f7e07b2f2d10cecf2";

    /// <summary>Encodes <paramref name="text"/>; fails on text too short to split.</summary>
    public TextCorpus(string name, string text)
    {
        if (text.Length < 1000) throw new ArgumentException(FormattableString.Invariant($"corpus '{name}' has {text.Length} characters; at least 1000 are needed."), nameof(text));
        Name = name;
        Vocabulary = text.Distinct().Order().ToArray();
        var index = new Dictionary<char, int>();
        for (int i = 0; i < Vocabulary.Count; i++) index[Vocabulary[i]] = i;
        var tokens = new long[text.Length];
        for (int i = 0; i < text.Length; i++) tokens[i] = index[text[i]];
        int split = (int)(text.Length * 0.9);
        Train = tokens[..split];
        Test = tokens[split..];
    }

    /// <summary>The corpus's name.</summary>
    public string Name { get; }
    /// <summary>The distinct characters, in ordinal order; a token is an index into this list.</summary>
    public IReadOnlyList<char> Vocabulary { get; }
    /// <summary>Training tokens (the first 90% of the text).</summary>
    public long[] Train { get; }
    /// <summary>Test tokens (the last 10%).</summary>
    public long[] Test { get; }

    /// <summary>
    /// Four files of Debian's <c>fortunes</c> package (literature, wisdom, science, humorists; 287,648 characters,
    /// BSD licence), embedded from data/fortunes with their source and checksums.
    /// </summary>
    public static TextCorpus Fortunes() =>
        new("fortunes", EmbeddedData.ReadText("data/fortunes.txt.gz", FortunesSha256, gzip: true));
}
