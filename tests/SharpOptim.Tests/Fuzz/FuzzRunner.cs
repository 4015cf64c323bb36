using System.Diagnostics;
using System.Globalization;
using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Fuzz;

/// <summary>
/// The fuzz matrix: every optimizer of <see cref="OptimizerCatalog"/> (so a new optimizer is fuzzed from its first
/// day) × parameter kinds × extreme values × execution paths. It runs in a child process (<see cref="FuzzProgram"/>),
/// so that a native abort in libtorch is seen by the parent test as the death of the child, not of the test run.
/// <para>Protocol on stdout, one line each: <c>START id description</c> before a case, <c>OK id outcome</c> or
/// <c>FAIL id description: reason</c> after it, and <c>SUMMARY cases=N failures=F seconds=S</c> at the end.</para>
/// <para>What each case must do: construction either succeeds or throws an <see cref="ArgumentException"/> whose
/// message names the option it was given; a step either succeeds or throws an ArgumentException,
/// <see cref="NonFiniteGradientException"/> or <see cref="InvalidOperationException"/> whose message names a parameter
/// or the option, and then every parameter, every state tensor, every state's step and initialized flag, StepCount and
/// SkippedSteps are bit for bit as before the step. A successful step with finite inputs leaves every parameter
/// finite and no NaN in any state tensor (an infinity in a second-moment state is allowed: a square that overflows
/// the dtype is the data's limit, not the optimizer's, and PyTorch stores the same infinity). A NaN/Inf gradient under
/// the Throw policy must throw; under SkipStep it must leave everything unchanged and count the skip.</para>
/// </summary>
internal static class FuzzRunner
{
    /// <summary>The subject parameter kinds: dtype, rank, size, memory layout.</summary>
    internal static readonly string[] Kinds =
    {
        "f32-2d", "f64-2d", "f16-2d", "bf16-2d", "f32-0d", "f64-0d", "f32-1d", "f16-1d", "f32-4d", "f32-empty",
        "f32-transposed", "f32-strided",
    };

    /// <summary>Gradient variants (run after a warm-up step with ordinary gradients, so that state exists).</summary>
    internal static readonly string[] GradientVariants = { "normal", "huge", "tiny", "zero", "nan", "inf" };

    /// <summary>Hyperparameter variants (name, value), each applied where the optimizer takes that name.</summary>
    internal static readonly (string Name, double Value)[] HyperparameterVariants =
    {
        ("lr", 1e38), ("lr", 7e4), ("lr", 0), ("lr", -1), ("lr", double.NaN), ("weight_decay", 1e30), ("eps", 0),
        ("beta1", double.NaN), ("beta2", double.NaN), ("momentum", double.NaN), ("gamma", 1e38),
        ("adam_lr", 1e38), ("adam_lr", -1), ("adam_beta1", double.NaN), ("adam_beta2", 2), ("adam_eps", -1),
        ("adam_weight_decay", -1), ("sign_lr", 1e38),
    };

    internal sealed record Case(int Id, string Optimizer, string Kind, string Variant, ExecutionPath Path, NonFiniteGradientPolicy Policy)
    {
        public override string ToString() => FormattableString.Invariant($"{Optimizer} {Kind} {Variant} {Path} {Policy}");
    }

    /// <summary>Every case, in a fixed order (ids are positions, so a restarted child can resume after a crash).</summary>
    internal static List<Case> AllCases()
    {
        var cases = new List<Case>();
        foreach (var entry in OptimizerCatalog.All)
        {
            var accepted = AcceptedNames(entry);
            var variants = GradientVariants.Select(v => v)
                .Concat(HyperparameterVariants.Where(h => accepted.Contains(h.Name)).Select(h => FormattableString.Invariant($"{h.Name}={h.Value.ToString("R", CultureInfo.InvariantCulture)}")))
                .ToList();
            foreach (var kind in Kinds)
                foreach (var variant in variants)
                    foreach (var path in new[] { ExecutionPath.Auto, ExecutionPath.Portable })
                    {
                        if (path == ExecutionPath.Portable && !entry.HasFusedPath) continue;   // Auto is the portable path already
                        var policies = variant is "nan" or "inf"
                            ? new[] { NonFiniteGradientPolicy.Throw, NonFiniteGradientPolicy.SkipStep }
                            : new[] { NonFiniteGradientPolicy.Throw };
                        foreach (var policy in policies) cases.Add(new Case(cases.Count, entry.Name, kind, variant, path, policy));
                    }
        }
        return cases;
    }

    /// <summary>The hyperparameter names an entry's factory asks for.</summary>
    private static HashSet<string> AcceptedNames(OptimizerCatalog.Entry entry)
    {
        using var scope = NewDisposeScope();
        var ps = Parameters("f32-2d", 0);
        var h = new OptimizerCatalog.Hyperparameters(new Dictionary<string, double>());
        entry.Factory(ps, h).Dispose();   // before the parameters: Drop-Muon restores requires_grad on dispose
        foreach (var (_, p) in ps) p.Dispose();
        return h.Requested.ToHashSet();
    }

    /// <summary>Runs cases from <paramref name="first"/> on, writing the protocol to <paramref name="output"/>; returns the failure count.</summary>
    internal static int Run(TextWriter output, int first, double budgetSeconds)
    {
        var watch = Stopwatch.StartNew();
        var cases = AllCases();
        int failures = 0, run = 0;
        for (int i = first; i < cases.Count; i++)
        {
            if (watch.Elapsed.TotalSeconds > budgetSeconds)
            {
                output.WriteLine(FormattableString.Invariant($"BUDGET {i}"));
                break;
            }
            var c = cases[i];
            output.WriteLine(FormattableString.Invariant($"START {c.Id} {c}"));
            output.Flush();
            string? failure;
            try
            {
                failure = RunCase(c, out string outcome);
                if (failure is null) output.WriteLine(FormattableString.Invariant($"OK {c.Id} {outcome}"));
            }
            catch (Exception e)
            {
                failure = "the harness itself threw " + e.GetType().Name + ": " + e.Message;
            }
            if (failure is not null)
            {
                failures++;
                output.WriteLine(FormattableString.Invariant($"FAIL {c.Id} {c}: {failure.ReplaceLineEndings(" | ")}"));
            }
            output.Flush();
            run++;
        }
        output.WriteLine(FormattableString.Invariant($"SUMMARY cases={run} failures={failures} seconds={watch.Elapsed.TotalSeconds:F1}"));
        output.Flush();
        return failures;
    }

    /// <summary>Three parameters: a float32 matrix with a gradient, the subject, a float32 vector without one.</summary>
    private static List<(string Name, Parameter Parameter)> Parameters(string kind, int seed)
    {
        manual_seed(seed);
        var a = new Parameter(randn(4, 3));
        Tensor s = kind switch
        {
            "f32-2d" => randn(5, 4),
            "f64-2d" => randn(5, 4, dtype: ScalarType.Float64),
            "f16-2d" => randn(5, 4).to_type(ScalarType.Float16),
            "bf16-2d" => randn(5, 4).to_type(ScalarType.BFloat16),
            "f32-0d" => randn(Array.Empty<long>()),
            "f64-0d" => randn(Array.Empty<long>(), dtype: ScalarType.Float64),
            "f32-1d" => randn(7),
            "f16-1d" => randn(7).to_type(ScalarType.Float16),
            "f32-4d" => randn(3, 2, 3, 3),
            "f32-empty" => zeros(0, 4),
            "f32-transposed" => randn(4, 5).t(),
            "f32-strided" => randn(5, 8).slice(1, 0, 8, 2),
            _ => throw new ArgumentException("Unknown parameter kind " + kind, nameof(kind)),
        };
        var subject = new Parameter(s);
        if (kind is "f32-transposed" or "f32-strided" && subject.is_contiguous())
            throw new InvalidOperationException("The harness meant a non-contiguous parameter, TorchSharp made it contiguous.");
        var b = new Parameter(randn(3));
        return new() { ("l0.weight", a), ("l1.weight", subject), ("l2.bias", b) };
    }

    private static double Big(ScalarType t) => t switch
    {
        ScalarType.Float16 => 30,          // its square stays below float16's 65504
        ScalarType.Float64 => 1e150,
        _ => 1e18,                         // float32 and bfloat16: the square stays below 3.4e38
    };

    private static double Tiny(ScalarType t) => t switch
    {
        ScalarType.Float16 => 1e-4,        // near float16's smallest normal (6.1e-5)
        ScalarType.Float64 => 1e-300,
        _ => 1e-36,
    };

    private static void SetGradients(List<(string Name, Parameter Parameter)> ps, string variant, int seed, double scale)
    {
        var gen = new Generator((ulong)seed + 17);
        using var s = new ScalarHold();
        for (int i = 0; i < 2; i++)
        {
            var p = ps[i].Parameter;
            var g = randn(p.shape, dtype: ScalarType.Float32, generator: gen).to_type(p.dtype);
            if (i == 1)
            {
                switch (variant)
                {
                    case "huge": g.mul_(s[Big(p.dtype)]); break;
                    case "tiny": g.mul_(s[Tiny(p.dtype)]); break;
                    case "zero": g.zero_(); break;
                    case "nan" or "inf" when g.NumberOfElements > 0:
                        using (var flat = g.view(-1)) flat[flat.NumberOfElements - 1].fill_(s[variant == "nan" ? double.NaN : double.PositiveInfinity]);
                        break;
                }
            }
            if (scale != 1) g.mul_(s[scale]);
            p.grad = g.DetachFromDisposeScope();
        }
    }

    private sealed record Snapshot(byte[][] Parameters, List<(string Param, long Step, bool Init, string Name, byte[] Bytes)> State, long Steps, long Skipped, bool[] RequiresGrad);

    private static Snapshot Take(OptimizerBase opt, List<(string Name, Parameter Parameter)> ps) =>
        new(Bits.Of(ps.Select(x => (Tensor)x.Parameter)), Bits.State(opt), opt.StepCount, opt.SkippedSteps, ps.Select(x => x.Parameter.requires_grad).ToArray());

    private static string? Difference(Snapshot a, Snapshot b)
    {
        for (int i = 0; i < a.Parameters.Length; i++)
            if (!a.Parameters[i].AsSpan().SequenceEqual(b.Parameters[i])) return FormattableString.Invariant($"parameter {i} changed");
        if (a.State.Count != b.State.Count) return FormattableString.Invariant($"state tensor count {a.State.Count} became {b.State.Count}");
        for (int i = 0; i < a.State.Count; i++)
        {
            var (x, y) = (a.State[i], b.State[i]);
            if ((x.Param, x.Step, x.Init, x.Name) != (y.Param, y.Step, y.Init, y.Name))
                return FormattableString.Invariant($"state of '{x.Param}' changed from (step {x.Step}, init {x.Init}, '{x.Name}') to (step {y.Step}, init {y.Init}, '{y.Name}')");
            if (!x.Bytes.AsSpan().SequenceEqual(y.Bytes)) return FormattableString.Invariant($"state '{x.Name}' of '{x.Param}' changed");
        }
        if (a.Steps != b.Steps) return FormattableString.Invariant($"StepCount changed from {a.Steps} to {b.Steps}");
        if (a.Skipped != b.Skipped) return FormattableString.Invariant($"SkippedSteps changed from {a.Skipped} to {b.Skipped}");
        if (!a.RequiresGrad.SequenceEqual(b.RequiresGrad)) return "requires_grad flags changed";
        return null;
    }

    private static bool Acceptable(Exception e, out string why)
    {
        why = e.GetType().Name + ": " + e.Message;
        return e is ArgumentException or NonFiniteGradientException or InvalidOperationException && !string.IsNullOrWhiteSpace(e.Message);
    }

    /// <summary>Runs one case; returns null when it behaved, else what went wrong.</summary>
    internal static string? RunCase(Case c, out string outcome)
    {
        outcome = "";
        using var scope = NewDisposeScope();
        var entry = OptimizerCatalog.Get(c.Optimizer);
        var ps = Parameters(c.Kind, c.Id);
        try
        {
            var hp = new Dictionary<string, double>();
            string? option = null;
            bool hpVariant = c.Variant.Contains('=');
            if (hpVariant)
            {
                var parts = c.Variant.Split('=');
                option = parts[0];
                hp[option] = double.Parse(parts[1], CultureInfo.InvariantCulture);
            }
            OptimizerBase opt;
            try
            {
                opt = entry.Create(ps, hp);
            }
            catch (Exception e)
            {
                if (e is not ArgumentException) return "construction threw " + e.GetType().Name + ": " + e.Message;
                // A rejected option must be named as the user gave it ("adam_lr", not "lr").
                if (option is not null && !NamesOption(e.Message, option)) return FormattableString.Invariant($"construction rejected {c.Variant} with a message that does not name '{option}': {e.Message}");
                if (option is null && !ps.Any(x => e.Message.Contains($"'{x.Name}'", StringComparison.Ordinal)))
                    return "construction rejected the parameters without naming one: " + e.Message;
                outcome = "rejected at construction";
                return null;
            }
            using (opt)
            {
                opt.Path = c.Path;
                opt.NonFinitePolicy = c.Policy;
                if (!hpVariant)
                {
                    // Warm-up: a step with ordinary gradients, so that the case's step meets existing state.
                    SetGradients(ps, "normal", c.Id, 1);
                    var before0 = Take(opt, ps);
                    var warm = TryStep(opt, ps, before0, option, out outcome);
                    if (warm is not null || outcome != "stepped") return warm is null ? null : "warm-up: " + warm;
                    SetGradients(ps, c.Variant, c.Id + 1, 1);
                }
                else
                {
                    // Small gradients keep lr × g representable for lr up to 1e38 (the case is about the hyperparameter).
                    SetGradients(ps, "normal", c.Id, 1e-2);
                }
                var before = Take(opt, ps);
                bool nonFinite = c.Variant is "nan" or "inf" && ps[1].Parameter.NumberOfElements > 0;
                var subject = ps[1].Parameter;
                var failure = TryStep(opt, ps, before, option, out outcome);
                if (failure is not null) return failure;
                bool seen = subject.grad is not null;   // Drop-Muon drops the gradients of frozen layers
                if (outcome == "stepped" && nonFinite && seen)
                {
                    if (c.Policy == NonFiniteGradientPolicy.Throw) return "a non-finite gradient did not throw under the Throw policy";
                    var after = Take(opt, ps);
                    var d = Difference(before with { Skipped = before.Skipped + 1 }, after);
                    if (d is not null) return "SkipStep: " + d;
                    outcome = "skipped";
                }
                else if (outcome == "stepped" && !nonFinite)
                {
                    for (int i = 0; i < ps.Count; i++)
                        if (!ps[i].Parameter.isfinite().all().item<bool>()) return FormattableString.Invariant($"parameter '{ps[i].Name}' is not finite after a successful step");
                    foreach (var st in opt.States)
                        foreach (var kv in st.Tensors)
                            if (kv.Value.isnan().any().item<bool>()) return FormattableString.Invariant($"state '{kv.Key}' of '{st.Name}' holds NaN after a successful step");
                }
                return null;
            }
        }
        finally
        {
            foreach (var (_, p) in ps) p.Dispose();
        }
    }

    private static bool NamesOption(string message, string option) =>
        // "lr" also occurs inside "adam_lr" and "sign_lr": require the bare name for a bare option.
        option.Contains('_') ? message.Contains(option, StringComparison.Ordinal)
            : System.Text.RegularExpressions.Regex.IsMatch(message, @"(?<![A-Za-z_])" + option + @"(?![A-Za-z_])");

    /// <summary>One step: null and outcome "stepped" or "rejected at step" when it behaved, else the failure.</summary>
    private static string? TryStep(OptimizerBase opt, List<(string Name, Parameter Parameter)> ps, Snapshot before, string? option, out string outcome)
    {
        outcome = "stepped";
        try
        {
            opt.step();
            return null;
        }
        catch (Exception e)
        {
            outcome = "rejected at step";
            if (!Acceptable(e, out var why)) return "step threw " + why;
            // Optimizers built from unnamed parameters call them "group0.param1": any state name counts.
            bool named = ps.Any(x => e.Message.Contains(x.Name, StringComparison.Ordinal))
                || opt.States.Any(st => e.Message.Contains($"'{st.Name}'", StringComparison.Ordinal))
                || (option is not null && NamesOption(e.Message, option));
            if (!named) return "step threw without naming a parameter or option: " + why;
            var d = Difference(before, Take(opt, ps));
            if (d is not null) return "failed step changed something (" + d + "); it threw " + why;
            return null;
        }
    }
}
