using System.Reflection;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SharpOptim.Checkpoints;

/// <summary>
/// The position of a TorchSharp learning-rate scheduler, saved and restored the way PyTorch's
/// <c>LRScheduler.state_dict()</c> does it: every field of the scheduler except the optimizer. TorchSharp's schedulers
/// have no state_dict of their own, so the fields are read by reflection: the instance fields of the scheduler's class
/// and its base classes up to <see cref="LRScheduler"/> whose type is a number, a bool or a list of doubles — the
/// epoch and step counters, the base and last learning rates, and the per-scheduler counters (for example
/// ReduceLROnPlateau's best value and bad-epoch count, CosineAnnealingWarmRestarts' T_cur and T_i). Fields of other
/// types (the optimizer, lambdas, annealing functions, phase tables) are configuration the scheduler's constructor
/// sets again, as in PyTorch, where lambdas are not saved either.
/// <para>
/// A scheduler that holds other schedulers (TorchSharp's ChainedScheduler, SequentialLR) is refused when saving: its
/// children's positions would not be saved. Loading checks the scheduler's type, every field's name and kind, and
/// that lists of learning rates have this scheduler's length and finite, non-negative rates, before changing anything.
/// </para>
/// </summary>
internal static class SchedulerState
{
    private const string Tag = "SharpOptim.LRScheduler";

    private enum Kind : byte { Int32 = 1, Int64 = 2, Double = 3, Bool = 4, Single = 5, DoubleList = 6 }

    /// <summary>The saved fields of <paramref name="scheduler"/>'s class, in a fixed order (base class first, then by name).</summary>
    private static List<(string Key, FieldInfo Field, Kind Kind)> Fields(LRScheduler scheduler)
    {
        var chain = new List<Type>();
        for (var t = scheduler.GetType(); t is not null && t != typeof(object); t = t.BaseType)
        {
            chain.Add(t);
            if (t == typeof(LRScheduler)) break;
        }
        chain.Reverse();
        var result = new List<(string, FieldInfo, Kind)>();
        foreach (var t in chain)
        {
            foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly).OrderBy(f => f.Name, StringComparer.Ordinal))
            {
                var ft = f.FieldType;
                if (typeof(LRScheduler).IsAssignableFrom(ft) || typeof(IEnumerable<LRScheduler>).IsAssignableFrom(ft))
                    throw new ArgumentException(FormattableString.Invariant($"Scheduler {scheduler.GetType().Name} holds other schedulers (field {f.Name}); a checkpoint saves one scheduler's position. Save the schedulers' positions yourself or use a single scheduler."));
                Kind? kind = ft == typeof(int) ? Kind.Int32
                    : ft == typeof(long) ? Kind.Int64
                    : ft == typeof(double) ? Kind.Double
                    : ft == typeof(bool) ? Kind.Bool
                    : ft == typeof(float) ? Kind.Single
                    : ft == typeof(IList<double>) || ft == typeof(List<double>) || ft == typeof(double[]) ? Kind.DoubleList
                    : null;
                if (kind is { } k) result.Add((t.Name + "." + f.Name, f, k));
            }
        }
        return result;
    }

    /// <summary>Throws <see cref="ArgumentException"/> for a scheduler whose position cannot be saved.</summary>
    public static void CheckSupported(LRScheduler scheduler) => Fields(scheduler);

    /// <summary>Writes the scheduler's type and fields.</summary>
    public static void Write(BinaryWriter w, LRScheduler scheduler)
    {
        var fields = Fields(scheduler);
        w.Write(Tag);
        w.Write(scheduler.GetType().FullName!);
        w.Write(fields.Count);
        foreach (var (key, f, kind) in fields)
        {
            w.Write(key);
            w.Write((byte)kind);
            object? v = f.GetValue(scheduler);
            switch (kind)
            {
                case Kind.Int32: w.Write((int)v!); break;
                case Kind.Int64: w.Write((long)v!); break;
                case Kind.Double: w.Write((double)v!); break;
                case Kind.Bool: w.Write((bool)v!); break;
                case Kind.Single: w.Write((float)v!); break;
                default:
                    var list = (IList<double>?)v;
                    w.Write(list is null ? -1 : list.Count);
                    if (list is not null) foreach (var d in list) w.Write(d);
                    break;
            }
        }
    }

    /// <summary>Reads and checks what <see cref="Write"/> wrote for a scheduler like <paramref name="scheduler"/>;
    /// the returned action installs it and cannot fail.</summary>
    public static Action Read(BinaryReader r, LRScheduler scheduler)
    {
        string tag = CheckedReader.ReadString(r, "Scheduler tag");
        if (tag != Tag) throw new InvalidDataException(FormattableString.Invariant($"Not a scheduler state (tag '{tag}')."));
        string type = CheckedReader.ReadString(r, "Scheduler type");
        if (type != scheduler.GetType().FullName)
            throw new InvalidDataException(FormattableString.Invariant($"The checkpoint holds the position of scheduler {type}, not {scheduler.GetType().FullName}."));
        var fields = Fields(scheduler);
        int count = r.ReadInt32();
        if (count != fields.Count)
            throw new InvalidDataException(FormattableString.Invariant($"The checkpoint's scheduler has {count} saved fields; {type} here has {fields.Count}."));
        var values = new object?[count];
        for (int i = 0; i < count; i++)
        {
            var (key, f, kind) = fields[i];
            string name = CheckedReader.ReadString(r, "Scheduler field name");
            byte k = r.ReadByte();
            if (name != key || k != (byte)kind)
                throw new InvalidDataException(FormattableString.Invariant($"Scheduler field {i} of the checkpoint is '{name}' (kind {k}); {type} here has '{key}' (kind {(byte)kind})."));
            values[i] = kind switch
            {
                Kind.Int32 => r.ReadInt32(),
                Kind.Int64 => r.ReadInt64(),
                Kind.Double => r.ReadDouble(),
                Kind.Bool => ReadBool(r, key),
                Kind.Single => r.ReadSingle(),
                _ => ReadList(r, key, (IList<double>?)f.GetValue(scheduler)),
            };
            if (key.EndsWith("._step_count", StringComparison.Ordinal) && (int)values[i]! < 0 ||
                key.EndsWith("._last_epoch", StringComparison.Ordinal) && (int)values[i]! < -1)
                throw new InvalidDataException(FormattableString.Invariant($"Scheduler field '{key}' is {values[i]}."));
        }
        return () =>
        {
            for (int i = 0; i < count; i++)
            {
                var (_, f, kind) = fields[i];
                object? v = values[i];
                if (kind == Kind.DoubleList && v is double[] a)
                    v = f.FieldType == typeof(double[]) ? a : new List<double>(a);
                f.SetValue(scheduler, v);
            }
        };
    }

    private static bool ReadBool(BinaryReader r, string key)
    {
        byte b = r.ReadByte();
        if (b > 1) throw new InvalidDataException(FormattableString.Invariant($"Scheduler field '{key}' holds {b}, not a bool."));
        return b == 1;
    }

    private static double[]? ReadList(BinaryReader r, string key, IList<double>? current)
    {
        int n = r.ReadInt32();
        int expected = current?.Count ?? -1;
        if (n != expected)
            throw new InvalidDataException(FormattableString.Invariant($"Scheduler field '{key}' holds {n} values; this scheduler's has {expected} (-1: none)."));
        if (n < 0) return null;
        var a = new double[n];
        for (int i = 0; i < n; i++)
        {
            a[i] = r.ReadDouble();
            if (!(a[i] >= 0) || double.IsInfinity(a[i]))
                throw new InvalidDataException(FormattableString.Invariant($"Scheduler field '{key}' holds learning rate {a[i]}."));
        }
        return a;
    }
}
