using System.Globalization;

namespace SharpOptim.Cli.Compare;

/// <summary>A "NAME:key=value,key=value" argument, as <c>--opt</c> and <c>--schedule</c> take it.</summary>
public sealed record KeyValueSpec(string Name, IReadOnlyDictionary<string, string> Values)
{
    /// <summary>Parses <paramref name="text"/>; <paramref name="option"/> names the flag in error messages.</summary>
    public static KeyValueSpec Parse(string text, string option)
    {
        int colon = text.IndexOf(':');
        string name = (colon < 0 ? text : text[..colon]).Trim();
        if (name.Length == 0) throw new UsageException(FormattableString.Invariant($"--{option} '{text}': a name is missing before ':'."));
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (colon >= 0)
        {
            var parts = text[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            for (int i = 0; i < parts.Length; i++)
            {
                string part = parts[i];
                int eq = part.IndexOf('=');
                if (eq <= 0 || eq == part.Length - 1)
                    throw new UsageException(FormattableString.Invariant($"--{option} '{text}': '{part}' is not key=value."));
                string key = part[..eq].Trim();
                string value = part[(eq + 1)..].Trim();
                // PyTorch's betas=(b1, b2) (and adam_betas): the pair's second value is the next comma-separated part.
                if (key.EndsWith("betas", StringComparison.Ordinal))
                {
                    string prefix = key[..^"betas".Length];
                    if (i + 1 >= parts.Length || parts[i + 1].Contains('=', StringComparison.Ordinal))
                        throw new UsageException(FormattableString.Invariant($"--{option} '{text}': {key} takes two values, {key}=B1,B2 (or {prefix}beta1=B1,{prefix}beta2=B2)."));
                    string second = parts[++i];
                    foreach (var (k, v) in new[] { (prefix + "beta1", value.TrimStart('(')), (prefix + "beta2", second.TrimEnd(')')) })
                        if (!values.TryAdd(k, v))
                            throw new UsageException(FormattableString.Invariant($"--{option} '{text}': '{k}' is given twice."));
                    continue;
                }
                if (!values.TryAdd(key, value))
                    throw new UsageException(FormattableString.Invariant($"--{option} '{text}': '{key}' is given twice."));
            }
        }
        return new KeyValueSpec(name, values);
    }

    /// <summary>The value of <paramref name="key"/> as a number.</summary>
    public double Number(string key, string option)
    {
        string s = Values[key];
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new UsageException(FormattableString.Invariant($"--{option} {Name}: {key}={s} is not a finite number."));
        return v;
    }
}
