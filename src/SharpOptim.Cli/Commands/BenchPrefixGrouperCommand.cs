using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Optimizers;
using SharpOptim.Policy;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim bench prefix-grouper</c>: Prefix Grouper (arXiv 2506.05433) against the repeated-prefix forward on
/// the charlm model (CharTransformer 4 layers × width 128, 4 heads, block size 64, the fortunes vocabulary), one
/// prompt of P tokens and G completions of 64 − P tokens each, for every P of <c>--prefixes</c>. One training step
/// is zero_grad + forward + the on-policy GRPO loss −(1/G) Σ_i A_i (1/|o_i|) Σ_t ℓ_{i,t} + backward. Reported per P:
/// median step time of both forms (timed alternately in this process), the peak resident memory one step adds (each
/// form in its own child process, large allocations returned to the system on free so that resident size tracks live
/// memory), the loss difference between the forms, and the report's FLOP ratios (Lemma 2.2). Tokens are random
/// (seeded): step time and memory do not depend on their values. Writes report.md, results.json, results.csv and
/// step_time.png / memory.png through a staging folder.
/// </summary>
public static class BenchPrefixGrouperCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["prefixes"] = true, ["group"] = true, ["warmup"] = true, ["repeats"] = true, ["out"] = true, ["threads"] = true,
        ["seed"] = true, ["no-memory"] = false, ["child"] = true, ["prefix"] = true,
    };

    private const int Sequence = 64, Layers = 4, Dim = 128, Heads = 4;

    private sealed record Row(int Prefix, int Completion, double GroupedMs, double RepeatedMs, long GroupedPeakBytes, long RepeatedPeakBytes,
        double LossDifference, double AttentionFlopRatio, double TokenRatio, int GroupedTokens, int RepeatedTokens);

    public static int Run(Options o, TextWriter stdout)
    {
        int group = (int)o.Long("group", 8, 1, 256);
        int seed = (int)o.Long("seed", 0, 0, int.MaxValue);
        var prefixes = o.String("prefixes", "8,16,24,32,40,48,56").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s =>
            int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int p) && p >= 1 && p < Sequence ? p
                : throw new UsageException($"bench prefix-grouper: --prefixes takes prompt lengths in [1, {Sequence - 1}]; got '{s}'.")).ToArray();
        if (prefixes.Length == 0) throw new UsageException("bench prefix-grouper: --prefixes is empty.");
        if (o.String("child") is { } child)
        {
            int p = (int)o.Long("prefix", 8, 1, Sequence - 1);
            return Child(o, child, p, group, seed, stdout);
        }
        int warmup = (int)o.Long("warmup", 3, 0, 1000);
        int repeats = (int)o.Long("repeats", 15, 1, 10_000);
        string outDir = o.String("out", "bench-results/prefix-grouper");
        bool memory = !o.Has("no-memory") && PeakMemoryProbe.Available;
        using var threads = ThreadsOption.Apply(o, 1);
        stdout.WriteLine(threads.Describe());
        int vocabulary = TextCorpus.Fortunes().Vocabulary.Count;

        var rows = new List<Row>();
        foreach (int p in prefixes)
        {
            int l = Sequence - p;
            using var setup = Setup(p, group, seed, vocabulary);
            var model = setup.Model;
            double lossGrouped = Step(model, setup.Batch, setup.Advantages, grouped: true);
            double lossRepeated = Step(model, setup.Batch, setup.Advantages, grouped: false);
            for (int i = 1; i < warmup; i++) { Step(model, setup.Batch, setup.Advantages, true); Step(model, setup.Batch, setup.Advantages, false); }
            var tg = new List<double>();
            var tr = new List<double>();
            for (int i = 0; i < repeats; i++)
            {
                // Alternate the forms so that a slow stretch of the shared machine hits both alike.
                foreach (bool grouped in i % 2 == 0 ? new[] { true, false } : new[] { false, true })
                {
                    var sw = Stopwatch.StartNew();
                    Step(model, setup.Batch, setup.Advantages, grouped);
                    (grouped ? tg : tr).Add(sw.Elapsed.TotalMilliseconds);
                }
            }
            long peakGrouped = memory ? ChildPeak("grouped", p, group, seed, threads.Threads) : -1;
            long peakRepeated = memory ? ChildPeak("repeated", p, group, seed, threads.Threads) : -1;
            var row = new Row(p, l, Median(tg), Median(tr), peakGrouped, peakRepeated, Math.Abs(lossGrouped - lossRepeated),
                PrefixGrouper.AttentionFlopRatio(p, l, group), PrefixGrouper.TokenRatio(p, l, group), p + group * l, group * (p + l));
            rows.Add(row);
            stdout.WriteLine(Inv($"P {p,2} L {l,2} G {group}: grouped {row.GroupedMs,7:F1} ms, repeated {row.RepeatedMs,7:F1} ms ({row.RepeatedMs / row.GroupedMs:F2}x)") +
                (memory ? Inv($"; peak +{peakGrouped / 1e6:F1} MB vs +{peakRepeated / 1e6:F1} MB ({(double)peakRepeated / Math.Max(1, peakGrouped):F2}x)") : "") +
                Inv($"; FLOP ratio attention {row.AttentionFlopRatio:F3}, tokens {row.TokenRatio:F3}; |loss difference| {row.LossDifference:E1}"));
        }
        Write(outDir, rows, o, group, seed, warmup, repeats, memory, threads.Describe(), vocabulary);
        stdout.WriteLine($"wrote {outDir}/report.md, results.json, results.csv and plots");
        return 0;
    }

    private sealed class BenchSetup : IDisposable
    {
        public required CharTransformer Model { get; init; }
        public required PrefixGroupBatch Batch { get; init; }
        public required Tensor Advantages { get; init; }
        public void Dispose() { Model.Dispose(); Batch.Dispose(); Advantages.Dispose(); }
    }

    private static BenchSetup Setup(int p, int group, int seed, int vocabulary)
    {
        manual_seed(seed);
        var model = new CharTransformer(vocabulary, Sequence, Dim, Heads, Layers);
        var rng = new Random(seed * 1000 + p);
        long[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => (long)rng.Next(vocabulary)).ToArray();
        var prompt = Tokens(p);
        var completions = Enumerable.Range(0, group).Select(_ => Tokens(Sequence - p)).ToArray();
        // Rewards 0/1, alternating, so that the group-normalised advantages are non-zero.
        var rewards = Enumerable.Range(0, group).Select(i => (double)(i % 2)).ToArray();
        double mean = rewards.Average();
        double std = group > 1 ? Math.Sqrt(rewards.Sum(r => (r - mean) * (r - mean)) / (group - 1)) : 0;
        var advantages = tensor(rewards.Select(r => (r - mean) / (std + 1e-4)).ToArray(), ScalarType.Float32);
        return new BenchSetup { Model = model, Batch = PrefixGroupBatch.Create(new[] { prompt }, new[] { completions }, Sequence), Advantages = advantages };
    }

    /// <summary>One training step (no optimizer update): zero_grad, forward, on-policy GRPO loss, backward. Returns the loss.</summary>
    private static double Step(CharTransformer model, PrefixGroupBatch batch, Tensor advantages, bool grouped)
    {
        model.zero_grad();
        using var scope = NewDisposeScope();
        using var lp = grouped ? PrefixGrouper.Grouped(model, batch) : PrefixGrouper.Repeated(model, batch);
        var perSample = lp.LogProbs.mul(lp.Mask).sum(1).div(lp.Mask.sum(1));
        var loss = perSample.mul(advantages).mean().neg();
        loss.backward();
        return loss.item<float>();
    }

    private static int Child(Options o, string form, int p, int group, int seed, TextWriter stdout)
    {
        if (form is not ("grouped" or "repeated")) throw new UsageException($"bench prefix-grouper: --child takes grouped or repeated; got '{form}'.");
        using var threads = ThreadsOption.Apply(o, 1);
        int vocabulary = TextCorpus.Fortunes().Vocabulary.Count;
        using var setup = Setup(p, group, seed, vocabulary);
        bool grouped = form == "grouped";
        Step(setup.Model, setup.Batch, setup.Advantages, grouped);   // gradients exist, code paths and thread pools are warm
        Step(setup.Model, setup.Batch, setup.Advantages, grouped);
        long before = PeakMemoryProbe.ResetPeak();
        Step(setup.Model, setup.Batch, setup.Advantages, grouped);
        stdout.WriteLine(Inv($"PEAK {PeakMemoryProbe.Peak - before}"));
        return 0;
    }

    private static long ChildPeak(string form, int p, int group, int seed, int threads)
    {
        var args = new[] { "bench", "prefix-grouper", "--child", form, "--prefix", p.ToString(CultureInfo.InvariantCulture),
            "--group", group.ToString(CultureInfo.InvariantCulture), "--seed", seed.ToString(CultureInfo.InvariantCulture),
            "--threads", threads.ToString(CultureInfo.InvariantCulture) };
        return PeakMemoryProbe.RunChild(args, new[] { "PEAK" }, $"bench prefix-grouper ({form}, P {p})")["PEAK"];
    }

    private static void Write(string outDir, List<Row> rows, Options o, int group, int seed, int warmup, int repeats, bool memory, string threads, int vocabulary)
    {
        Directory.CreateDirectory(outDir);
        string staging = Path.Combine(outDir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, true);
        Directory.CreateDirectory(staging);
        try
        {
            var args = new StringBuilder("sharpoptim bench prefix-grouper");
            foreach (var name in new[] { "prefixes", "group", "warmup", "repeats", "seed", "threads", "out" })
                if (o.Has(name)) args.Append(Inv($" --{name} {o.String(name)}"));
            if (o.Has("no-memory")) args.Append(" --no-memory");
            var report = new StringBuilder();
            report.AppendLine("# Prefix Grouper: training-step time and memory vs the repeated-prefix forward");
            report.AppendLine();
            report.AppendLine(Inv($"Command: `{args}`; {threads}; {Environment.ProcessorCount} logical CPUs, machine shared with other jobs (timings are noisy; every ratio below comes from this one run)."));
            report.AppendLine();
            report.AppendLine(Inv($"Model: CharTransformer, {Layers} layers × width {Dim}, {Heads} heads, block size {Sequence}, vocabulary {vocabulary} (the fortunes corpus), float32, CPU. Per row: one prompt of P tokens and G = {group} completions of {Sequence} − P tokens (a {Sequence}-token sequence per completion). Tokens are random (seed {seed}): step time and memory do not depend on their values. One step = zero_grad + forward + on-policy GRPO loss −(1/G) Σ_i A_i (1/|o_i|) Σ_t ℓ_i,t (group-normalised 0/1 rewards) + backward, no optimizer update. Grouped: `PrefixGrouper.Grouped` (one packed row of P + G·L tokens, two attention calls per layer). Repeated: `PrefixGrouper.Repeated` (G rows of P + L tokens, plain causal attention)."));
            report.AppendLine();
            report.AppendLine(Inv($"Time: median of {repeats} steps per form after {warmup} warm-up steps, the forms alternating. ") +
                (memory ? "Peak memory: each form and P in its own child process (`--child grouped|repeated --prefix P`) with glibc's mmap threshold at 4 KiB (freed tensors leave the resident set); after two warm steps the peak resident size is reset (/proc/self/clear_refs) and the peak of one more step over the resident size before it is reported: activations, autograd buffers and temporaries of one step (the gradients already exist)." : "Peak memory: not measured (--no-memory, or not Linux)."));
            report.AppendLine();
            report.AppendLine("FLOP ratios (report, Lemma 2.2; grouped over repeated): attention (P² + G·L(2P+L)) / (G(P+L)²); point-wise layers (embeddings, projections, MLP, head) (P + G·L) / (G(P+L)).");
            report.AppendLine();
            report.AppendLine("| P | L | tokens grouped / repeated | grouped ms | repeated ms | speed-up | peak grouped | peak repeated | memory ratio | attention FLOP ratio | point-wise FLOP ratio | 1 / point-wise ratio | loss difference |");
            report.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in rows)
                report.AppendLine(Inv($"| {r.Prefix} | {r.Completion} | {r.GroupedTokens} / {r.RepeatedTokens} | {r.GroupedMs:F1} | {r.RepeatedMs:F1} | {r.RepeatedMs / r.GroupedMs:F2}× | ") +
                    (memory ? Inv($"{r.GroupedPeakBytes / 1e6:F1} MB | {r.RepeatedPeakBytes / 1e6:F1} MB | {(double)r.RepeatedPeakBytes / Math.Max(1, r.GroupedPeakBytes):F2}× | ") : "– | – | – | ") +
                    Inv($"{r.AttentionFlopRatio:F3} | {r.TokenRatio:F3} | {1 / r.TokenRatio:F2}× | {r.LossDifference:E1} |"));
            report.AppendLine();
            report.AppendLine("The loss difference is between the two forms' losses on the same weights (float32; the forms are equal up to rounding, which tests/SharpOptim.Tests/Policy/PrefixGrouperTests checks to 1e-12 in float64 for the loss and every gradient).");
            report.AppendLine();
            report.AppendLine("![step time](step_time.png)");
            report.AppendLine();
            if (memory) { report.AppendLine("![peak memory](memory.png)"); report.AppendLine(); }
            File.WriteAllText(Path.Combine(staging, "report.md"), report.ToString());

            var csv = new StringBuilder("prefix,completion,group,grouped_ms,repeated_ms,speedup,grouped_peak_bytes,repeated_peak_bytes,attention_flop_ratio,token_ratio,grouped_tokens,repeated_tokens,loss_difference\n");
            foreach (var r in rows)
                csv.AppendLine(Inv($"{r.Prefix},{r.Completion},{group},{r.GroupedMs:R},{r.RepeatedMs:R},{r.RepeatedMs / r.GroupedMs:R},{r.GroupedPeakBytes},{r.RepeatedPeakBytes},{r.AttentionFlopRatio:R},{r.TokenRatio:R},{r.GroupedTokens},{r.RepeatedTokens},{r.LossDifference:R}"));
            File.WriteAllText(Path.Combine(staging, "results.csv"), csv.ToString());
            var json = new
            {
                command = args.ToString(), threads, group, seed, warmup, repeats, sequence = Sequence, layers = Layers, dim = Dim, heads = Heads, vocabulary,
                rows = rows.Select(r => new
                {
                    prefix = r.Prefix, completion = r.Completion, grouped_ms = r.GroupedMs, repeated_ms = r.RepeatedMs, speedup = r.RepeatedMs / r.GroupedMs,
                    grouped_peak_bytes = r.GroupedPeakBytes, repeated_peak_bytes = r.RepeatedPeakBytes, attention_flop_ratio = r.AttentionFlopRatio,
                    token_ratio = r.TokenRatio, grouped_tokens = r.GroupedTokens, repeated_tokens = r.RepeatedTokens, loss_difference = r.LossDifference,
                }).ToArray(),
            };
            File.WriteAllText(Path.Combine(staging, "results.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));

            double[] xs = rows.Select(r => (double)r.Prefix).ToArray();
            var plt = new ScottPlot.Plot();
            var a = plt.Add.Scatter(xs, rows.Select(r => r.RepeatedMs / r.GroupedMs).ToArray());
            a.LegendText = "measured speed-up (repeated / grouped step time)";
            var b = plt.Add.Scatter(xs, rows.Select(r => 1 / r.TokenRatio).ToArray());
            b.LegendText = "point-wise FLOP ratio, repeated / grouped";
            b.LinePattern = ScottPlot.LinePattern.Dashed;
            var c = plt.Add.Scatter(xs, rows.Select(r => 1 / r.AttentionFlopRatio).ToArray());
            c.LegendText = "attention FLOP ratio, repeated / grouped";
            c.LinePattern = ScottPlot.LinePattern.Dotted;
            plt.Title(Inv($"Prefix Grouper, G = {group}, P + L = {Sequence}: speed-up of a training step"));
            plt.XLabel("prompt length P");
            plt.YLabel("repeated / grouped");
            plt.ShowLegend(ScottPlot.Edge.Bottom);
            plt.SavePng(Path.Combine(staging, "step_time.png"), 900, 560);
            if (memory)
            {
                var mp = new ScottPlot.Plot();
                var g = mp.Add.Scatter(xs, rows.Select(r => r.GroupedPeakBytes / 1e6).ToArray());
                g.LegendText = "grouped";
                var rr = mp.Add.Scatter(xs, rows.Select(r => r.RepeatedPeakBytes / 1e6).ToArray());
                rr.LegendText = "repeated prefix";
                mp.Title(Inv($"Peak memory one training step adds (G = {group}, P + L = {Sequence})"));
                mp.XLabel("prompt length P");
                mp.YLabel("MB");
                mp.ShowLegend(ScottPlot.Edge.Bottom);
                mp.SavePng(Path.Combine(staging, "memory.png"), 900, 560);
            }
            foreach (var f in Directory.GetFiles(staging))
                File.Move(f, Path.Combine(outDir, Path.GetFileName(f)), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, true);
        }
    }

    private static double Median(List<double> xs)
    {
        var s = xs.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);
}
