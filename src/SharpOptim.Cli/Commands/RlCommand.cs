using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Optimizers;
using SharpOptim.Policy;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using SharpOptim.Tasks.Policy;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim rl --task addition --methods grpo,remax,... --seeds N --out DIR</c>: policy optimization on the
/// noisy-addition task (policy brief §0.2). The supervised model is trained once (or loaded from the data cache, keyed by
/// its settings) and frozen as π_ref; every method × seed starts from it and runs <see cref="PolicyTraining"/> with any
/// SharpOptim optimizer. Also measures sampling tokens/s with and without the key/value cache, and ReMax's memory claim
/// in miniature (trainable + optimizer-state bytes of policy + reference vs a PPO-style set with a value model).
/// Writes report.md, results.json, curves.csv and reward.png / greedy_accuracy.png / kl.png (means over seeds) through a
/// staging folder.
/// </summary>
public static class RlCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["task"] = true, ["methods"] = true, ["seeds"] = true, ["steps"] = true, ["out"] = true, ["optimizer"] = true, ["lr"] = true,
        ["beta"] = true, ["prompts"] = true, ["group"] = true, ["eval-every"] = true, ["layers"] = true, ["dim"] = true, ["heads"] = true,
        ["sft-steps"] = true, ["cache"] = true, ["threads"] = true, ["force"] = false, ["no-progress"] = false, ["no-cache-model"] = false,
        ["disco-delta"] = true, ["capo-tau-h"] = true, ["capo-tau-f"] = true, ["no-bench"] = false, ["train-prompts"] = true, ["capo-sgd-model"] = false,
        ["epochs"] = true, ["minibatches"] = true, ["recompute-old"] = false,
    };

    /// <summary>One configuration of the run: a label for tables and plots, and its settings.</summary>
    private sealed record Config(string Label, PolicyRunSettings Settings);

    private static double[] DoubleList(Options o, string name, double min, double max)
    {
        string? text = o.String(name);
        if (text is null) return Array.Empty<double>();
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (items.Length == 0) throw new UsageException($"--{name} names no value.");
        return items.Select(t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max ? v
            : throw new UsageException(FormattableString.Invariant($"--{name}: '{t}' is not a number in [{min}, {max}]."))).ToArray();
    }

    /// <summary>The run's configurations: one per method, except that disco / disco-b expand over every --disco-delta and
    /// capo over every (--capo-tau-h, --capo-tau-f) pair; labels carry the values only where a list has several.</summary>
    private static List<Config> Configs(string[] methods, PolicyRunSettings run, double[] deltas, double[] tauH, double[] tauF, bool capoAdamModel)
    {
        var configs = new List<Config>();
        foreach (var m in methods)
        {
            var baseSettings = run with { Method = m };
            if (m is "disco" or "disco-b" && deltas.Length > 0)
                foreach (var d in deltas)
                    configs.Add(new Config(deltas.Length > 1 ? FormattableString.Invariant($"{m} δ={d:G3}") : m, baseSettings with { Disco = new DiscoOptions { Delta = d } }));
            else if (m == "capo" && (tauH.Length > 0 || tauF.Length > 0))
            {
                var hs = tauH.Length > 0 ? tauH : new[] { PolicyTraining.CapoDefaults.TauHessian };
                var fs = tauF.Length > 0 ? tauF : new[] { PolicyTraining.CapoDefaults.TauFisher };
                foreach (var h in hs)
                    foreach (var f in fs)
                        configs.Add(new Config(hs.Length * fs.Length > 1 ? FormattableString.Invariant($"capo τH={h:G3} τF={f:G3}") : m,
                            baseSettings with { Capo = PolicyTraining.CapoDefaults with { TauHessian = h, TauFisher = f, AdamModel = capoAdamModel } }));
            }
            else if (m == "capo") configs.Add(new Config(m, baseSettings with { Capo = PolicyTraining.CapoDefaults with { AdamModel = capoAdamModel } }));
            else configs.Add(new Config(m, baseSettings));
        }
        var dup = configs.GroupBy(c => c.Label).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new UsageException($"--methods names '{dup.Key}' twice.");
        return configs;
    }

    public static int Run(Options o, string[] args, TextWriter stdout)
    {
        string taskName = o.String("task", "addition");
        if (!NoisyAdditionVariant.ByTaskName.TryGetValue(taskName, out var variant))
            throw new UsageException($"--task must be {string.Join(", ", NoisyAdditionVariant.ByTaskName.Keys)}; got '{taskName}'.");
        var methods = o.String("methods", "grpo,remax,reinforce,disco,arpo").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (methods.Length == 0) throw new UsageException("--methods names no method.");
        foreach (var m in methods)
            if (!PolicyRunSettings.Methods.Contains(m))
                throw new UsageException($"unknown method '{m}'; known: {string.Join(", ", PolicyRunSettings.Methods)}.");
        int seeds = (int)o.Long("seeds", 3, 1, 100);
        string optimizer = o.String("optimizer", "adam");
        try { OptimizerCatalog.Get(optimizer); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        var model = new AdditionModelSettings(
            Layers: (int)o.Long("layers", 2, 1, 64), Dim: (int)o.Long("dim", 64, 4, 4096), Heads: (int)o.Long("heads", 4, 1, 64),
            Steps: (int)o.Long("sft-steps", 2500, 0, 1_000_000));
        if (model.Dim % model.Heads != 0) throw new UsageException($"--dim {model.Dim} must be divisible by --heads {model.Heads}.");
        var run = new PolicyRunSettings("grpo", Steps: (int)o.Long("steps", 150, 1, 1_000_000), PromptsPerStep: (int)o.Long("prompts", 8, 1, 800),
            GroupSize: (int)o.Long("group", 8, 2, 1024), Optimizer: optimizer, LearningRate: o.Double("lr", 1e-3, 1e-9, 10),
            Beta: o.Double("beta", 0.04, 0, 1000), EvalEvery: (int)o.Long("eval-every", 10, 1, 1_000_000), TrainPrompts: (int)o.Long("train-prompts", 0, 0, 800),
            Epochs: (int)o.Long("epochs", 1, 1, 1000), MiniBatches: (int)o.Long("minibatches", 1, 1, 800), RecomputeOld: o.Has("recompute-old"));
        if (run.PromptsPerStep % run.MiniBatches != 0)
            throw new UsageException($"--minibatches {run.MiniBatches} must divide the {run.PromptsPerStep} groups (--prompts) per step: a group is never split.");
        if (run.TrainPrompts != 0 && run.TrainPrompts < run.PromptsPerStep)
            throw new UsageException($"--train-prompts {run.TrainPrompts} must be 0 (all) or at least --prompts {run.PromptsPerStep}.");
        var deltas = DoubleList(o, "disco-delta", 0, 1e6);
        var tauH = DoubleList(o, "capo-tau-h", 1e-12, 1e6);
        var tauF = DoubleList(o, "capo-tau-f", 1e-12, 1e6);
        if (deltas.Length > 0 && !methods.Any(m => m is "disco" or "disco-b")) throw new UsageException("--disco-delta needs disco or disco-b in --methods.");
        if ((tauH.Length > 0 || tauF.Length > 0) && !methods.Contains("capo")) throw new UsageException("--capo-tau-h / --capo-tau-f need capo in --methods.");
        if (o.Has("capo-sgd-model") && !methods.Contains("capo")) throw new UsageException("--capo-sgd-model needs capo in --methods.");
        var configs = Configs(methods, run, deltas, tauH, tauF, !o.Has("capo-sgd-model"));
        bool runBench = !o.Has("no-bench");
        string outDir = o.String("out") ?? Path.Combine("rl-results", taskName);
        if (File.Exists(Path.Combine(outDir, "results.json")) && !o.Has("force"))
            throw new UsageException($"{outDir} already holds results; pass --force to replace them or choose another --out.");
        bool progress = !o.Has("no-progress");
        using var threads = ThreadsOption.Apply(o, 1);

        var task = new NoisyAddition(variant: variant);
        string? cache = o.Has("no-cache-model") ? null : o.String("cache") ?? Mnist10k.DefaultCacheDirectory();
        var sw = Stopwatch.StartNew();
        var (sft, sftFile, cached) = AdditionPretraining.LoadOrTrain(task, model, cache);
        double sftSeconds = sw.Elapsed.TotalSeconds;
        double sftGreedy = PolicyTraining.GreedyAccuracy(sft, task, task.HeldOutIds);
        double sftSampled = PolicyTraining.SampledAccuracy(sft, task, task.HeldOutIds, 4, 12345);
        stdout.WriteLine(FormattableString.Invariant($"rl: noisy addition, model {model.Layers}x{model.Dim} ({sft.parameters().Sum(p => p.numel())} parameters), SFT {model.Steps} steps {(cached ? "loaded from " + sftFile : $"trained in {sftSeconds:F0} s")}; held-out greedy accuracy {sftGreedy:F3}, sampled {sftSampled:F3}; {threads.Describe()}"));
        var sftStats = SftStats(sft, task);
        if (sftStats is not null) stdout.WriteLine($"variant {taskName}: {sftStats}");
        stdout.WriteLine(FormattableString.Invariant($"{configs.Count} configurations x {seeds} seeds, {run.Steps} steps of {run.PromptsPerStep} prompts x G = {run.GroupSize}, {optimizer} lr {run.LearningRate}, {run.Epochs} epoch(s) x {run.MiniBatches} mini-batch(es) = {run.Epochs * run.MiniBatches} update(s) per rollout batch"));

        CacheBench? bench = null;
        Memory? memory = null;
        if (runBench)
        {
            bench = BenchCache(sft, task);
            stdout.WriteLine(FormattableString.Invariant($"sampling tokens/s: {bench.Rows}"));
            memory = MemoryClaim(sft, task, model, optimizer);
        }

        var results = new List<PolicyRunResult>();
        foreach (var config in configs)
            for (int seed = 1; seed <= seeds; seed++)
            {
                string method = config.Label;
                var policy = AdditionPretraining.Copy(sft, task, model);
                var reference = AdditionPretraining.Copy(sft, task, model);
                var r = PolicyTraining.Run(policy, reference, task, config.Settings, seed, m =>
                {
                    if (progress && !double.IsNaN(m.GreedyAccuracy))
                        stdout.WriteLine(FormattableString.Invariant($"  {method} seed {seed} step {m.Step}/{run.Steps}: reward {m.Reward:F3}, greedy {m.GreedyAccuracy:F3}, KL {m.ExactKl:F4}, entropy {m.Entropy:F3}, {m.TokensPerSecond:F0} tok/s{UpdateLine(m)}"));
                });
                r = r with { Method = method };
                results.Add(r);
                stdout.WriteLine(FormattableString.Invariant($"{method,-10} seed {seed}: reward (last 10 steps) {r.Steps.TakeLast(10).Average(s => s.Reward):F3}, held-out greedy {r.GreedyBefore:F3} -> {r.GreedyAfter:F3}, sampled {r.SampledBefore:F3} -> {r.SampledAfter:F3}, {r.Seconds:F1} s"));
                policy.Dispose();
                reference.Dispose();
            }
        Write(outDir, args, task, taskName, model, run, configs, seeds, sftGreedy, sftSampled, sftStats, cached, sftSeconds, bench, memory, results);
        stdout.WriteLine($"wrote {outDir}/report.md, results.json, curves.csv and the plots");
        return 0;
    }

    /// <summary>The update statistics of a progress line (empty where none is defined).</summary>
    private static string UpdateLine(PolicyStepMetrics m) =>
        (double.IsNaN(m.ClipFraction) ? "" : FormattableString.Invariant($", clip fraction {m.ClipFraction:F4}"))
        + FormattableString.Invariant($", |ρ−1| {m.RatioDeviation:G3}")
        + (double.IsNaN(m.DiscoKl) ? "" : FormattableString.Invariant($", DisCO KL {m.DiscoKl:G3} (penalty active in {m.DiscoPenaltyActive:P0} of updates)"));

    private sealed record CacheBench(string Rows, double Addition, double AdditionNoCache, double Long, double LongNoCache);

    /// <summary>Tokens/s of sampling with and without the key/value cache: the addition setting (64 rows, prompts of 5–6,
    /// 4 new tokens) and a long one (a fresh model of the same width with a 64-token context: 64 rows, prompt 8, 56 new
    /// tokens, no early end). Median of 3 timed runs after one warm-up.</summary>
    private static CacheBench BenchCache(CharTransformer sft, NoisyAddition task)
    {
        double Measure(ICausalLanguageModel m, long end, int newTokens, long[][] prompts, bool cache)
        {
            var sampler = new RolloutSampler(m, end, newTokens, useCache: cache);
            var ids = Enumerable.Range(0, prompts.Length).Select(i => (long)i).ToArray();
            var times = new List<double>();
            long tokens = 0;
            for (int rep = 0; rep < 4; rep++)
            {
                var sw = Stopwatch.StartNew();
                using var b = sampler.Sample(prompts, ids, 8, rep);
                if (rep == 0) continue;
                times.Add(sw.Elapsed.TotalSeconds);
                tokens = b.Lengths.Sum();
            }
            return tokens / times.Order().ElementAt(1);
        }
        var addPrompts = task.TrainIds.Take(8).Select(task.Prompt).ToArray();
        double a1 = Measure(sft, task.EndToken, 4, addPrompts, true), a0 = Measure(sft, task.EndToken, 4, addPrompts, false);
        manual_seed(3);
        using var longModel = new CharTransformer(task.Vocabulary, 64, sft.Dim, sft.Heads, sft.Layers);
        var longPrompts = Enumerable.Range(0, 8).Select(i => Enumerable.Range(0, 8).Select(j => (long)((i + j) % 12 + 1)).ToArray()).ToArray();
        // End token id 0 can still be drawn by the random model; lengths are counted, so tokens/s stays exact.
        double l1 = Measure(longModel, 0, 56, longPrompts, true), l0 = Measure(longModel, 0, 56, longPrompts, false);
        string rows = FormattableString.Invariant($"addition {a1:F0} with cache vs {a0:F0} without ({a1 / a0:F2}x); 64-token context {l1:F0} vs {l0:F0} ({l1 / l0:F2}x)");
        return new CacheBench(rows, a1, a0, l1, l0);
    }

    private sealed record Memory(long PolicyParams, long ValueParams, long ReMaxBytes, long PpoBytes);

    /// <summary>ReMax's memory mechanism (brief §2, miniature 1), from parameter counts and the optimizer's reported state
    /// bytes: ReMax keeps policy (params + grads + state) + frozen reference; a PPO-style actor-critic adds a value model
    /// (the same trunk with a scalar head instead of the vocabulary head) with its grads and state.</summary>
    private static Memory MemoryClaim(CharTransformer sft, NoisyAddition task, AdditionModelSettings model, string optimizer)
    {
        var entry = OptimizerCatalog.Get(optimizer);
        long Trainable(IEnumerable<long[]> shapes) => shapes.Sum(s => 4 * s.Aggregate(1L, (a, b) => a * b) * 2 + entry.StateBytesFor(s));
        var shapes = sft.named_parameters().Select(p => p.parameter.shape).ToList();
        long p = shapes.Sum(s => s.Aggregate(1L, (a, b) => a * b));
        var valueShapes = sft.named_parameters().Where(n => !n.name.StartsWith("lm_head", StringComparison.Ordinal)).Select(n => n.parameter.shape)
            .Append(new long[] { 1, model.Dim }).Append(new long[] { 1 }).ToList();
        long v = valueShapes.Sum(s => s.Aggregate(1L, (a, b) => a * b));
        long remax = Trainable(shapes) + 4 * p;
        long ppo = remax + Trainable(valueShapes);
        return new Memory(p, v, remax, ppo);
    }

    /// <summary>What the variant's supervised model does before RL, on the held-out prompts (null for the standard task):
    /// with leading zeros, the share of sampled answers that carry them and the mean lengths; with a hard subset, the
    /// greedy and sampled accuracy on hard and on the other prompts.</summary>
    private static string? SftStats(CharTransformer sft, NoisyAddition task)
    {
        if (task.Variant.IsStandard) return null;
        var parts = new List<string>();
        if (task.Variant.MaxLeadingZeros > 0)
        {
            var sampler = new RolloutSampler(sft, task.EndToken, task.NewTokens);
            var ids = task.HeldOutIds;
            using var b = sampler.Sample(ids.Select(task.Prompt).ToArray(), ids.Select(i => (long)i).ToArray(), 8, 4242);
            var comps = Enumerable.Range(0, b.Count).Select(b.CompletionOf).ToArray();
            var rewards = Enumerable.Range(0, b.Count).Select(r => task.Reward((int)b.PromptIds[r], comps[r])).ToArray();
            double zeros = comps.Count(c => c.Length > 2 && task.Decode(c.Take(1)) == "0" && task.Decode(c.Skip(1).Take(1)) != "\n") / (double)comps.Length;
            var (lw, lr, _) = PolicyTraining.LengthAndHardMetrics(task, b.PromptIds, b.Lengths, rewards);
            parts.Add(FormattableString.Invariant($"SFT samples (8 per held-out prompt): accuracy {rewards.Average():F3}, {zeros:P1} with a leading zero, mean length {b.Lengths.Average():F2} (wrong {lw:F2}, right {lr:F2} tokens incl. the end token), budget {task.NewTokens} new tokens"));
        }
        if (task.HardIds.Length > 0)
        {
            var normal = task.HeldOutIds.Where(i => !task.IsHard(i)).ToArray();
            parts.Add(FormattableString.Invariant($"{task.HardIds.Length} hard problems ({task.HeldOutHardIds.Length} held out); SFT on the held-out hard prompts: greedy {PolicyTraining.GreedyAccuracy(sft, task, task.HeldOutHardIds):F3}, sampled {PolicyTraining.SampledAccuracy(sft, task, task.HeldOutHardIds, 16, 4242):F3} (16 per prompt); on the other held-out prompts: greedy {PolicyTraining.GreedyAccuracy(sft, task, normal):F3}, sampled {PolicyTraining.SampledAccuracy(sft, task, normal, 16, 4242):F3}"));
        }
        return string.Join("; ", parts);
    }

    private static double NanMean(IEnumerable<double> values)
    {
        var a = values.Where(v => !double.IsNaN(v)).ToArray();
        return a.Length == 0 ? double.NaN : a.Average();
    }

    private static double[] Smooth(double[] v, int window) =>
        v.Select((_, i) => NanMean(v.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)))).ToArray();

    private static string F(double v, string fmt = "F3") => v.ToString(fmt, CultureInfo.InvariantCulture);

    private static (double Mean, double Sd) MeanSd(IEnumerable<double> values)
    {
        var a = values.Where(v => !double.IsNaN(v)).ToArray();
        if (a.Length == 0) return (double.NaN, double.NaN);
        double m = a.Average();
        return (m, a.Length > 1 ? Math.Sqrt(a.Sum(x => (x - m) * (x - m)) / (a.Length - 1)) : 0);
    }

    private static void Write(string outDir, string[] args, NoisyAddition task, string taskName, AdditionModelSettings model, PolicyRunSettings run,
        List<Config> configs, int seeds, double sftGreedy, double sftSampled, string? sftStats, bool cached, double sftSeconds, CacheBench? bench,
        Memory? memory, List<PolicyRunResult> results)
    {
        Directory.CreateDirectory(outDir);
        string staging = Path.Combine(outDir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            var methods = configs.Select(c => c.Label).ToArray();
            int steps = run.Steps;
            double[] xs = Enumerable.Range(1, steps).Select(t => (double)t).ToArray();
            PolicyRunResult[] Runs(string method) => results.Where(r => r.Method == method).ToArray();
            double[] Mean(string method, Func<PolicyStepMetrics, double> f) =>
                Enumerable.Range(0, steps).Select(t => NanMean(Runs(method).Select(r => f(r.Steps[t])))).ToArray();
            var colors = Compare.PlotStyle.Colors(methods.Length);
            var plots = new List<(string File, string Caption)>();

            void PlotLines(string file, string title, string ylabel, IEnumerable<(int Color, string Legend, bool Dashed, double[] X, double[] Y)> lines)
            {
                var plt = new ScottPlot.Plot();
                foreach (var (color, legend, dashed, x, y) in lines)
                {
                    var keep = Enumerable.Range(0, x.Length).Where(k => !double.IsNaN(y[k])).ToArray();
                    if (keep.Length == 0) continue;
                    var l = plt.Add.Scatter(keep.Select(k => x[k]).ToArray(), keep.Select(k => y[k]).ToArray());
                    l.MarkerSize = 0; l.LineWidth = 2; l.Color = colors[color]; l.LegendText = legend;
                    if (dashed) l.LinePattern = ScottPlot.LinePattern.Dashed;
                }
                plt.Title(title);
                plt.XLabel("RL step");
                plt.YLabel(ylabel);
                plt.ShowLegend(ScottPlot.Edge.Right);
                plt.SavePng(Path.Combine(staging, file), 1000, 520);
                plots.Add((file, title));
            }
            void PlotCurves(string file, string title, string ylabel, Func<string, (double[] X, double[] Y)> curve) =>
                PlotLines(file, title, ylabel, methods.Select((m, i) => { var (x, y) = curve(m); return (i, m, false, x, y); }));
            string what = taskName == "addition" ? "noisy addition" : taskName;
            PlotCurves("reward.png", FormattableString.Invariant($"{what}: sampled reward (moving mean of 10 steps), mean of {seeds} seeds"), "mean reward",
                m => (xs, Smooth(Mean(m, s => s.Reward), 10)));
            var evalSteps = Enumerable.Range(0, steps).Where(t => !double.IsNaN(results[0].Steps[t].GreedyAccuracy)).ToArray();
            double[] evalX = new[] { 0.0 }.Concat(evalSteps.Select(t => (double)t + 1)).ToArray();
            PlotCurves("greedy_accuracy.png", FormattableString.Invariant($"{what}: greedy accuracy on the 200 held-out prompts, mean of {seeds} seeds"), "greedy accuracy",
                m => (evalX, new[] { Runs(m).Average(r => r.GreedyBefore) }.Concat(evalSteps.Select(t => Runs(m).Average(r => r.Steps[t].GreedyAccuracy))).ToArray()));
            PlotCurves("kl.png", FormattableString.Invariant($"{what}: exact KL(π_θ‖π_ref) per completion token, mean of {seeds} seeds"), "KL (nats/token)",
                m => (xs, Mean(m, s => s.ExactKl)));
            bool zeros = task.Variant.MaxLeadingZeros > 0, hard = task.HardIds.Length > 0;
            bool capo = configs.Any(c => c.Settings.Method == "capo");
            if (zeros)
                PlotLines("length.png", FormattableString.Invariant($"{what}: length of wrong (solid) / right (dashed) completions, 10-step mean, {seeds} seeds"), "new tokens incl. end",
                    methods.SelectMany((m, i) => new[] { (i, m + " wrong", false, xs, Smooth(Mean(m, s => s.LengthWrong), 10)), (i, m + " right", true, xs, Smooth(Mean(m, s => s.LengthRight), 10)) }));
            if (hard)
            {
                PlotCurves("hard_reward.png", FormattableString.Invariant($"{what}: sampled reward on the step's hard prompts (moving mean of 10 steps), {seeds} seeds"), "reward on hard prompts",
                    m => (xs, Smooth(Mean(m, s => s.HardReward), 10)));
                PlotCurves("hard_sampled_accuracy.png", FormattableString.Invariant($"{what}: sampled accuracy on the {task.HeldOutHardIds.Length} held-out hard prompts ({PolicyTraining.HardSamplesPerPrompt} each), {seeds} seeds"), "sampled accuracy (hard)",
                    m => (evalX, new[] { Runs(m).Average(r => r.HardSampledBefore) }.Concat(evalSteps.Select(t => Runs(m).Average(r => r.Steps[t].HardSampledAccuracy))).ToArray()));
                PlotCurves("zero_variance.png", FormattableString.Invariant($"{what}: fraction of groups with zero reward variance (moving mean of 10 steps), {seeds} seeds"), "zero-variance groups",
                    m => (xs, Smooth(Mean(m, s => s.ZeroVarianceGroups), 10)));
            }
            if (hard || capo)
                PlotCurves("entropy.png", FormattableString.Invariant($"{what}: mean token entropy of the sampled completions, {seeds} seeds"), "entropy (nats)",
                    m => (xs, Mean(m, s => s.Entropy)));
            if (capo)
                PlotCurves("masked.png", FormattableString.Invariant($"{what}: share of completion tokens CAPO masked, {seeds} seeds"), "masked fraction",
                    m => (xs, Mean(m, s => s.MaskedFraction)));

            bool anyClip = results.Any(r => r.Steps.Any(s => !double.IsNaN(s.ClipFraction)));
            bool anyDisco = results.Any(r => r.Steps.Any(s => !double.IsNaN(s.DiscoKl)));
            if (anyClip)
                PlotCurves("clip_fraction.png", FormattableString.Invariant($"{what}: share of tokens with the ratio clip active (moving mean of 10 steps), {run.Epochs}x{run.MiniBatches} updates/batch, {seeds} seeds"), "clip fraction",
                    m => (xs, Smooth(Mean(m, s => s.ClipFraction), 10)));
            PlotCurves("ratio_deviation.png", FormattableString.Invariant($"{what}: mean |ρ − 1| (ρ = π_θ/π_old) over the updates, {run.Epochs}x{run.MiniBatches} updates/batch, {seeds} seeds"), "mean |ρ − 1|",
                m => (xs, Smooth(Mean(m, s => s.RatioDeviation), 10)));
            if (anyDisco)
                PlotCurves("disco_kl.png", FormattableString.Invariant($"{what}: DisCO's KL estimate to π_old (mean over updates, moving mean of 10 steps), {seeds} seeds"), "K",
                    m => (xs, Smooth(Mean(m, s => s.DiscoKl), 10)));

            string Opt(double v, string fmt = "F4") => double.IsNaN(v) ? "" : F(v, fmt);
            var csv = new StringBuilder("method,step,reward,greedy_accuracy,k3,exact_kl,entropy,zero_variance_groups,length,replaced,masked_fraction,length_wrong,length_right,hard_reward,hard_greedy_accuracy,hard_sampled_accuracy,clip_fraction,ratio_deviation,disco_kl,disco_penalty_active\n");
            foreach (var method in methods)
                for (int t = 0; t < steps; t++)
                {
                    var rs = Runs(method).Select(r => r.Steps[t]).ToArray();
                    double Avg(Func<PolicyStepMetrics, double> f) => NanMean(rs.Select(f));
                    csv.Append(FormattableString.Invariant($"{method},{t + 1},{Avg(s => s.Reward):F4},{Opt(Avg(s => s.GreedyAccuracy))},{Avg(s => s.K3):G5},{Avg(s => s.ExactKl):G5},{Avg(s => s.Entropy):F4},{Avg(s => s.ZeroVarianceGroups):F4},{Avg(s => s.Length):F3},{Avg(s => s.Replaced):F2},{Opt(Avg(s => s.MaskedFraction))},{Opt(Avg(s => s.LengthWrong), "F3")},{Opt(Avg(s => s.LengthRight), "F3")},{Opt(Avg(s => s.HardReward))},{Opt(Avg(s => s.HardGreedyAccuracy))},{Opt(Avg(s => s.HardSampledAccuracy))},{Opt(Avg(s => s.ClipFraction), "G5")},{Opt(Avg(s => s.RatioDeviation), "G5")},{Opt(Avg(s => s.DiscoKl), "G5")},{Opt(Avg(s => s.DiscoPenaltyActive))}\n"));
                }
            File.WriteAllText(Path.Combine(staging, "curves.csv"), csv.ToString());

            var md = new StringBuilder();
            md.AppendLine(taskName == "addition" ? "# Policy optimization on noisy addition" : $"# Policy optimization on noisy addition: variant {taskName}");
            md.AppendLine();
            md.AppendLine($"Command: `sharpoptim {string.Join(' ', args)}`");
            md.AppendLine();
            md.AppendLine(FormattableString.Invariant($"Task (policy brief §0.2): prompts \"\\na+b=\" (a < 100, b < 10), 800 train / 200 held out; reward 1 iff the completion up to its first newline is the decimal sum (≤ {task.NewTokens} new tokens). The supervised corpus ({task.SftLines} lines) has the true sum 30% of the time, the sum plus one 50%, a uniform number in [0, 108] 20%. Model: CharTransformer {model.Layers} layers × width {model.Dim}, {model.Heads} heads, context {model.BlockSize}, AdamW lr {model.LearningRate} for {model.Steps} steps of {model.Batch} windows of {model.Window} characters ({(cached ? "loaded from the data cache" : FormattableString.Invariant($"trained in {sftSeconds:F0} s"))}); after it the held-out greedy accuracy is {sftGreedy:F3} and the sampled accuracy {sftSampled:F3}. It is frozen as π_ref."));
            md.AppendLine();
            if (zeros)
            {
                md.AppendLine(FormattableString.Invariant($"Variant (brief §3, Dr. GRPO's length-bias miniature): in {task.Variant.PLeadingZeros:P0} of the supervised lines the answer carries k ∼ uniform{{1..{task.Variant.MaxLeadingZeros}}} leading zeros; the reward ignores leading zeros (\"0055\" counts for 55), and the budget is {task.NewTokens} new tokens, so a completion's length can change without changing its reward. Lengths count new tokens including the end token."));
                md.AppendLine();
            }
            if (hard)
            {
                md.AppendLine(FormattableString.Invariant($"Variant (brief §4 DisCO miniature 2, §6 ARPO): {task.Variant.HardFraction:P0} of the problems ({(task.Variant.HardRandom ? "a seeded random choice" : FormattableString.Invariant($"those with b ≥ {10 - (int)Math.Round(task.Variant.HardFraction * 10)}, so the last prompt digit tells them apart"))}) have the true sum in only {task.Variant.HardPCorrect:P0} of their supervised lines (off-by-one still 50%, the rest uniform). \"Hard reward\" is the mean sampled reward of the step's hard training prompts (about {run.PromptsPerStep * task.Variant.HardFraction:F1} of {run.PromptsPerStep} per step, so it is noisy: plotted as a moving mean); the held-out hard accuracy is measured on the {task.HeldOutHardIds.Length} held-out hard prompts every {run.EvalEvery} steps ({PolicyTraining.HardSamplesPerPrompt} samples per prompt)."));
                md.AppendLine();
            }
            if (sftStats is not null)
            {
                md.AppendLine($"Before RL: {sftStats}.");
                md.AppendLine();
            }
            if (run.TrainPrompts > 0)
            {
                md.AppendLine(FormattableString.Invariant($"Training prompts restricted to the first {run.TrainPrompts} of the 800 (`--train-prompts`; {task.TrainIds.Take(run.TrainPrompts).Count(task.IsHard)} of them hard): each is drawn about {run.Steps * run.PromptsPerStep / (double)run.TrainPrompts:F1} times in the run. The held-out evaluation is unchanged."));
                md.AppendLine();
            }
            md.AppendLine(FormattableString.Invariant($"RL: {steps} steps of {run.PromptsPerStep} training prompts × G = {run.GroupSize} completions at temperature {run.Temperature}, {(run.Epochs * run.MiniBatches == 1 ? "one" : FormattableString.Invariant($"{run.Epochs} epoch(s) × {run.MiniBatches} mini-batch(es) of whole groups = {run.Epochs * run.MiniBatches}"))} {run.Optimizer} step(s) (lr {run.LearningRate}) per rollout batch (ℓ^old, ℓ^ref and advantages fixed per rollout batch), {seeds} seeds per method (seed = prompt order and sampling stream; every run starts from the same π_ref). GRPO: β = {run.Beta} (k3), unbiased std, per-completion token mean. Dr. GRPO: r − mean, sum/(G·{task.NewTokens}), β = 0. ReMax: plain form (r − r̄ of the greedy completion, token mean). REINFORCE: no baseline; RLOO: leave-one-out; both per-completion token mean. DisCO: log-L, τ = 10, β = 1e3, δ = 1e-4 unless the label says otherwise (official script values). ARPO: replay buffer (8 per prompt) + GRPO with clip [0.8, 1.3], dual clip 3, token mean, no KL. PPO: actor-critic, critic = a copy of π_ref with a Linear(dim, 1) value head trained by its own AdamW (lr as the policy's, weight decay 0.01) on the clipped value loss (clip 0.5), outcome reward on the last token, GAE γ = λ = 1 with whitened advantages, clip 0.2, dual clip 3, token mean, no KL (verl's defaults). {(run.Epochs * run.MiniBatches == 1 ? "With one update per rollout batch ρ = 1 at the step, so PPO clipping and DisCO's KL trust region never bind here." : "With several updates per rollout batch ρ departs from 1 after the first, so the ratio clips and DisCO's KL trust region can bind (see the update statistics below).")}"));
            md.AppendLine();
            foreach (var c in configs.Where(c => c.Settings.Method == "capo"))
            {
                var o = c.Settings.Capo ?? PolicyTraining.CapoDefaults;
                var capoRuns = Runs(c.Label);
                md.AppendLine(FormattableString.Invariant($"CAPO ({c.Label}): token masks from the policy's final hidden states and lm_head ({(o.AdamModel ? FormattableString.Invariant($"Adam model β = ({o.Beta1}, {o.Beta2}), ε = {o.Epsilon}") : "SGD model, D = G")}, η = lr), τ_H = {o.TauHessian} (symmetric), τ_F = {o.TauFisher}, advantages r − mean, clip {o.Clip}, β = 0, per-sequence mean over kept tokens. Masked share of completion tokens: {capoRuns.Average(r => r.Steps.Average(s => s.MaskedFraction)):P1} over all steps (first 10 steps {capoRuns.Average(r => r.Steps.Take(10).Average(s => s.MaskedFraction)):P1}, last 10 {capoRuns.Average(r => r.Steps.TakeLast(10).Average(s => s.MaskedFraction)):P1}), mean over seeds."));
                md.AppendLine();
            }
            md.AppendLine("| method | reward, last 10 steps (mean ± sd over seeds) | held-out greedy accuracy, before → after | held-out sampled accuracy, before → after | exact KL to π_ref, last step | entropy, last step | zero-variance groups (mean over steps) | seconds / run |");
            md.AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (var method in methods)
            {
                var rs = Runs(method);
                var (rm, rsd) = MeanSd(rs.Select(r => r.Steps.TakeLast(10).Average(s => s.Reward)));
                var (ga, gsd) = MeanSd(rs.Select(r => r.GreedyAfter));
                var (sa, ssd) = MeanSd(rs.Select(r => r.SampledAfter));
                md.AppendLine(FormattableString.Invariant($"| {method} | {rm:F3} ± {rsd:F3} | {rs.Average(r => r.GreedyBefore):F3} → {ga:F3} ± {gsd:F3} | {rs.Average(r => r.SampledBefore):F3} → {sa:F3} ± {ssd:F3} | {rs.Average(r => r.Steps[^1].ExactKl):F4} | {rs.Average(r => r.Steps[^1].Entropy):F3} | {rs.Average(r => r.Steps.Average(s => s.ZeroVarianceGroups)):F3} | {rs.Average(r => r.Seconds):F1} |"));
            }
            md.AppendLine();
            string Ms(IEnumerable<double> perSeed, string fmt = "F3") { var (m, sd) = MeanSd(perSeed); return double.IsNaN(m) ? "–" : $"{F(m, fmt)} ± {F(sd, fmt)}"; }
            double Window(PolicyRunResult r, Func<PolicyStepMetrics, double> f, int skip, int take) => NanMean(r.Steps.Skip(skip).Take(take).Select(f));
            if (zeros)
            {
                md.AppendLine("## Length of wrong and right completions");
                md.AppendLine();
                md.AppendLine("Mean length (new tokens including the end token) of the sampled completions with reward 0 (wrong) and 1 (right); per seed the mean over a window of steps, then mean ± sd over seeds.");
                md.AppendLine();
                md.AppendLine("| method | wrong, steps 1–10 | wrong, last 10 steps | right, steps 1–10 | right, last 10 steps | wrong − right, last 10 steps |");
                md.AppendLine("|---|---|---|---|---|---|");
                foreach (var method in methods)
                {
                    var rs = Runs(method);
                    md.AppendLine($"| {method} | {Ms(rs.Select(r => Window(r, s => s.LengthWrong, 0, 10)))} | {Ms(rs.Select(r => Window(r, s => s.LengthWrong, steps - 10, 10)))} | {Ms(rs.Select(r => Window(r, s => s.LengthRight, 0, 10)))} | {Ms(rs.Select(r => Window(r, s => s.LengthRight, steps - 10, 10)))} | {Ms(rs.Select(r => Window(r, s => s.LengthWrong, steps - 10, 10) - Window(r, s => s.LengthRight, steps - 10, 10)))} |");
                }
                md.AppendLine();
            }
            if (hard)
            {
                md.AppendLine("## Hard subset");
                md.AppendLine();
                md.AppendLine("Per seed, then mean ± sd over seeds. \"Steps to 0.5\": the first evaluation step at which the held-out hard sampled accuracy (mean over seeds) reaches 0.5 (– if never).");
                md.AppendLine();
                md.AppendLine("| method | held-out hard sampled accuracy, before → after | held-out hard greedy accuracy, before → after | hard reward, steps 1–50 | hard reward, last 50 steps | steps to 0.5 | entropy, steps 1–10 → last 10 | zero-variance groups, steps 1–20 → last 20 |");
                md.AppendLine("|---|---|---|---|---|---|---|---|");
                foreach (var method in methods)
                {
                    var rs = Runs(method);
                    var curve = evalSteps.Select(t => (Step: t + 1, Acc: rs.Average(r => r.Steps[t].HardSampledAccuracy))).ToArray();
                    var hit = curve.FirstOrDefault(c => c.Acc >= 0.5);
                    md.AppendLine($"| {method} | {F(rs.Average(r => r.HardSampledBefore))} → {Ms(rs.Select(r => r.Steps[^1].HardSampledAccuracy))} | {F(rs.Average(r => r.HardGreedyBefore))} → {Ms(rs.Select(r => r.Steps[^1].HardGreedyAccuracy))} | {Ms(rs.Select(r => Window(r, s => s.HardReward, 0, 50)))} | {Ms(rs.Select(r => Window(r, s => s.HardReward, steps - 50, 50)))} | {(hit.Step > 0 ? hit.Step.ToString(CultureInfo.InvariantCulture) : "–")} | {Ms(rs.Select(r => Window(r, s => s.Entropy, 0, 10)))} → {Ms(rs.Select(r => Window(r, s => s.Entropy, steps - 10, 10)))} | {Ms(rs.Select(r => Window(r, s => s.ZeroVarianceGroups, 0, 20)))} → {Ms(rs.Select(r => Window(r, s => s.ZeroVarianceGroups, steps - 20, 20)))} |");
                }
                md.AppendLine();
            }
            if (capo || run.LearningRate > 1e-3)
            {
                md.AppendLine("## Stability per seed");
                md.AppendLine();
                md.AppendLine(FormattableString.Invariant($"A seed counts as collapsed when its sampled reward over the last 10 steps is below the SFT model's held-out sampled accuracy ({sftSampled:F3}), i.e. RL made the policy worse than where it started."));
                md.AppendLine();
                md.AppendLine("| method | reward, last 10 steps, per seed | max exact KL over steps, per seed | masked share (mean over steps) | collapsed seeds |");
                md.AppendLine("|---|---|---|---|---|");
                foreach (var method in methods)
                {
                    var rs = Runs(method);
                    double masked = NanMean(rs.Select(r => NanMean(r.Steps.Select(s => s.MaskedFraction))));
                    md.AppendLine($"| {method} | {string.Join(", ", rs.Select(r => F(r.Steps.TakeLast(10).Average(s => s.Reward))))} | {string.Join(", ", rs.Select(r => F(r.Steps.Max(s => s.ExactKl), "F3")))} | {(double.IsNaN(masked) ? "–" : masked.ToString("P1", CultureInfo.InvariantCulture))} | {rs.Count(r => r.Steps.TakeLast(10).Average(s => s.Reward) < sftSampled)} of {rs.Length} |");
                }
                md.AppendLine();
            }
            foreach (var (file, caption) in plots)
            {
                md.AppendLine($"![{caption}]({file})");
                md.AppendLine();
            }
            if (bench is not null)
            {
                md.AppendLine("## Key/value cache: sampling tokens/s");
                md.AppendLine();
                md.AppendLine(FormattableString.Invariant($"Median of 3 timed sampling runs (64 rows) after one warm-up: {bench.Rows}. The 64-token case uses a fresh model of the same shape with context 64, prompt 8 and up to 56 new tokens; without the cache every new token re-runs the whole sequence."));
                md.AppendLine();
            }
            if (memory is not null)
            {
                md.AppendLine("## ReMax's memory claim in miniature");
                md.AppendLine();
            md.AppendLine(FormattableString.Invariant($"Bytes of trainable state (float32 parameters + gradients + {run.Optimizer} state as the optimizer reports it) plus the frozen reference's parameters: ReMax = policy ({memory.PolicyParams} parameters) + reference = {memory.ReMaxBytes} B; PPO-style actor-critic = the same + a value model (the same trunk with a scalar head, {memory.ValueParams} parameters) with its gradients and state = {memory.PpoBytes} B. Ratio {(double)memory.ReMaxBytes / memory.PpoBytes:F3} ({1 - (double)memory.ReMaxBytes / memory.PpoBytes:P0} less; the brief's idealized 5/9 = 0.556 assumes equal-size models). This checks the mechanism of the paper's 46% figure, which also counts activations and the reward model; `sharpoptim bench remax-ppo` measures time per step and peak memory against the implemented actor-critic (`ppo`)."));
                md.AppendLine();
            }
            md.AppendLine("## Update statistics");
            md.AppendLine();
            md.AppendLine(FormattableString.Invariant($"{run.Epochs} epoch(s) × {run.MiniBatches} mini-batch(es) per rollout batch. Per update, measured on its mini-batch before its optimizer step and averaged over the step's updates, then over steps (per seed) and seeds (mean ± sd): clip fraction = share of completion tokens with the ratio clip active (−A·clip(ρ) > −A·ρ; – for methods without a ratio clip), |ρ − 1| = token mean with ρ = π_θ/π_old, DisCO's KL estimate K to π_old and the share of updates with K > δ (penalty active)."));
            md.AppendLine();
            md.AppendLine("| method | clip fraction, all steps | clip fraction, last 10 steps | mean abs(ρ − 1), all steps | DisCO K, all steps | DisCO penalty active (share of updates) |");
            md.AppendLine("|---|---|---|---|---|---|");
            foreach (var method in methods)
            {
                var rs = Runs(method);
                string Ms2(Func<PolicyRunResult, double> f) { var v = rs.Select(f).ToArray(); if (v.Any(double.IsNaN)) return "–"; var (mu, sd) = MeanSd(v); return FormattableString.Invariant($"{mu:G3} ± {sd:G2}"); }
                md.AppendLine($"| {method} | {Ms2(r => r.Steps.Average(s => s.ClipFraction))} | {Ms2(r => r.Steps.TakeLast(10).Average(s => s.ClipFraction))} | {Ms2(r => r.Steps.Average(s => s.RatioDeviation))} | {Ms2(r => r.Steps.Average(s => s.DiscoKl))} | {Ms2(r => r.Steps.Average(s => s.DiscoPenaltyActive))} |");
            }
            md.AppendLine();
            md.AppendLine("Times are wall-clock on a shared 2-core machine (other builds and tests ran at the same time): indicative only.");
            File.WriteAllText(Path.Combine(staging, "report.md"), md.ToString());

            double? Nn(double v) => double.IsNaN(v) ? null : v;
            var json = JsonSerializer.Serialize(new
            {
                task = taskName,
                variant = new { task.Variant.MaxLeadingZeros, task.Variant.PLeadingZeros, task.Variant.HardFraction, task.Variant.HardPCorrect, new_tokens = task.NewTokens, hard_ids = task.HardIds },
                model = new { model.Layers, model.Dim, model.Heads, model.BlockSize, sft_steps = model.Steps, sft_lr = model.LearningRate, sft_greedy = sftGreedy, sft_sampled = sftSampled, sft_variant_stats = sftStats },
                settings = new { run.Steps, run.PromptsPerStep, run.GroupSize, run.Temperature, run.Optimizer, run.LearningRate, run.Beta, run.EvalEvery, run.TrainPrompts, run.Epochs, run.MiniBatches, run.RecomputeOld },
                configurations = configs.Select(c => new
                {
                    label = c.Label, method = c.Settings.Method,
                    disco_delta = c.Settings.Method is "disco" or "disco-b" ? (c.Settings.Disco ?? new DiscoOptions()).Delta : (double?)null,
                    capo_tau_h = c.Settings.Method == "capo" ? (c.Settings.Capo ?? PolicyTraining.CapoDefaults).TauHessian : (double?)null,
                    capo_tau_f = c.Settings.Method == "capo" ? (c.Settings.Capo ?? PolicyTraining.CapoDefaults).TauFisher : (double?)null,
                    capo_adam_model = c.Settings.Method == "capo" ? (c.Settings.Capo ?? PolicyTraining.CapoDefaults).AdamModel : (bool?)null,
                }),
                seeds,
                cache_bench = bench is null ? null : new { addition_cached = bench.Addition, addition_uncached = bench.AdditionNoCache, long_cached = bench.Long, long_uncached = bench.LongNoCache },
                memory = memory is null ? null : new { policy_parameters = memory.PolicyParams, value_parameters = memory.ValueParams, remax_bytes = memory.ReMaxBytes, ppo_bytes = memory.PpoBytes },
                runs = results.Select(r => new
                {
                    method = r.Method, seed = r.Seed, seconds = r.Seconds, greedy_before = r.GreedyBefore, greedy_after = r.GreedyAfter,
                    sampled_before = r.SampledBefore, sampled_after = r.SampledAfter,
                    hard_greedy_before = Nn(r.HardGreedyBefore), hard_sampled_before = Nn(r.HardSampledBefore),
                    reward = r.Steps.Select(s => s.Reward), exact_kl = r.Steps.Select(s => s.ExactKl), k3 = r.Steps.Select(s => s.K3),
                    entropy = r.Steps.Select(s => s.Entropy), zero_variance_groups = r.Steps.Select(s => s.ZeroVarianceGroups),
                    length = r.Steps.Select(s => s.Length), length_wrong = r.Steps.Select(s => Nn(s.LengthWrong)), length_right = r.Steps.Select(s => Nn(s.LengthRight)),
                    hard_reward = hard ? r.Steps.Select(s => Nn(s.HardReward)) : null,
                    masked_fraction = r.Steps.Any(s => !double.IsNaN(s.MaskedFraction)) ? r.Steps.Select(s => Nn(s.MaskedFraction)) : null,
                    greedy_accuracy = r.Steps.Where(s => !double.IsNaN(s.GreedyAccuracy)).Select(s => new { step = s.Step, accuracy = s.GreedyAccuracy, hard_greedy = Nn(s.HardGreedyAccuracy), hard_sampled = Nn(s.HardSampledAccuracy) }),
                    tokens_per_second = r.Steps.Average(s => s.TokensPerSecond),
                    clip_fraction = r.Steps.Any(s => !double.IsNaN(s.ClipFraction)) ? r.Steps.Select(s => Nn(s.ClipFraction)) : null,
                    ratio_deviation = r.Steps.Select(s => s.RatioDeviation),
                    disco_kl = r.Steps.Any(s => !double.IsNaN(s.DiscoKl)) ? r.Steps.Select(s => Nn(s.DiscoKl)) : null,
                    disco_penalty_active = r.Steps.Any(s => !double.IsNaN(s.DiscoPenaltyActive)) ? r.Steps.Select(s => Nn(s.DiscoPenaltyActive)) : null,
                }),
            }, new JsonSerializerOptions { WriteIndented = true });
            File.WriteAllText(Path.Combine(staging, "results.json"), json);

            File.Delete(Path.Combine(outDir, "results.json"));
            foreach (var f in Directory.GetFiles(staging).Where(f => Path.GetFileName(f) != "results.json"))
                File.Move(f, Path.Combine(outDir, Path.GetFileName(f)), overwrite: true);
            File.Move(Path.Combine(staging, "results.json"), Path.Combine(outDir, "results.json"), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }
}
