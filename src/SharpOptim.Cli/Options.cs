using System.Globalization;

namespace SharpOptim.Cli;

/// <summary>Parsed "--name value" and "--flag" options of one sub-command, checked against the flags it accepts.</summary>
public sealed class Options
{
    private readonly Dictionary<string, string?> _values = new();
    private readonly Dictionary<string, List<string>> _all = new();

    public static Options Parse(IReadOnlyList<string> args, IReadOnlyDictionary<string, bool> accepted)
    {
        var o = new Options();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
                throw new UsageException(FormattableString.Invariant($"unexpected argument '{a}'."));
            string name = a[2..];
            string? inline = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) (name, inline) = (name[..eq], name[(eq + 1)..]);
            if (!accepted.TryGetValue(name, out bool takesValue))
                throw new UsageException(FormattableString.Invariant($"unknown option '--{name}'; valid options: {string.Join(", ", accepted.Keys.Select(k => "--" + k))}."));
            if (takesValue)
            {
                string? v = inline ?? (i + 1 < args.Count ? args[++i] : null);
                if (v is null) throw new UsageException(FormattableString.Invariant($"option '--{name}' needs a value."));
                o._values[name] = v;
                if (!o._all.TryGetValue(name, out var list)) o._all[name] = list = new List<string>();
                list.Add(v);
            }
            else o._values[name] = null;
        }
        return o;
    }

    /// <summary>Every value given for a repeatable option, in order.</summary>
    public IReadOnlyList<string> All(string name) => _all.TryGetValue(name, out var l) ? l : Array.Empty<string>();

    public double Double(string name, double fallback, double min, double max)
    {
        if (String(name) is not { } s) return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new UsageException(FormattableString.Invariant($"--{name} must be a number, got '{s}'."));
        if (v < min || v > max) throw new UsageException(FormattableString.Invariant($"--{name} must be between {min} and {max}, got {v}."));
        return v;
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string? String(string name) => _values.TryGetValue(name, out var v) ? v : null;

    public string String(string name, string fallback) => String(name) ?? fallback;

    public long Long(string name, long fallback, long min = long.MinValue, long max = long.MaxValue)
    {
        if (String(name) is not { } s) return fallback;
        if (!long.TryParse(s.Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)
            && !(double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e15 && (v = (long)d) == d))
            throw new UsageException(FormattableString.Invariant($"--{name} must be a whole number, got '{s}'."));
        if (v < min || v > max) throw new UsageException(FormattableString.Invariant($"--{name} must be between {min} and {max}, got {v}."));
        return v;
    }
}
