using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using TorchSharp.Modules;

namespace SharpOptim.Optimizers;

/// <summary>
/// Base of every SharpOptim optimizer's hyperparameter options. A hyperparameter is a public nullable property
/// of type <c>double?</c>, <c>bool?</c> or <c>long?</c> declared on the derived class: null means "inherit the
/// optimizer's default", so per-group options need only name what differs. Copying, defaulting and
/// serialization are derived from those properties, so each optimizer only declares them and validates.
/// </summary>
public abstract class OptionsBase : OptimizerOptions
{
    private static readonly ConcurrentDictionary<Type, PropertyInfo[]> Cache = new();

    /// <summary>The hyperparameter properties of this options type: those of base classes first, each class's in
    /// declaration order, unless <see cref="SerializedOrder"/> gives the order.</summary>
    internal PropertyInfo[] Hyperparameters => Cache.GetOrAdd(GetType(), t =>
    {
        var found = t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.DeclaringType != typeof(OptimizerOptions) && p.CanRead && p.CanWrite &&
                        (p.PropertyType == typeof(double?) || p.PropertyType == typeof(bool?) || p.PropertyType == typeof(long?)))
            .OrderBy(p => Depth(p.DeclaringType!)).ThenBy(p => p.MetadataToken)
            .ToArray();
        if (SerializedOrder is not { } order) return found;
        if (order.Count != found.Length || !order.Order(StringComparer.Ordinal).SequenceEqual(found.Select(p => p.Name).Order(StringComparer.Ordinal)))
            throw new InvalidOperationException(FormattableString.Invariant($"{t.Name}.SerializedOrder must name each of its hyperparameters once: {string.Join(", ", found.Select(p => p.Name))}."));
        return order.Select(n => found.Single(p => p.Name == n)).ToArray();
    });

    private static int Depth(Type t)
    {
        int d = 0;
        for (var b = t.BaseType; b is not null; b = b.BaseType) d++;
        return d;
    }

    /// <summary>
    /// The order in which checkpoints store the hyperparameters, by property name, when it is not base classes first
    /// (null: that order). Options that moved into a shared base class keep the layout of the checkpoints written
    /// before with it.
    /// </summary>
    protected internal virtual IReadOnlyList<string>? SerializedOrder => null;

    /// <summary>
    /// Throws an <see cref="ArgumentException"/> naming the first invalid hyperparameter and its value.
    /// Called with every value set (after defaults are filled in).
    /// </summary>
    public virtual void Validate()
    {
        RequireNonNegative("lr", LearningRate);
    }

    /// <summary>Sets every unset hyperparameter (and the learning rate) from <paramref name="defaults"/>.</summary>
    internal void FillFrom(OptionsBase defaults)
    {
        if (defaults.GetType() != GetType())
            throw new ArgumentException(FormattableString.Invariant($"Options of type {GetType().Name} given to an optimizer that takes {defaults.GetType().Name}."));
        LearningRate ??= defaults.LearningRate;
        foreach (var p in Hyperparameters)
            if (p.GetValue(this) is null) p.SetValue(this, p.GetValue(defaults));
    }

    /// <summary>Every set <c>double</c> hyperparameter with its name as the options' messages give it ("lr",
    /// "weight_decay": the property name in snake case), for checks that apply to all of them.</summary>
    internal IEnumerable<(string Property, string Name, double Value)> NamedValues()
    {
        if (LearningRate is { } lr) yield return (nameof(LearningRate), "lr", lr);
        foreach (var p in Hyperparameters)
            if (p.PropertyType == typeof(double?) && p.GetValue(this) is double d) yield return (p.Name, OptionName(p.Name), d);
    }

    /// <summary>The value of the <c>double</c> hyperparameter property <paramref name="property"/>, or null when this
    /// options type has none by that name or it is unset.</summary>
    internal double? Value(string property)
    {
        foreach (var p in Hyperparameters)
            if (p.Name == property && p.PropertyType == typeof(double?)) return (double?)p.GetValue(this);
        return null;
    }

    /// <summary>The option name of a property: "WeightDecay" → "weight_decay", "Beta1" → "beta1".</summary>
    internal virtual string OptionName(string property) =>
        string.Concat(property.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "_" : "") + char.ToLowerInvariant(c) : c.ToString()));

    /// <summary>A shallow copy.</summary>
    internal OptionsBase Clone() => (OptionsBase)MemberwiseClone();

    /// <inheritdoc />
    public override void SaveStateDict(BinaryWriter writer)
    {
        base.SaveStateDict(writer);
        foreach (var p in Hyperparameters)
        {
            object? v = p.GetValue(this);
            writer.Write(v is not null);
            switch (v)
            {
                case double d: writer.Write(d); break;
                case bool b: writer.Write(b); break;
                case long l: writer.Write(l); break;
            }
        }
    }

    /// <inheritdoc />
    public override void LoadStateDict(BinaryReader reader)
    {
        base.LoadStateDict(reader);
        foreach (var p in Hyperparameters)
        {
            if (!reader.ReadBoolean())
            {
                p.SetValue(this, null);
                continue;
            }
            object v = p.PropertyType == typeof(double?) ? reader.ReadDouble()
                : p.PropertyType == typeof(bool?) ? reader.ReadBoolean()
                : reader.ReadInt64();
            p.SetValue(this, v);
        }
    }

    /// <inheritdoc />
    public override void LoadStateDict(OptimizerOptions source)
    {
        base.LoadStateDict(source);
        if (source.GetType() != GetType())
            throw new ArgumentException(FormattableString.Invariant($"Cannot load options of type {source.GetType().Name} into {GetType().Name}."));
        foreach (var p in Hyperparameters) p.SetValue(this, p.GetValue(source));
    }

    /// <summary>The options as "name=value" pairs, for messages and reports.</summary>
    public override string ToString() =>
        string.Join(", ", new[] { $"lr={Format(LearningRate)}" }.Concat(Hyperparameters.Select(p => $"{p.Name}={Format(p.GetValue(this))}")));

    private static string Format(object? v) => v switch
    {
        null => "default",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>Throws unless <paramref name="value"/> is a finite number &gt;= 0.</summary>
    protected static void RequireNonNegative(string name, double? value)
    {
        if (value is not { } v || !double.IsFinite(v) || v < 0)
            throw new ArgumentException(FormattableString.Invariant($"Invalid {name}: {Format(value)} (must be a finite number >= 0)."), name);
    }

    /// <summary>Throws unless <paramref name="value"/> is in [0, 1).</summary>
    protected static void RequireUnitInterval(string name, double? value)
    {
        if (value is not { } v || double.IsNaN(v) || v < 0 || v >= 1)
            throw new ArgumentException(FormattableString.Invariant($"Invalid {name}: {Format(value)} (must be in [0, 1))."), name);
    }

    /// <summary>Throws unless <paramref name="value"/> is in [0, 1].</summary>
    protected static void RequireClosedUnitInterval(string name, double? value)
    {
        if (value is not { } v || double.IsNaN(v) || v < 0 || v > 1)
            throw new ArgumentException(FormattableString.Invariant($"Invalid {name}: {Format(value)} (must be in [0, 1])."), name);
    }

    /// <summary>Throws unless a boolean option is set.</summary>
    protected static void RequireSet(string name, bool? value)
    {
        if (value is null) throw new ArgumentException(FormattableString.Invariant($"Option {name} is not set."), name);
    }
}
