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
/// <c>sharpoptim bench remax-ppo</c>: ReMax's efficiency claim in miniature (Li et al., arXiv 2310.10505: no value
/// model, so less memory and shorter training time than PPO) on the noisy-addition task, for every model size of
/// <c>--sizes</c> (layers × width, 4 heads, context 16). One training step of each method is what
/// <c>sharpoptim rl</c> runs for it (<see cref="PolicyTraining"/>, metrics left out): sample <c>--prompts</c> × G
/// completions with the key/value cache, score them, a no-grad forward of the frozen reference (the KL to π_ref every
/// RLHF loop computes), then ReMax: the greedy completion of each prompt and the ReMax loss step; PPO: the critic's
/// values (no grad), GAE, the clipped policy step, and the critic's own AdamW step on the clipped value loss. Reported per
/// size: median step time and its phases for both methods (timed alternately in this process, the same prompts and
/// sampling seeds per step), the peak resident memory of each in its own child process (<see cref="PeakMemoryProbe"/>),
/// and the counted bytes of the real model sets (parameters, gradients and optimizer state as the optimizers report it,
/// plus the frozen reference and the critic). Writes report.md, results.json and step_time.png / memory.png through a
/// staging folder.
/// </summary>
public static class BenchRemaxPpoCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["sizes"] = true, ["prompts"] = true, ["group"] = true, ["warmup"] = true, ["repeats"] = true, ["out"] = true, ["threads"] = true,
        ["seed"] = true, ["cache"] = true, ["lr"] = true, ["no-memory"] = false, ["child"] = true, ["size"] = true,
    };

    private const int Heads = 4;
    private static readonly string[] Methods = { "remax", "ppo" };
    private static readonly string[] ChildLines = { "BASELINE", "BEFORE", "PEAK" };

    private sealed record Phases(double Step, double Rollout, double Score, double Policy, double Critic, double Tokens);

    private sealed record Bytes(long PolicyParams, long PolicyGrads, long PolicyState, long ReferenceParams, long CriticParams, long CriticGrads, long CriticState)
    {
        public long Total => PolicyParams + PolicyGrads + PolicyState + ReferenceParams + CriticParams + CriticGrads + CriticState;
    }

    private sealed record Memory(long Persistent, long StepPeak)
    {
        public long Total => Persistent + StepPeak;
    }

    private sealed record Row(string Size, long Parameters, long CriticParameters, string Weights, Phases ReMax, Phases Ppo, Bytes ReMaxBytes, Bytes PpoBytes,
        Memory? ReMaxMemory, Memory? PpoMemory);

    public static int Run(Options o, TextWriter stdout)
    {
        var sizes = o.String("sizes", "2x64,4x128").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ParseSize).ToArray();
        if (sizes.Length == 0) throw new UsageException("bench remax-ppo: --sizes is empty.");
        int prompts = (int)o.Long("prompts", 8, 1, 800);
        int group = (int)o.Long("group", 8, 2, 256);
        int seed = (int)o.Long("seed", 1, 0, int.MaxValue);
        double lr = o.Double("lr", 1e-3, 1e-9, 10);
        string? cache = o.String("cache") ?? Mnist10k.DefaultCacheDirectory();
        if (o.String("child") is { } child)
        {
            if (!Methods.Contains(child)) throw new UsageException($"bench remax-ppo: --child takes remax or ppo; got '{child}'.");
            return Child(o, child, ParseSize(o.String("size", "2x64")), prompts, group, seed, lr, cache, stdout);
        }
        int warmup = (int)o.Long("warmup", 3, 0, 1000);
        int repeats = (int)o.Long("repeats", 20, 1, 10_000);
        string outDir = o.String("out", "bench-results/remax-ppo");
        bool memory = !o.Has("no-memory") && PeakMemoryProbe.Available;
        using var threads = ThreadsOption.Apply(o, 1);
        stdout.WriteLine(threads.Describe());
        string loadBefore = MachineLoad.Averages(" / ");
        var task = new NoisyAddition();

        var rows = new List<Row>();
        foreach (var (layers, dim) in sizes)
        {
            string size = Inv($"{layers}x{dim}");
            var (sft, weights) = LoadModel(task, layers, dim, cache);
            using var remax = new Trainer(task, sft, "remax", prompts, group, seed, lr);
            using var ppo = new Trainer(task, sft, "ppo", prompts, group, seed, lr);
            long parameters = sft.parameters().Sum(p => p.numel());
            long criticParameters = ppo.Critic!.parameters().Sum(p => p.numel());
            sft.Dispose();
            int step = 0;
            for (int i = 0; i < warmup; i++, step++) { remax.Step(step); ppo.Step(step); }
            var times = new Dictionary<string, List<Phases>> { ["remax"] = new(), ["ppo"] = new() };
            for (int i = 0; i < repeats; i++, step++)
                // Alternate the order so that a slow stretch of the shared machine hits both alike; both see step's prompts.
                foreach (var t in i % 2 == 0 ? new[] { remax, ppo } : new[] { ppo, remax })
                    times[t.Method].Add(t.Step(step));
            Memory? mRemax = null, mPpo = null;
            if (memory)
            {
                mRemax = ChildMemory("remax", size, prompts, group, seed, lr, cache, threads.Threads);
                mPpo = ChildMemory("ppo", size, prompts, group, seed, lr, cache, threads.Threads);
            }
            var row = new Row(size, parameters, criticParameters, weights, Median(times["remax"]), Median(times["ppo"]), remax.Count(), ppo.Count(), mRemax, mPpo);
            rows.Add(row);
            stdout.WriteLine(Inv($"{size} ({weights}): step ReMax {row.ReMax.Step:F1} ms, PPO {row.Ppo.Step:F1} ms (PPO / ReMax {row.Ppo.Step / row.ReMax.Step:F2}); counted bytes ReMax {row.ReMaxBytes.Total / 1e6:F2} MB, PPO {row.PpoBytes.Total / 1e6:F2} MB (ReMax / PPO {(double)row.ReMaxBytes.Total / row.PpoBytes.Total:F3})") +
                (memory ? Inv($"; peak RSS over baseline ReMax {mRemax!.Total / 1e6:F1} MB, PPO {mPpo!.Total / 1e6:F1} MB (ReMax / PPO {(double)mRemax.Total / mPpo.Total:F3})") : ""));
        }
        Write(outDir, rows, o, prompts, group, seed, lr, warmup, repeats, memory, threads.Describe(), (loadBefore, MachineLoad.Averages(" / ")));
        stdout.WriteLine($"wrote {outDir}/report.md, results.json and plots");
        return 0;
    }

    private static (int Layers, int Dim) ParseSize(string s)
    {
        var parts = s.Split('x');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int l) &&
            int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int d) && l >= 1 && l <= 64 && d >= Heads && d <= 4096 && d % Heads == 0)
            return (l, d);
        throw new UsageException($"bench remax-ppo: a size is LAYERSxWIDTH with 1 ≤ layers ≤ 64 and the width a multiple of {Heads}; got '{s}'.");
    }

    /// <summary>The supervised model of this shape from the rl cache when it is there (never trained here), else a fresh
    /// model of the same shape: step time and memory do not depend on the weights except through completion lengths,
    /// which are reported.</summary>
    private static (CharTransformer Model, string Weights) LoadModel(NoisyAddition task, int layers, int dim, string? cache)
    {
        var settings = new AdditionModelSettings(Layers: layers, Dim: dim, Heads: Heads);
        var model = AdditionPretraining.NewModel(task, settings);
        string? file = cache is null ? null : Path.Combine(cache, "policy", settings.Key(task) + ".dat");
        if (file is not null && File.Exists(file))
        {
            model.load(file);
            return (model, "supervised weights from the rl cache");
        }
        return (model, "fresh initialisation (no cached supervised model of this shape)");
    }

    /// <summary>One method's training state and step (the operations of <see cref="PolicyTraining"/>'s remax / ppo cases).</summary>
    private sealed class Trainer : IDisposable
    {
        private readonly NoisyAddition task;
        private readonly CharTransformer policy, reference;
        private readonly OptimizerBase opt;
        private readonly OptimizerBase? criticOpt;
        private readonly RolloutSampler sampler;
        private readonly int prompts, group, seed;

        public Trainer(NoisyAddition task, CharTransformer sft, string method, int prompts, int group, int seed, double lr)
        {
            this.task = task;
            Method = method;
            this.prompts = prompts;
            this.group = group;
            this.seed = seed;
            policy = Copy(sft);
            reference = Copy(sft);
            opt = OptimizerCatalog.Get("adam").Create(policy.named_parameters(), new Dictionary<string, double> { ["lr"] = lr });
            sampler = new RolloutSampler(policy, task.EndToken, NoisyAddition.MaxNewTokens, 1, 0, useCache: true);
            if (method == "ppo")
            {
                manual_seed(seed);   // the value head's initialisation
                Critic = PolicyTraining.NewCritic(sft);
                criticOpt = OptimizerCatalog.Get("adamw").Create(Critic.TrainableParameters(), new Dictionary<string, double> { ["lr"] = lr, ["weight_decay"] = 0.01 });
            }
        }

        public string Method { get; }

        public PpoCritic? Critic { get; }

        private static CharTransformer Copy(CharTransformer sft)
        {
            var copy = new CharTransformer(sft.Vocabulary, sft.BlockSize, sft.Dim, sft.Heads, sft.Layers);
            using (no_grad())
            {
                var src = sft.parameters().ToArray();
                var dst = copy.parameters().ToArray();
                for (int i = 0; i < src.Length; i++) dst[i].copy_(src[i]);
            }
            return copy;
        }

        public Phases Step(int step)
        {
            using var scope = NewDisposeScope();
            var rng = new Random(seed * 7919 + step);
            var ids = task.TrainIds.OrderBy(_ => rng.Next()).Take(prompts).ToArray();
            var promptTokens = ids.Select(task.Prompt).ToArray();
            var uid = ids.Select(i => (long)i).ToArray();
            var total = Stopwatch.StartNew();
            var sw = Stopwatch.StartNew();
            using var batch = sampler.Sample(promptTokens, uid, group, seed * 1_000_003L + step);
            RolloutBatch? greedy = Method == "remax" ? sampler.Greedy(promptTokens, uid) : null;
            double rollout = Lap(sw);
            int n = batch.Count;
            var rewards = Enumerable.Range(0, n).Select(r => task.Reward((int)batch.PromptIds[r], batch.CompletionOf(r))).ToArray();
            Tensor refLogp;
            using (no_grad()) refLogp = SequenceLogProbs.Compute(reference, batch.Prompts, batch.Completions);
            double score = Lap(sw);
            double critic = 0;
            Tensor? advantages = null, returns = null, oldValues = null;
            if (Critic is not null)
            {
                using (no_grad()) oldValues = Critic.Values(batch.Prompts, batch.Completions);
                var tokenRewards = Ppo.TokenRewards(rewards, batch.Mask, batch.OldLogProbs, refLogp, PolicyTraining.PpoDefaults.KlCoefficient);
                (advantages, returns) = Ppo.Gae(tokenRewards, oldValues, batch.Mask, PolicyTraining.PpoDefaults);
                critic += Lap(sw);
            }
            var logp = SequenceLogProbs.Compute(policy, batch.Prompts, batch.Completions);
            Tensor loss;
            if (greedy is not null)
            {
                var greedyRewards = Enumerable.Range(0, ids.Length).Select(j => task.Reward(ids[j], greedy.CompletionOf(j))).ToArray();
                loss = ReMax.Loss(logp, null, batch.Mask, rewards, Enumerable.Range(0, n).Select(r => greedyRewards[r / group]).ToArray());
                greedy.Dispose();
            }
            else
                loss = Ppo.PolicyLoss(logp, batch.OldLogProbs, advantages!, batch.Mask, PolicyTraining.PpoDefaults);
            opt.zero_grad();
            loss.backward();
            opt.step();
            double policyMs = Lap(sw);
            if (Critic is not null)
            {
                var valueLoss = Ppo.ValueLoss(Critic.Values(batch.Prompts, batch.Completions), oldValues!, returns!, batch.Mask, PolicyTraining.PpoDefaults);
                criticOpt!.zero_grad();
                valueLoss.backward();
                criticOpt.step();
                critic += Lap(sw);
            }
            return new Phases(total.Elapsed.TotalMilliseconds, rollout, score, policyMs, critic, batch.Lengths.Average());
        }

        private static double Lap(Stopwatch sw)
        {
            double ms = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            return ms;
        }

        private static long ParamBytes(IEnumerable<TorchSharp.Modules.Parameter> ps) => ps.Sum(p => p.numel() * p.element_size());

        private static long GradBytes(IEnumerable<TorchSharp.Modules.Parameter> ps) => ps.Sum(p => p.grad is { } g ? g.numel() * g.element_size() : 0);

        /// <summary>The bytes the method keeps between steps, counted from the real model sets (after at least one step,
        /// so that gradients and optimizer state exist).</summary>
        public Bytes Count() => new(ParamBytes(policy.parameters()), GradBytes(policy.parameters()), opt.StateBytes, ParamBytes(reference.parameters()),
            Critic is null ? 0 : ParamBytes(Critic.parameters()), Critic is null ? 0 : GradBytes(Critic.parameters()), criticOpt?.StateBytes ?? 0);

        public void Dispose()
        {
            opt.Dispose();
            criticOpt?.Dispose();
            Critic?.Dispose();
            policy.Dispose();
            reference.Dispose();
        }
    }

    private static int Child(Options o, string method, (int Layers, int Dim) size, int prompts, int group, int seed, double lr, string? cache, TextWriter stdout)
    {
        using var threads = ThreadsOption.Apply(o, 1);
        var task = new NoisyAddition();
        using (var warm = ones(2, 2)) warm.matmul(warm).Dispose();   // libtorch loaded before the baseline
        long baseline = PeakMemoryProbe.ResetPeak();
        var (sft, _) = LoadModel(task, size.Layers, size.Dim, cache);
        using var trainer = new Trainer(task, sft, method, prompts, group, seed, lr);
        sft.Dispose();
        trainer.Step(0);   // gradients and optimizer state exist, code paths and thread pools are warm
        trainer.Step(1);
        long before = PeakMemoryProbe.ResetPeak();
        trainer.Step(2);
        long peak = PeakMemoryProbe.Peak;
        stdout.WriteLine(Inv($"BASELINE {baseline}"));
        stdout.WriteLine(Inv($"BEFORE {before}"));
        stdout.WriteLine(Inv($"PEAK {peak}"));
        return 0;
    }

    private static Memory ChildMemory(string method, string size, int prompts, int group, int seed, double lr, string? cache, int threads)
    {
        var args = new List<string> { "bench", "remax-ppo", "--child", method, "--size", size, "--prompts", prompts.ToString(CultureInfo.InvariantCulture),
            "--group", group.ToString(CultureInfo.InvariantCulture), "--seed", seed.ToString(CultureInfo.InvariantCulture), "--lr", lr.ToString("R", CultureInfo.InvariantCulture),
            "--threads", threads.ToString(CultureInfo.InvariantCulture) };
        if (cache is not null) { args.Add("--cache"); args.Add(cache); }
        var v = PeakMemoryProbe.RunChild(args, ChildLines, $"bench remax-ppo ({method}, {size})");
        return new Memory(v["BEFORE"] - v["BASELINE"], v["PEAK"] - v["BEFORE"]);
    }

    private static Phases Median(List<Phases> xs) => new(Median(xs.Select(x => x.Step)), Median(xs.Select(x => x.Rollout)), Median(xs.Select(x => x.Score)),
        Median(xs.Select(x => x.Policy)), Median(xs.Select(x => x.Critic)), xs.Average(x => x.Tokens));

    private static double Median(IEnumerable<double> values)
    {
        var s = values.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }


    private static void Write(string outDir, List<Row> rows, Options o, int prompts, int group, int seed, double lr, int warmup, int repeats, bool memory, string threads,
        (string Before, string After) load)
    {
        Directory.CreateDirectory(outDir);
        string staging = Path.Combine(outDir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, true);
        Directory.CreateDirectory(staging);
        try
        {
            var args = new StringBuilder("sharpoptim bench remax-ppo");
            foreach (var name in new[] { "sizes", "prompts", "group", "warmup", "repeats", "seed", "lr", "threads", "cache", "out" })
                if (o.Has(name)) args.Append(Inv($" --{name} {o.String(name)}"));
            if (o.Has("no-memory")) args.Append(" --no-memory");
            var md = new StringBuilder();
            md.AppendLine("# ReMax vs a PPO-style actor-critic: time and memory per training step");
            md.AppendLine();
            md.AppendLine(Inv($"Command: `{args}`; {threads}; {Environment.ProcessorCount} logical CPUs, machine shared with other jobs (other builds, tests and runs at the same time; load average 1 / 5 / 15 min {load.Before} at the start, {load.After} at the end): times are indicative, and every ratio below comes from this one run."));
            md.AppendLine();
            md.AppendLine(Inv($"Task: noisy addition (policy brief §0.2), CharTransformer L layers × width d, {Heads} heads, context 16, vocabulary 13, float32, CPU. One training step = what `sharpoptim rl` runs for the method (metrics left out): sample {prompts} training prompts × G = {group} completions (≤ 4 new tokens, temperature 1, key/value cache), score them, ℓ^ref from the frozen reference (no grad), then"));
            md.AppendLine("- **ReMax** (`Policy.ReMax`, plain form): greedy-decode each prompt (the baseline's extra generation), ReMax loss, backward, one Adam step of the policy;");
            md.AppendLine(Inv($"- **PPO** (`Policy.Ppo` + `PpoCritic`, verl's defaults): the critic's values V (no grad; a separate copy of the trunk + Linear(d, 1)), outcome token rewards and GAE (γ = λ = 1, whitened), clipped policy loss, backward, one Adam step of the policy; then the critic's forward with gradient, clipped value loss (0.5), backward, one AdamW step of the critic (weight decay 0.01)."));
            md.AppendLine();
            md.AppendLine(Inv($"Time: medians over {repeats} steps per method after {warmup} warm-up steps, the two methods alternating step by step (the same prompts and sampling seeds at each step), lr {lr}. Phases: rollout = sampling (+ greedy decoding for ReMax); score = rewards + reference forward; policy = policy forward, loss, backward, step; critic = PPO's value pass + GAE + value update."));
            md.AppendLine();
            md.AppendLine("| size | weights | method | step ms | rollout | score + ref | policy update | critic | mean completion length |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var r in rows)
                foreach (var (name, p) in new[] { ("ReMax", r.ReMax), ("PPO", r.Ppo) })
                    md.AppendLine(Inv($"| {r.Size} | {r.Weights} | {name} | {p.Step:F1} | {p.Rollout:F1} | {p.Score:F1} | {p.Policy:F1} | {p.Critic:F1} | {p.Tokens:F2} |"));
            md.AppendLine();
            md.AppendLine("Counted bytes kept between steps, from the real model sets after the timed steps: parameters + gradients of every trainable tensor + optimizer state as the optimizer reports it (`StateBytes`: Adam's m and v), the frozen reference's parameters, and for PPO the critic (its parameters including the frozen, unused copy of the vocabulary head, its gradients and its AdamW state).");
            md.AppendLine();
            md.AppendLine("| size | policy parameters | critic parameters | ReMax bytes | PPO bytes | ReMax / PPO (counted) | step time PPO / ReMax |" + (memory ? " ReMax peak RSS | PPO peak RSS | ReMax / PPO (measured) |" : ""));
            md.AppendLine("|---|---|---|---|---|---|---|" + (memory ? "---|---|---|" : ""));
            foreach (var r in rows)
                md.AppendLine(Inv($"| {r.Size} | {r.Parameters} | {r.CriticParameters} | {r.ReMaxBytes.Total / 1e6:F3} MB | {r.PpoBytes.Total / 1e6:F3} MB | {(double)r.ReMaxBytes.Total / r.PpoBytes.Total:F3} | {r.Ppo.Step / r.ReMax.Step:F2}× |") +
                    (memory ? Inv($" {r.ReMaxMemory!.Total / 1e6:F1} MB ({r.ReMaxMemory.Persistent / 1e6:F1} + {r.ReMaxMemory.StepPeak / 1e6:F1}) | {r.PpoMemory!.Total / 1e6:F1} MB ({r.PpoMemory.Persistent / 1e6:F1} + {r.PpoMemory.StepPeak / 1e6:F1}) | {(double)r.ReMaxMemory.Total / r.PpoMemory.Total:F3} |") : ""));
            md.AppendLine();
            md.AppendLine(memory
                ? "Peak RSS: each method and size in its own child process (`--child remax|ppo --size LxD`, glibc's mmap threshold at 4 KiB so freed tensors leave the resident set). Baseline = resident size after the runtime, libtorch and the task data are loaded and before any model exists; the child then builds the method's models and optimizers, runs two steps, resets the peak (/proc/self/clear_refs) and runs one more. Reported: peak over baseline = persistent (resident growth from the models, gradients and optimizer state, plus allocator and runtime growth during the first steps) + the peak one step adds over it (activations, autograd buffers, rollouts). At these sizes the allocator and runtime growth is of the same order as the model state, so the measured ratio is much closer to 1 than the counted one; the counted bytes isolate the mechanism."
                : "Peak RSS: not measured (--no-memory, or not Linux).");
            md.AppendLine();
            md.AppendLine("![step time](step_time.png)");
            md.AppendLine();
            md.AppendLine("![memory](memory.png)");
            md.AppendLine();
            File.WriteAllText(Path.Combine(staging, "report.md"), md.ToString());

            object P(Phases p) => new { step_ms = p.Step, rollout_ms = p.Rollout, score_ms = p.Score, policy_ms = p.Policy, critic_ms = p.Critic, mean_completion_length = p.Tokens };
            object B(Bytes b) => new
            {
                policy_params = b.PolicyParams, policy_grads = b.PolicyGrads, policy_optimizer_state = b.PolicyState, reference_params = b.ReferenceParams,
                critic_params = b.CriticParams, critic_grads = b.CriticGrads, critic_optimizer_state = b.CriticState, total = b.Total,
            };
            object? M(Memory? m) => m is null ? null : new { persistent_bytes = m.Persistent, step_peak_bytes = m.StepPeak, total_bytes = m.Total };
            var json = new
            {
                command = args.ToString(), threads, load_average_start = load.Before, load_average_end = load.After, prompts, group, seed, lr, warmup, repeats,
                rows = rows.Select(r => new
                {
                    size = r.Size, parameters = r.Parameters, critic_parameters = r.CriticParameters, weights = r.Weights,
                    remax = P(r.ReMax), ppo = P(r.Ppo), remax_bytes = B(r.ReMaxBytes), ppo_bytes = B(r.PpoBytes),
                    remax_memory = M(r.ReMaxMemory), ppo_memory = M(r.PpoMemory),
                    step_time_ratio_ppo_over_remax = r.Ppo.Step / r.ReMax.Step,
                    counted_bytes_ratio_remax_over_ppo = (double)r.ReMaxBytes.Total / r.PpoBytes.Total,
                    measured_peak_ratio_remax_over_ppo = r.ReMaxMemory is null ? (double?)null : (double)r.ReMaxMemory.Total / r.PpoMemory!.Total,
                }).ToArray(),
            };
            File.WriteAllText(Path.Combine(staging, "results.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));

            double[] xs = Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray();
            void Bars(ScottPlot.Plot plot, double offset, double width, double[] values, string label)
            {
                var bars = plot.Add.Bars(xs.Select(x => x + offset).ToArray(), values);
                foreach (var bar in bars.Bars) bar.Size = width;
                bars.LegendText = label;
            }
            var tp = new ScottPlot.Plot();
            Bars(tp, -0.2, 0.38, rows.Select(r => r.ReMax.Step).ToArray(), "ReMax");
            Bars(tp, 0.2, 0.38, rows.Select(r => r.Ppo.Step).ToArray(), "PPO (actor-critic)");
            tp.Axes.Bottom.SetTicks(xs, rows.Select(r => r.Size).ToArray());
            tp.Axes.Margins(bottom: 0);
            tp.Title(Inv($"Median time per training step ({prompts} prompts x G = {group})"));
            tp.XLabel("model (layers x width)");
            tp.YLabel("ms");
            tp.ShowLegend(ScottPlot.Edge.Bottom);
            tp.SavePng(Path.Combine(staging, "step_time.png"), 800, 500);
            var mp = new ScottPlot.Plot();
            double w = memory ? 0.19 : 0.38;
            Bars(mp, memory ? -0.3 : -0.2, w, rows.Select(r => r.ReMaxBytes.Total / 1e6).ToArray(), "ReMax, counted state");
            Bars(mp, memory ? -0.1 : 0.2, w, rows.Select(r => r.PpoBytes.Total / 1e6).ToArray(), "PPO, counted state");
            if (memory)
            {
                Bars(mp, 0.1, w, rows.Select(r => r.ReMaxMemory!.Total / 1e6).ToArray(), "ReMax, peak RSS over baseline");
                Bars(mp, 0.3, w, rows.Select(r => r.PpoMemory!.Total / 1e6).ToArray(), "PPO, peak RSS over baseline");
            }
            mp.Axes.Bottom.SetTicks(xs, rows.Select(r => r.Size).ToArray());
            mp.Axes.Margins(bottom: 0);
            mp.Title("Memory: counted state bytes and measured peak RSS");
            mp.XLabel("model (layers x width)");
            mp.YLabel("MB");
            mp.ShowLegend(ScottPlot.Edge.Bottom);
            mp.SavePng(Path.Combine(staging, "memory.png"), 800, 500);
            foreach (var file in Directory.GetFiles(staging))
                File.Move(file, Path.Combine(outDir, Path.GetFileName(file)), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, true);
        }
    }

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);
}
