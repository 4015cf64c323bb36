using System.Text.Json;
using SharpOptim.Schedules;

namespace SharpOptim.Cli.Compare;

/// <summary>
/// The <c>--schedule</c> argument of <c>sharpoptim compare</c>: a learning-rate multiplier applied to every param
/// group's base rate each step (<see cref="ScheduleDriver"/>). Forms (T = --steps):
/// <code>
/// constant
/// linear[:end=0]                          linear from 1 to end over T
/// cosine[:floor=0]                        half cosine from 1 to floor over T
/// warmup-cosine[:warmup=T/20,floor=0]     linear warm-up, then cosine over the rest
/// wsd[:warmup=T/20,decay=T/5,shape=linear|cosine|1-sqrt]   warmup-stable-decay
/// inverse-sqrt[:warmup=T/20]
/// step[:every=T/4,gamma=0.5]
/// exponential[:gamma=0.99]
/// refined:from=DIR/results.json[,tau=0.1] schedule refinement (Defazio et al.) from the gradient norms that an
///                                         earlier compare run of the same optimizer recorded (mean over its seeds)
/// </code>
/// </summary>
public static class ScheduleSpec
{
    /// <summary>The schedule names accepted.</summary>
    public static readonly string[] Names = { "constant", "linear", "cosine", "warmup-cosine", "wsd", "inverse-sqrt", "step", "exponential", "refined" };

    /// <summary>For a "refined:from=..." argument, the results.json it reads; otherwise null.</summary>
    public static string? SourcePath(string text)
    {
        var spec = KeyValueSpec.Parse(text, "schedule");
        return spec.Name == "refined" && spec.Values.GetValueOrDefault("from") is { } path ? ResultsFile(path) : null;
    }

    /// <summary>A results.json path, or the results.json inside a directory.</summary>
    private static string ResultsFile(string path) => Directory.Exists(path) ? Path.Combine(path, "results.json") : path;

    /// <summary>Parses the argument into a factory: optimizer name → its schedule (the same for all but "refined").
    /// Bad names, keys or values are usage errors.</summary>
    public static Func<string, ISchedule> Parse(string text, long steps)
    {
        var spec = KeyValueSpec.Parse(text, "schedule");
        string[] keys = spec.Name switch
        {
            "constant" => Array.Empty<string>(),
            "linear" => new[] { "end" },
            "cosine" => new[] { "floor" },
            "warmup-cosine" => new[] { "warmup", "floor" },
            "wsd" => new[] { "warmup", "decay", "shape" },
            "inverse-sqrt" => new[] { "warmup" },
            "step" => new[] { "every", "gamma" },
            "exponential" => new[] { "gamma" },
            "refined" => new[] { "from", "tau" },
            _ => throw new UsageException(FormattableString.Invariant($"unknown schedule '{spec.Name}'; valid schedules: {string.Join(", ", Names)}.")),
        };
        foreach (var k in spec.Values.Keys)
            if (!keys.Contains(k))
                throw new UsageException(FormattableString.Invariant($"--schedule {spec.Name}: unknown key '{k}'; valid keys: {(keys.Length == 0 ? "none" : string.Join(", ", keys))}."));
        double Num(string key, double fallback) => spec.Values.ContainsKey(key) ? spec.Number(key, "schedule") : fallback;
        long Steps(string key, long fallback)
        {
            double v = Num(key, fallback);
            if (v != Math.Floor(v)) throw new UsageException(FormattableString.Invariant($"--schedule {spec.Name}: {key}={v} must be a whole number of steps."));
            return (long)v;
        }
        try
        {
            ISchedule fixedSchedule;
            switch (spec.Name)
            {
                case "constant": fixedSchedule = Schedule.Constant(); break;
                case "linear": fixedSchedule = Schedule.Linear(steps, Num("end", 0)); break;
                case "cosine": fixedSchedule = Schedule.Cosine(steps, Num("floor", 0)); break;
                case "warmup-cosine":
                    long w = Steps("warmup", Math.Max(1, steps / 20));
                    if (w >= steps) throw new UsageException(FormattableString.Invariant($"--schedule warmup-cosine: warmup={w} must be below the {steps} steps."));
                    fixedSchedule = Schedule.Warmup(w, Schedule.Cosine(steps - w, Num("floor", 0)));
                    break;
                case "wsd":
                    var shape = (spec.Values.GetValueOrDefault("shape") ?? "linear") switch
                    {
                        "linear" => Schedule.DecayShape.Linear,
                        "cosine" => Schedule.DecayShape.Cosine,
                        "1-sqrt" => Schedule.DecayShape.OneMinusSqrt,
                        var s => throw new UsageException(FormattableString.Invariant($"--schedule wsd: shape={s}; valid shapes: linear, cosine, 1-sqrt.")),
                    };
                    fixedSchedule = Schedule.WarmupStableDecay(steps, Steps("warmup", steps / 20), Steps("decay", Math.Max(1, steps / 5)), shape);
                    break;
                case "inverse-sqrt": fixedSchedule = Schedule.InverseSqrt(Steps("warmup", Math.Max(1, steps / 20))); break;
                case "step": fixedSchedule = Schedule.StepDecay(Steps("every", Math.Max(1, steps / 4)), Num("gamma", 0.5)); break;
                case "exponential": fixedSchedule = Schedule.Exponential(Num("gamma", 0.99)); break;
                default: return Refined(spec, steps, Num("tau", 0.1));
            }
            return _ => fixedSchedule;
        }
        catch (ArgumentException e)
        {
            throw new UsageException(FormattableString.Invariant($"--schedule {text}: {e.Message}"));
        }
    }

    private static Func<string, ISchedule> Refined(KeyValueSpec spec, long steps, double tau)
    {
        string path = ResultsFile(spec.Values.GetValueOrDefault("from")
            ?? throw new UsageException("--schedule refined needs from=PATH, the results.json of an earlier compare run with the same --steps."));
        if (!File.Exists(path)) throw new UsageException(FormattableString.Invariant($"--schedule refined: {path} does not exist."));
        var norms = new Dictionary<string, List<double[]>>(StringComparer.OrdinalIgnoreCase);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            foreach (var run in doc.RootElement.GetProperty("runs").EnumerateArray())
            {
                if (!run.GetProperty("completed").GetBoolean()) continue;
                string name = run.GetProperty("optimizer").GetString()!;
                var g = run.GetProperty("gradient_norms").EnumerateArray().Select(x => x.ValueKind == JsonValueKind.Number ? x.GetDouble() : double.NaN).ToArray();
                if (!norms.TryGetValue(name, out var list)) norms[name] = list = new List<double[]>();
                list.Add(g);
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new UsageException(FormattableString.Invariant($"--schedule refined: {path} is not a compare results.json ({e.Message})."));
        }
        var cache = new Dictionary<string, ISchedule>(StringComparer.OrdinalIgnoreCase);
        return optimizer =>
        {
            if (cache.TryGetValue(optimizer, out var s)) return s;
            if (!norms.TryGetValue(optimizer, out var runs))
                throw new UsageException(FormattableString.Invariant($"--schedule refined: {path} has no completed run of '{optimizer}' (it has: {string.Join(", ", norms.Keys)})."));
            if (runs.Any(r => r.Length != steps))
                throw new UsageException(FormattableString.Invariant($"--schedule refined: the runs of '{optimizer}' in {path} have {runs[0].Length} steps; this run has {steps}."));
            var mean = Enumerable.Range(0, (int)steps).Select(i => runs.Average(r => r[i])).ToArray();
            return cache[optimizer] = new RefinedSchedule(mean, tau);
        };
    }
}
