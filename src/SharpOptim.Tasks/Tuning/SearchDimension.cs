namespace SharpOptim.Tasks.Tuning;

/// <summary>One tuned hyperparameter: its range and whether it is searched on a log scale.</summary>
/// <param name="Name">The hyperparameter's name as the optimizer catalog spells it (lr, weight_decay, ...).</param>
/// <param name="Low">Smallest value searched (positive on a log scale).</param>
/// <param name="High">Largest value searched.</param>
/// <param name="Log">Search evenly in log(value) rather than in value.</param>
public sealed record SearchDimension(string Name, double Low, double High, bool Log)
{
    /// <summary>The value at position <paramref name="u"/> ∈ [0, 1] of the range.</summary>
    public double At(double u) => Log ? Math.Exp(Math.Log(Low) + u * (Math.Log(High) - Math.Log(Low))) : Low + u * (High - Low);

    /// <summary>A range checked for sense: finite, Low &lt; High, positive on a log scale; the message names the value.</summary>
    public static SearchDimension Checked(string name, double low, double high, bool log)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("A search dimension needs a hyperparameter name.", nameof(name));
        if (!double.IsFinite(low) || !double.IsFinite(high) || !(low < high))
            throw new ArgumentException(FormattableString.Invariant($"range of {name}: need finite LOW < HIGH; got {low}:{high}."), nameof(low));
        if (log && !(low > 0))
            throw new ArgumentException(FormattableString.Invariant($"range of {name}: a log-scale range needs LOW > 0; got {low}."), nameof(low));
        return new SearchDimension(name, low, high, log);
    }

    /// <summary>
    /// The default range of <paramref name="name"/> around the optimizer's default value <paramref name="current"/>:
    /// learning rates (lr and any *_lr) from a tenth to ten times the default, log scale; weight_decay over
    /// [1e-4, 0.3] (log) when the default is 0, else from a thirtieth to thirty times the default, capped at 1. Other
    /// hyperparameters have no default range (null): the caller asks for one.
    /// </summary>
    public static SearchDimension? Default(string name, double? current)
    {
        if (name == "lr" || name.EndsWith("_lr", StringComparison.Ordinal))
            return current is > 0 and var c ? new SearchDimension(name, c / 10, c * 10, true) : null;
        if (name == "weight_decay")
            return current is > 0 and var w ? new SearchDimension(name, w / 30, Math.Min(1, w * 30), true) : new SearchDimension(name, 1e-4, 0.3, true);
        return null;
    }
}
