using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Cli.Compare;
using SharpOptim.GradientFree;
using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Adam = SharpOptim.Optimizers.Adam;
using AdamW = SharpOptim.Optimizers.AdamW;
using SGD = SharpOptim.Optimizers.SGD;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim gradient-free [--part digits|cnn|charlm|bench|bias|memory|all] [--out DIR]</c>: the gradient-free
/// family on real data and its cost claims. digits: a 64-32-10 MLP from scratch by OpenAI-ES (−cross-entropy and
/// accuracy as fitness), EGGROLL and CBO next to AdamW with backprop, test accuracy against function evaluations and
/// wall-clock. cnn: the project's SmallCnn on mnist10k from scratch by EGGROLL (conv kernels perturbed at low rank)
/// next to AdamW.
/// charlm: MeZO fine-tuning the character transformer after a short AdamW pre-training (held-out loss). bench:
/// EGGROLL vs naive full-rank ES vs plain batched inference, time per generation and auxiliary memory. bias: the
/// low-rank estimator's bias on the cubic test against σ²(1+2/r). memory: peak resident bytes of one MeZO step vs one
/// backprop + AdamW step on charlm. Writes report.md, results.json and PNG plots through a staging folder.
/// </summary>
public static class GradientFreeCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["part"] = true, ["out"] = true, ["generations"] = true, ["mezo-steps"] = true, ["pretrain-steps"] = true,
        ["populations"] = true, ["mezo-lr"] = true, ["threads"] = true, ["no-progress"] = false, ["child"] = true,
        ["cnn-generations"] = true, ["cache"] = true,
    };

    private sealed record Curve(string Method, List<double> Evaluations, List<double> Seconds, List<double> TestAccuracy, List<double> TestLoss);

    public static int Run(Options o, TextWriter stdout)
    {
        string part = o.String("part", "all");
        if (part == "memory-child") return MemoryChild(o.String("child", "mezo"), stdout);
        if (part == "zo2-child") return Zo2Child(o.String("child", "store") == "store", stdout);
        var parts = part == "all" ? new[] { "digits", "cnn", "charlm", "bench", "bias", "memory", "zo2" } : part.Split(',');
        foreach (var p in parts)
            if (p is not ("digits" or "cnn" or "charlm" or "bench" or "bias" or "memory" or "zo2"))
                throw new UsageException($"gradient-free: unknown part '{p}'; valid: digits, cnn, charlm, bench, bias, memory, zo2, all.");
        string outDir = o.String("out", "gradient-free-results");
        int generations = (int)o.Long("generations", 300, 1, 100_000);
        int cnnGenerations = (int)o.Long("cnn-generations", 150, 1, 100_000);
        string? cache = o.Has("cache") ? o.String("cache") : null;
        int mezoSteps = (int)o.Long("mezo-steps", 400, 1, 1_000_000);
        int pretrain = (int)o.Long("pretrain-steps", 150, 0, 1_000_000);
        double mezoLr = o.Double("mezo-lr", 1e-4, 1e-12, 1);
        var populations = o.String("populations", "64,256,1024,4096").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        bool progress = !o.Has("no-progress");
        using var threads = ThreadsOption.Apply(o, Environment.ProcessorCount);
        stdout.WriteLine(threads.Describe());

        Directory.CreateDirectory(outDir);
        string staging = Path.Combine(outDir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, true);
        Directory.CreateDirectory(staging);
        var report = new StringBuilder();
        var json = new Dictionary<string, object>();
        report.AppendLine("# Gradient-free optimization on real data");
        report.AppendLine();
        report.AppendLine(Inv($"Command: `sharpoptim gradient-free --part {part}{(o.Has("generations") ? Inv($" --generations {generations}") : "")}{(o.Has("cnn-generations") ? Inv($" --cnn-generations {cnnGenerations}") : "")}{(o.Has("mezo-steps") ? Inv($" --mezo-steps {mezoSteps}") : "")}{(o.Has("mezo-lr") ? " --mezo-lr " + o.String("mezo-lr") : "")}{(o.Has("pretrain-steps") ? Inv($" --pretrain-steps {pretrain}") : "")}{(o.Has("populations") ? " --populations " + o.String("populations") : "")}`; {threads.Describe()}; {Environment.ProcessorCount} logical CPUs, machine shared with other jobs (timings are noisy; ratios are from one run)."));
        report.AppendLine();
        try
        {
            foreach (var p in parts)
            {
                switch (p)
                {
                    case "digits": Digits(generations, staging, report, json, stdout, progress); break;
                    case "cnn": Cnn(cnnGenerations, cache, staging, report, json, stdout, progress); break;
                    case "charlm": CharLm(pretrain, mezoSteps, mezoLr, staging, report, json, stdout); break;
                    case "bench": Bench(populations, report, json, stdout); break;
                    case "bias": Bias(report, json, stdout); break;
                    case "memory": Memory(report, json, stdout); break;
                    case "zo2": Zo2Memory(report, json, stdout); break;
                }
            }
            File.WriteAllText(Path.Combine(staging, "report.md"), report.ToString());
            File.WriteAllText(Path.Combine(staging, "results.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
            foreach (var f in Directory.GetFiles(staging))
                File.Move(f, Path.Combine(outDir, Path.GetFileName(f)), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, true);
        }
        stdout.WriteLine($"wrote {outDir}/report.md, results.json and plots");
        return 0;
    }

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);

    // ------------------------------------------------------------------ digits

    private static Tensor PerMemberLoss(Tensor logits, Tensor y, int members)
    {
        using var l = nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.None);
        return l.reshape(members, -1).mean(new long[] { 1 });
    }

    private static Tensor PerMemberAccuracy(Tensor logits, Tensor y, int members)
    {
        using var hit = logits.argmax(1).eq(y).to(ScalarType.Float32);
        return hit.reshape(members, -1).mean(new long[] { 1 });
    }

    private static (double Loss, double Accuracy) Test(nn.Module<Tensor, Tensor> model, ClassificationData data)
    {
        using var _ = no_grad();
        using var logits = model.forward(data.TestX);
        using var loss = nn.functional.cross_entropy(logits, data.TestY);
        using var acc = logits.argmax(1).eq(data.TestY).to(ScalarType.Float64).mean();
        return (TensorValue.Of(loss), TensorValue.Of(acc));
    }

    /// <summary>Logits of an MLP 64-32-10 for every particle at once: particles [n, d] in Mlp.parameters() order.</summary>
    private static Tensor ParticleLogits(Tensor particles, Tensor x, int input, int hidden, int classes)
    {
        using var scope = NewDisposeScope();
        using var s = new ScalarHold();
        long n = particles.shape[0];
        long o = 0;
        Tensor Take(long count, params long[] shape) { var t = particles.narrow(1, o, count).reshape(new[] { n }.Concat(shape).ToArray()); o += count; return t; }
        var w1 = Take(hidden * input, hidden, input);
        var b1 = Take(hidden, 1, hidden);
        var w2 = Take(classes * hidden, classes, hidden);
        var b2 = Take(classes, 1, classes);
        var h = nn.functional.relu(x.unsqueeze(0).expand(n, x.shape[0], input).bmm(w1.transpose(1, 2)).add(b1, s[1]));
        return h.bmm(w2.transpose(1, 2)).add(b2, s[1]).MoveToOuterDisposeScope();   // [n, B, classes]
    }

    private static void Digits(int generations, string staging, StringBuilder report, Dictionary<string, object> json, TextWriter stdout, bool progress)
    {
        using var data = Tasks.Data.Digits.Load();
        const int input = 64, hidden = 32, classes = 10, batch = 256, population = 200;
        int evalEvery = Math.Max(1, generations / 30);
        var curves = new List<Curve>();
        var rows = new List<(string Method, string Setting, double Acc, double Loss, double Evals, double Seconds)>();
        var sampler = new Random(7);
        Tensor NextBatchIndex(Random rng) => tensor(Enumerable.Range(0, batch).Select(_ => (long)rng.Next((int)data.TrainX.shape[0])).ToArray());

        void Record(Curve c, nn.Module<Tensor, Tensor> model, double evals, double seconds)
        {
            var (l, a) = Test(model, data);
            c.Evaluations.Add(evals); c.Seconds.Add(seconds); c.TestAccuracy.Add(a); c.TestLoss.Add(l);
        }

        void RunMethod(string method, string setting, Func<Mlp, Func<Tensor, Tensor, double>> makeStep, double evalsPerStep, int steps)
        {
            manual_seed(1);
            var model = new Mlp(input, hidden, classes);
            var curve = new Curve(method, new(), new(), new(), new());
            var step = makeStep(model);
            var rng = new Random(11);
            var sw = new Stopwatch();
            Record(curve, model, 0, 0);
            for (int g = 1; g <= steps; g++)
            {
                using var scope = NewDisposeScope();
                using var idx = NextBatchIndex(rng);
                var x = data.TrainX.index_select(0, idx);
                var y = data.TrainY.index_select(0, idx);
                sw.Start();
                step(x, y);
                sw.Stop();
                if (g % evalEvery == 0 || g == steps)
                {
                    Record(curve, model, g * evalsPerStep, sw.Elapsed.TotalSeconds);
                    if (progress) stdout.Write(Inv($"\r{method,-28} step {g,5}/{steps}  test accuracy {100 * curve.TestAccuracy[^1],5:F1}%   "));
                }
            }
            if (progress) stdout.WriteLine();
            stdout.WriteLine(Inv($"{method}: test accuracy {100 * curve.TestAccuracy[^1]:F1}%, test loss {curve.TestLoss[^1]:F3}, {curve.Evaluations[^1]:N0} member evaluations, {sw.Elapsed.TotalSeconds:F1} s"));
            curves.Add(curve);
            rows.Add((method, setting, curve.TestAccuracy[^1], curve.TestLoss[^1], curve.Evaluations[^1], sw.Elapsed.TotalSeconds));
        }

        RunMethod("AdamW (backprop)", "lr 1e-2, batch 256", model =>
        {
            var opt = new AdamW(model.parameters(), lr: 1e-2);
            return (x, y) =>
            {
                opt.zero_grad();
                using var loss = nn.functional.cross_entropy(model.forward(x), y);
                loss.backward();
                opt.step();
                return TensorValue.Of(loss);
            };
        }, 1, generations);

        RunMethod("OpenAI-ES (-CE fitness)", "N 200 mirrored, sigma 0.05, centered ranks, Adam lr 0.02, l2 0.005", model =>
        {
            var named = model.named_parameters().ToArray();
            var es = new OpenAIES(named, new Adam(named, lr: 0.02), population, 0.05, l2: 0.005, seed: 3);
            return (x, y) =>
            {
                using var xr = x.repeat(population, 1);
                using var yr = y.repeat(population);
                var f = es.EvaluateBatched(model, () => PerMemberLoss(model.forward(xr), yr, population).neg());
                es.Tell(f);
                return 0;
            };
        }, population, generations);

        RunMethod("OpenAI-ES (accuracy fitness)", "as above, fitness = batch accuracy (non-differentiable)", model =>
        {
            var named = model.named_parameters().ToArray();
            var es = new OpenAIES(named, new Adam(named, lr: 0.02), population, 0.05, l2: 0.005, seed: 3);
            return (x, y) =>
            {
                using var xr = x.repeat(population, 1);
                using var yr = y.repeat(population);
                var f = es.EvaluateBatched(model, () => PerMemberAccuracy(model.forward(xr), yr, population));
                es.Tell(f);
                return 0;
            };
        }, population, generations);

        RunMethod("EGGROLL r=1 (-CE fitness)", "N 200, sigma 0.05, rank 1, z-score, Adam lr 0.01", model =>
        {
            var es = new Eggroll(model, new Adam(model.parameters(), lr: 0.01), population, 0.05, rank: 1, seed: 3);
            return (x, y) =>
            {
                using var xr = x.repeat(population, 1);
                using var yr = y.repeat(population);
                es.Step(() => PerMemberLoss(model.forward(xr), yr, population).neg());
                return 0;
            };
        }, population, generations);

        // CBO: the authors' ML settings (N 100, particle batch 10, dt 0.1, lambda 1, sigma sqrt(0.4), alpha 50,
        // anisotropic, cooling per epoch); data batch 256 as the other methods.
        RunMethod("CBO (authors' ML settings)", "N 100, particle batch 10, dt 0.1, lambda 1, sigma sqrt 0.4, alpha 50, anisotropic, cooling", model =>
        {
            long d = model.parameters().Sum(p => p.numel());
            var cbo = new ConsensusBasedOptimization((int)d, particles: 100, particleBatch: 10, seed: 5);
            int stepsPerEpoch = (int)Math.Ceiling(data.TrainX.shape[0] / (double)batch);
            int k = 0;
            return (x, y) =>
            {
                cbo.Step(p =>
                {
                    using var logits = ParticleLogits(p, x, input, hidden, classes);
                    using var flat = logits.reshape(-1, classes);
                    using var yr = y.repeat(p.shape[0]);
                    return PerMemberLoss(flat, yr, (int)p.shape[0]);
                });
                ConsensusBasedOptimization.WriteTo(cbo.Consensus, model.parameters());
                if (++k % stepsPerEpoch == 0) cbo.EndEpoch();
                return 0;
            };
        }, 100, generations);

        Plot(curves, c => c.Evaluations, "member evaluations of one 256-sample batch (log scale)", Path.Combine(staging, "digits_accuracy_vs_evaluations.png"), logX: true);
        Plot(curves, c => c.Seconds, "training seconds", Path.Combine(staging, "digits_accuracy_vs_seconds.png"), logX: false);

        report.AppendLine("## digits: a 64-32-10 MLP trained from scratch");
        report.AppendLine();
        report.AppendLine(Inv($"scikit-learn digits (1,437 train / 360 test images), {generations} steps (generations) for every method, one seed, a fresh batch of 256 training images per step shared by all members; test accuracy of the current parameters (for CBO: the last consensus point). A member evaluation is one forward of the 256-sample batch; AdamW also runs a backward per step."));
        report.AppendLine();
        report.AppendLine("| method | setting | test accuracy | test loss | member evaluations | training seconds |");
        report.AppendLine("|---|---|---|---|---|---|");
        foreach (var r in rows) report.AppendLine(Inv($"| {r.Method} | {r.Setting} | {100 * r.Acc:F1}% | {r.Loss:F3} | {r.Evals:N0} | {r.Seconds:F1} |"));
        report.AppendLine();
        report.AppendLine("![accuracy vs evaluations](digits_accuracy_vs_evaluations.png)");
        report.AppendLine("![accuracy vs seconds](digits_accuracy_vs_seconds.png)");
        report.AppendLine();
        json["digits"] = curves.Select(c => new { method = c.Method, evaluations = c.Evaluations, seconds = c.Seconds, test_accuracy = c.TestAccuracy, test_loss = c.TestLoss }).ToList();
    }

    // ------------------------------------------------------------------ cnn

    /// <summary>The project's SmallCnn (two 5x5 convolutions, 46.7k parameters) on mnist10k trained from scratch by
    /// EGGROLL (every conv kernel and Linear weight perturbed at rank 1, biases full rank) next to AdamW.</summary>
    private static void Cnn(int generations, string? cache, string staging, StringBuilder report, Dictionary<string, object> json, TextWriter stdout, bool progress)
    {
        using var data = Mnist10k.Load(cache);
        const int batch = 32, population = 32, classes = 10;
        const double sigma = 0.02, eggLr = 0.01;
        int evalEvery = Math.Max(1, generations / 15);
        var curves = new List<Curve>();
        var rows = new List<(string Method, string Setting, double Acc, double Loss, double Evals, double Seconds)>();
        long parameterCount = 0;

        void RunMethod(string method, string setting, Func<SmallCnn, Action<Tensor, Tensor>> makeStep, double evalsPerStep)
        {
            manual_seed(1);
            var model = new SmallCnn(classes);
            parameterCount = model.parameters().Sum(p => p.numel());
            var curve = new Curve(method, new(), new(), new(), new());
            var step = makeStep(model);
            var rng = new Random(11);
            var sw = new Stopwatch();
            void Record(double evals)
            {
                var (l, a) = Test(model, data);
                curve.Evaluations.Add(evals); curve.Seconds.Add(sw.Elapsed.TotalSeconds); curve.TestAccuracy.Add(a); curve.TestLoss.Add(l);
            }
            Record(0);
            for (int g = 1; g <= generations; g++)
            {
                using var scope = NewDisposeScope();
                using var idx = tensor(Enumerable.Range(0, batch).Select(_ => (long)rng.Next((int)data.TrainX.shape[0])).ToArray());
                var x = data.TrainX.index_select(0, idx);
                var y = data.TrainY.index_select(0, idx);
                sw.Start();
                step(x, y);
                sw.Stop();
                if (g % evalEvery == 0 || g == generations)
                {
                    Record(g * evalsPerStep);
                    if (progress) stdout.Write(Inv($"\r{method,-28} step {g,5}/{generations}  test accuracy {100 * curve.TestAccuracy[^1],5:F1}%   "));
                }
            }
            if (progress) stdout.WriteLine();
            stdout.WriteLine(Inv($"{method}: test accuracy {100 * curve.TestAccuracy[^1]:F1}%, test loss {curve.TestLoss[^1]:F3}, {curve.Evaluations[^1]:N0} member evaluations, {sw.Elapsed.TotalSeconds:F1} s"));
            curves.Add(curve);
            rows.Add((method, setting, curve.TestAccuracy[^1], curve.TestLoss[^1], curve.Evaluations[^1], sw.Elapsed.TotalSeconds));
        }

        RunMethod("AdamW (backprop)", Inv($"lr 1e-3, batch {batch}"), model =>
        {
            var opt = new AdamW(model.parameters(), lr: 1e-3);
            return (x, y) =>
            {
                opt.zero_grad();
                using var loss = nn.functional.cross_entropy(model.forward(x), y);
                loss.backward();
                opt.step();
            };
        }, 1);

        RunMethod("EGGROLL r=1 (-CE fitness)", Inv($"N {population}, sigma {sigma}, rank 1 on conv kernels and Linear weights, z-score, Adam lr {eggLr}"), model =>
        {
            var es = new Eggroll(model, new Adam(model.parameters(), lr: eggLr), population, sigma, rank: 1, seed: 3);
            return (x, y) =>
            {
                using var xr = x.repeat(population, 1);
                using var yr = y.repeat(population);
                es.Step(() => PerMemberLoss(model.forward(xr), yr, population).neg());
            };
        }, population);

        Plot(curves, c => c.Evaluations, Inv($"member evaluations of one {batch}-sample batch (log scale)"), Path.Combine(staging, "cnn_accuracy_vs_evaluations.png"), logX: true, "mnist10k SmallCnn: test accuracy");
        Plot(curves, c => c.Seconds, "training seconds", Path.Combine(staging, "cnn_accuracy_vs_seconds.png"), logX: false, "mnist10k SmallCnn: test accuracy");
        report.AppendLine("## mnist10k: the SmallCnn trained from scratch by EGGROLL");
        report.AppendLine();
        report.AppendLine(Inv($"The project's SmallCnn (conv 1→16 5x5, pool, conv 16→32 5x5, pool, 512→64→10; {parameterCount:N0} parameters) on mnist10k ({data.TrainX.shape[0]:N0} train / {data.TestX.shape[0]:N0} test images, 28x28), {generations} steps for each method, one seed, a fresh batch of {batch} training images per step shared by all members. EGGROLL perturbs both conv kernels as [out, in·5·5] matrices at rank 1 through the grouped-convolution form (no member's kernel is materialised), the two Linear weights at rank 1 and the biases with full Gaussian noise; the whole population runs as one forward of {population}·{batch} images. A member evaluation is one forward of the {batch}-image batch; AdamW also runs a backward per step."));
        report.AppendLine();
        report.AppendLine("| method | setting | test accuracy | test loss | member evaluations | training seconds |");
        report.AppendLine("|---|---|---|---|---|---|");
        foreach (var r in rows) report.AppendLine(Inv($"| {r.Method} | {r.Setting} | {100 * r.Acc:F1}% | {r.Loss:F3} | {r.Evals:N0} | {r.Seconds:F1} |"));
        report.AppendLine();
        report.AppendLine("![accuracy vs evaluations](cnn_accuracy_vs_evaluations.png)");
        report.AppendLine("![accuracy vs seconds](cnn_accuracy_vs_seconds.png)");
        report.AppendLine();
        json["cnn"] = curves.Select(c => new { method = c.Method, evaluations = c.Evaluations, seconds = c.Seconds, test_accuracy = c.TestAccuracy, test_loss = c.TestLoss }).ToList();
    }

    private static void Plot(List<Curve> curves, Func<Curve, List<double>> x, string xLabel, string path, bool logX, string title = "digits MLP 64-32-10: test accuracy")
    {
        var plt = new ScottPlot.Plot();
        var colors = PlotStyle.Colors(curves.Count);
        for (int k = 0; k < curves.Count; k++)
        {
            var xs = x(curves[k]).Select(v => logX ? Math.Log10(Math.Max(v, 1)) : v).ToArray();
            var line = plt.Add.Scatter(xs, curves[k].TestAccuracy.Select(a => 100 * a).ToArray());
            line.Color = colors[k];
            line.LineWidth = 2;
            line.MarkerSize = 3;
            line.LegendText = curves[k].Method;
        }
        plt.Title(title);
        plt.XLabel(logX ? "log10 " + xLabel.Replace(" (log scale)", "") : xLabel);
        plt.YLabel("test accuracy (%)");
        plt.Axes.SetLimitsY(0, 100);
        plt.ShowLegend(ScottPlot.Alignment.LowerRight);
        plt.SavePng(path, 900, 520);
    }

    // ------------------------------------------------------------------ charlm

    private static (Tensor X, Tensor Y) CharBatch(long[] train, Random rng, int b, int t)
    {
        var x = new long[b * t];
        var y = new long[b * t];
        for (int i = 0; i < b; i++)
        {
            int start = rng.Next(train.Length - t - 1);
            Array.Copy(train, start, x, i * t, t);
            Array.Copy(train, start + 1, y, i * t, t);
        }
        return (tensor(x).view(b, t), tensor(y));
    }

    private static void CharLm(int pretrain, int mezoSteps, double mezoLr, string staging, StringBuilder report, Dictionary<string, object> json, TextWriter stdout)
    {
        var task = new CharLmTask();
        manual_seed(1);
        using var run = task.Start(1);
        var model = (CharTransformer)run.Model;
        var train = task.Corpus.Train;
        var rng = new Random(3);
        var adam = new AdamW(model.parameters(), lr: 3e-3);
        var sw = Stopwatch.StartNew();
        for (int s = 0; s < pretrain; s++)
        {
            using var scope = NewDisposeScope();
            var (x, y) = CharBatch(train, rng, task.BatchSize, task.BlockSize);
            adam.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(x).view(-1, model.Vocabulary), y);
            loss.backward();
            adam.step();
        }
        double pretrainSeconds = sw.Elapsed.TotalSeconds;
        var start = run.Evaluate();
        stdout.WriteLine(Inv($"charlm: AdamW pre-training {pretrain} steps ({pretrainSeconds:F0} s): held-out loss {start.Loss:F4}"));
        adam.Dispose();
        foreach (var p in model.parameters()) p.grad = null;

        var mezo = new MeZO(model.named_parameters(), lr: mezoLr, epsilon: 1e-3, seed: 9, model: model);
        var steps = new List<double> { 0 };
        var heldOut = new List<double> { start.Loss };
        var trainLoss = new List<double>();
        int evalEvery = Math.Max(1, mezoSteps / 8);
        sw.Restart();
        for (int s = 1; s <= mezoSteps; s++)
        {
            using var scope = NewDisposeScope();
            var (x, y) = CharBatch(train, rng, task.BatchSize, task.BlockSize);
            var l = mezo.step(() => nn.functional.cross_entropy(model.forward(x).view(-1, model.Vocabulary), y));
            trainLoss.Add(TensorValue.Of(l));
            if (s % evalEvery == 0 || s == mezoSteps)
            {
                steps.Add(s);
                heldOut.Add(run.Evaluate().Loss);
                stdout.WriteLine(Inv($"charlm MeZO step {s}: held-out loss {heldOut[^1]:F4}"));
            }
        }
        double mezoSeconds = sw.Elapsed.TotalSeconds;
        var plt = new ScottPlot.Plot();
        var line = plt.Add.Scatter(steps.ToArray(), heldOut.ToArray());
        line.LineWidth = 2;
        line.LegendText = Inv($"MeZO (lr {mezoLr:G3}, eps 1e-3)");
        plt.Title(Inv($"charlm: MeZO fine-tuning after {pretrain} AdamW steps"));
        plt.XLabel("MeZO step");
        plt.YLabel("held-out loss (nats/char)");
        plt.SavePng(Path.Combine(staging, "charlm_mezo_heldout.png"), 900, 520);
        report.AppendLine("## charlm: MeZO fine-tuning the character transformer");
        report.AppendLine();
        report.AppendLine(Inv($"CharTransformer (4 layers, width 128, 4 heads, context 64; {model.parameters().Sum(p => p.numel()):N0} parameters) on Debian fortunes. AdamW (lr 3e-3) pre-training for {pretrain} steps of 32 windows, then {mezoSteps} MeZO steps (lr {mezoLr:G3}, ε 1e-3, one direction, no weight decay, same batch size). Held-out loss: {start.Loss:F4} after pre-training → {heldOut[^1]:F4} after MeZO ({(heldOut[^1] < start.Loss ? "falls" : "does not fall")}, by {start.Loss - heldOut[^1]:F4}); MeZO took {mezoSeconds:F0} s ({1000 * mezoSeconds / mezoSteps:F0} ms per step of two forwards)."));
        report.AppendLine();
        report.AppendLine("| MeZO step | held-out loss |");
        report.AppendLine("|---|---|");
        for (int i = 0; i < steps.Count; i++) report.AppendLine(Inv($"| {steps[i]:F0} | {heldOut[i]:F4} |"));
        report.AppendLine();
        report.AppendLine("![MeZO held-out loss](charlm_mezo_heldout.png)");
        report.AppendLine();
        json["charlm_mezo"] = new { pretrain_steps = pretrain, mezo_steps = mezoSteps, steps, held_out_loss = heldOut, train_loss_plus = trainLoss, pretrain_seconds = pretrainSeconds, mezo_seconds = mezoSeconds };
    }

    // ------------------------------------------------------------------ bench


    private static void Bench(int[] populations, StringBuilder report, Dictionary<string, object> json, TextWriter stdout)
    {
        const int batch = 32, input = 64, width = 256, classes = 10, repeats = 5;
        manual_seed(4);
        var model = new Mlp(input, width, width, classes);
        var rows = new List<object>();
        report.AppendLine("## Throughput: EGGROLL vs full-rank ES vs plain batched inference");
        report.AppendLine();
        report.AppendLine(Inv($"MLP {input}-{width}-{width}-{classes}, {batch} samples per member, population N; one generation's forward (no update), best of {repeats} interleaved repeats (the machine is shared; the minimum is the least disturbed run). Plain = the unperturbed model on the same N·{batch} rows; EGGROLL = the hooked forward with rank-1 terms on every Linear (+ vector noise); full-rank = the same hooks with every member's m×n perturbation materialised ([N, m, n] per layer, `OpenAIES.EvaluateBatched`). Auxiliary bytes: the perturbation tensors one generation allocates (float32), EGGROLL's factors r(m+n) per matrix per pair vs mn."));
        report.AppendLine();
        report.AppendLine("| N | plain ms | EGGROLL ms | full-rank ms | EGGROLL members/s | EGGROLL / plain throughput | full-rank / EGGROLL time | EGGROLL aux bytes | full-rank aux bytes |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (int n in populations)
        {
            using var x = randn(n * batch, input);
            var egg = new Eggroll(model, new SGD(model.parameters(), 0.0), n, 0.01, rank: 1, seed: 1);
            var (aux, fullAux) = egg.AuxiliaryBytes();
            var named = model.named_parameters().ToArray();
            bool full = (long)n * width * width * 4 <= 1L << 29;   // at most 512 MiB per materialised layer
            var es = full ? new OpenAIES(named, new SGD(named, 0.0), n, 0.01, seed: 1) : null;
            Action plainRun = () => { using var _ = no_grad(); using var scope = NewDisposeScope(); model.forward(x); };
            Action eggRun = () => { using var f = egg.Evaluate(() => { using var o = model.forward(x); return zeros(n); }); };
            Action fullRun = () => { using var f = es!.EvaluateBatched(model, () => { using var o = model.forward(x); return zeros(n); }); };
            // Interleaved repeats, best of each: the machine is shared, so the three see the same background load and
            // the minimum is the least disturbed run.
            plainRun(); eggRun(); if (full) fullRun();
            double plain = double.MaxValue, eggMs = double.MaxValue, fullMs = full ? double.MaxValue : double.NaN;
            for (int r = 0; r < repeats; r++)
            {
                var sw = Stopwatch.StartNew(); plainRun(); plain = Math.Min(plain, sw.Elapsed.TotalMilliseconds);
                sw.Restart(); eggRun(); eggMs = Math.Min(eggMs, sw.Elapsed.TotalMilliseconds);
                if (full) { sw.Restart(); fullRun(); fullMs = Math.Min(fullMs, sw.Elapsed.TotalMilliseconds); }
            }
            double ratio = plain / eggMs;
            stdout.WriteLine(Inv($"bench N={n}: plain {plain:F1} ms, EGGROLL {eggMs:F1} ms ({ratio:F2} of plain throughput), full-rank {fullMs:F1} ms"));
            report.AppendLine(Inv($"| {n} | {plain:F1} | {eggMs:F1} | {(double.IsNaN(fullMs) ? "skipped (> 512 MiB per layer)" : fullMs.ToString("F1", CultureInfo.InvariantCulture))} | {1000 * n / eggMs:N0} | {ratio:F2} | {(double.IsNaN(fullMs) ? "–" : (fullMs / eggMs).ToString("F1", CultureInfo.InvariantCulture))} | {aux:N0} | {fullAux:N0} |"));
            rows.Add(new { population = n, plain_ms = plain, eggroll_ms = eggMs, full_rank_ms = double.IsNaN(fullMs) ? (double?)null : fullMs, eggroll_over_plain_throughput = ratio, eggroll_aux_bytes = aux, full_rank_aux_bytes = fullAux });
            GC.Collect();
        }
        report.AppendLine();
        json["bench"] = rows;
    }

    // ------------------------------------------------------------------ bias vs rank

    private static void Bias(StringBuilder report, Dictionary<string, object> json, TextWriter stdout)
    {
        const int m = 16, pairs = 1 << 15, chunk = 4096;
        const double sigma = 0.5;
        var noise = new CounterNoise(123);
        var rows = new List<object>();
        report.AppendLine("## The O(1/r) bias of low-rank perturbations (cubic test)");
        report.AppendLine();
        report.AppendLine(Inv($"F(W) = Σ W³/3 at W = 0 (16×16), raw fitness, {pairs:N0} antithetic pairs, σ = {sigma}; textbook ES estimate ĝ = (1/(2Kσ)) Σ_k (F(σE_k) − F(−σE_k)) E_k. Its expectation is σ²E[e⁴]/3 per entry with E[e⁴] = 3 + 6/r for E = AB^T/√r, i.e. σ²(1 + 2/r); full-rank Gaussian noise gives σ². ± is the Monte-Carlo standard error of the mean over entries and pairs."));
        report.AppendLine();
        report.AppendLine("| perturbation | measured mean of ĝ | ± | theory σ²(1+2/r) |");
        report.AppendLine("|---|---|---|---|");
        foreach (int r in new[] { 1, 2, 4, 8, 0 })
        {
            double sum = 0, sumSq = 0;
            long count = 0;
            for (int c0 = 0; c0 < pairs; c0 += chunk)
            {
                using var scope = NewDisposeScope();
                using var s = new ScalarHold();
                Tensor e;
                if (r == 0) e = NoiseTensors.Stack(noise, new long[] { m, m }, 0, 99, c0, chunk, ScalarType.Float64, CPU);
                else
                {
                    var g = NoiseTensors.Stack(noise, new long[] { 2 * m, r }, r, 0, c0, chunk, ScalarType.Float64, CPU);
                    e = g.narrow(1, m, m).bmm(g.narrow(1, 0, m).transpose(1, 2)).mul(s[1 / Math.Sqrt(r)]);
                }
                var se = e.mul(s[sigma]);
                var cube = se.mul(se).mul(se).sum(new long[] { 1, 2 }).mul(s[2.0 / 3.0]);   // F(σE) − F(−σE)
                var ghat = e.mul(cube.reshape(chunk, 1, 1)).mul(s[1 / (2 * sigma)]);           // per-pair contribution
                var perPair = ghat.mean(new long[] { 1, 2 });
                sum += TensorValue.Of(perPair.sum());
                sumSq += TensorValue.Of(perPair.mul(perPair).sum());
                count += chunk;
            }
            double mean = sum / count, se2 = Math.Sqrt((sumSq / count - mean * mean) / count);
            double theory = r == 0 ? sigma * sigma : sigma * sigma * (1 + 2.0 / r);
            string label = r == 0 ? "full-rank Gaussian (OpenAI-ES)" : Inv($"EGGROLL r = {r}");
            stdout.WriteLine(Inv($"bias {label}: {mean:F4} ± {se2:F4} (theory {theory:F4})"));
            report.AppendLine(Inv($"| {label} | {mean:F4} | {se2:F4} | {theory:F4} |"));
            rows.Add(new { rank = r, measured = mean, standard_error = se2, theory });
        }
        report.AppendLine();
        json["bias_vs_rank"] = rows;
    }

    // ------------------------------------------------------------------ memory

    private static long ProcStatus(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key + ":", StringComparison.Ordinal))
                return long.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        return -1;
    }

    private static long PeakIncrease(Action step)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        File.WriteAllText("/proc/self/clear_refs", "5");   // resets VmHWM to the current RSS (Linux >= 4.0)
        long before = ProcStatus("VmRSS");
        step();
        return ProcStatus("VmHWM") - before;
    }

    /// <summary>The child side of the memory measurement (<c>--part memory-child --child mezo|adamw</c>): builds
    /// the charlm model and a batch, runs one plain forward without autograd (so code paths, thread pools and the
    /// allocator are warm), resets the peak, runs two steps of the method and prints the peak increase.</summary>
    private static int MemoryChild(string kind, TextWriter stdout)
    {
        var task = new CharLmTask();
        manual_seed(1);
        using var run = task.Start(1);
        var model = (CharTransformer)run.Model;
        var (x, y) = CharBatch(task.Corpus.Train, new Random(5), task.BatchSize, task.BlockSize);
        Tensor Loss() => nn.functional.cross_entropy(model.forward(x).view(-1, model.Vocabulary), y);
        using (no_grad()) using (var warm = NewDisposeScope()) Loss();
        long stateBytes;
        Action step;
        if (kind == "forward")
        {
            // One inference forward without autograd, its tensors freed when its dispose scope ends (as MeZO's
            // closure evaluation does): the reference for MeZO's per-step working memory.
            step = () => { using (no_grad()) using (var scope = NewDisposeScope()) Loss(); };
            stateBytes = 0;
        }
        else if (kind == "mezo")
        {
            var mezo = new MeZO(model.named_parameters(), lr: 1e-6, seed: 1);
            step = () => { using (mezo.step(Loss)) { } };
            stateBytes = mezo.StateBytes;
        }
        else
        {
            var adam = new AdamW(model.parameters(), lr: 1e-4);
            step = () =>
            {
                adam.zero_grad();
                using (var scope = NewDisposeScope()) Loss().backward();   // activations freed after backward
                adam.step();
            };
            stateBytes = -1;
            step += () => stateBytes = adam.StateBytes;
        }
        long r0 = ProcStatus("VmRSS");
        long first = PeakIncrease(step);                  // the first step: state, gradients, one-time runtime costs
        long grown = ProcStatus("VmRSS") - r0;            // what stays resident after it
        long steady = PeakIncrease(() => { step(); step(); });   // two more steps, over the resident size after the first
        long peak = first;
        stdout.WriteLine(Inv($"PEAK {peak} {stateBytes} {model.parameters().Sum(p => p.numel() * 4)} {grown} {steady}"));
        return 0;
    }

    private static void Memory(StringBuilder report, Dictionary<string, object> json, TextWriter stdout)
    {
        report.AppendLine("## Memory: MeZO steps vs one inference forward vs backprop + AdamW steps on charlm");
        report.AppendLine();
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/status"))
        {
            report.AppendLine("Not measured: needs Linux's /proc/self/status and clear_refs.");
            return;
        }
        var result = new Dictionary<string, (long Peak, long State, long Params, long Grown, long Steady)>();
        // Each child twice: with glibc's default allocator settings, and with its mmap threshold fixed at 128 KiB
        // (MALLOC_MMAP_THRESHOLD_), under which every freed block of 128 KiB or more goes back to the system at once,
        // so the resident size follows the memory actually in use instead of what the heap keeps for reuse.
        var fixedThreshold = new Dictionary<string, string?> { ["MALLOC_MMAP_THRESHOLD_"] = "131072" };
        foreach (var kind in new[] { "forward", "mezo", "adamw", "forward-fixed", "mezo-fixed", "adamw-fixed" })
        {
            bool isFixed = kind.EndsWith("-fixed", StringComparison.Ordinal);
            using var p = Process.Start(CliProcess.StartInfo(new[] { "gradient-free", "--part", "memory-child", "--child", isFixed ? kind[..^6] : kind }, isFixed ? fixedThreshold : null))!;
            string output = p.StandardOutput.ReadToEnd();
            string errors = p.StandardError.ReadToEnd();
            p.WaitForExit();
            var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("PEAK ", StringComparison.Ordinal))
                ?? throw new InvalidOperationException($"memory child '{kind}' printed no measurement: {output} {errors}");
            var f = line.Split(' ');
            result[kind] = (long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture), long.Parse(f[3], CultureInfo.InvariantCulture), long.Parse(f[4], CultureInfo.InvariantCulture), long.Parse(f[5], CultureInfo.InvariantCulture));
        }
        var (mezoPeak, mezoState, paramBytes, mezoGrown, mezoSteady) = result["mezo"];
        var (adamPeak, adamState, _, adamGrown, adamSteady) = result["adamw"];
        var (fwdPeak, _, _, fwdGrown, fwdSteady) = result["forward"];
        stdout.WriteLine(Inv($"memory: first step peak MeZO +{mezoPeak / 1e6:F1} MB vs AdamW +{adamPeak / 1e6:F1} MB; steady steps MeZO +{mezoSteady / 1e6:F1} MB vs AdamW +{adamSteady / 1e6:F1} MB; resident growth MeZO {mezoGrown / 1e6:F1} MB vs AdamW {adamGrown / 1e6:F1} MB"));
        report.AppendLine(Inv($"Each method in its own process (`--part memory-child --child forward|mezo|adamw`): the charlm model (parameters {paramBytes / 1e6:F2} MB, float32) and one batch of 32 × 64 characters are built and one forward without autograd runs. Then, with the peak resident size reset before each measurement (Linux /proc/self/clear_refs, then VmHWM): the first step's peak over the resident size before it; what stays resident after that step; and the peak of two further steps over the resident size before them. The first step includes one-time costs of the process (code compiled on first use, thread-pool threads, the managed heap growing to its first collection), which both methods pay; the steady figure is the per-step working memory."));
        report.AppendLine();
        report.AppendLine("| method | first-step peak | resident growth after the first step | steady-state peak (two more steps) | optimizer state |");
        report.AppendLine("|---|---|---|---|---|");
        report.AppendLine(Inv($"| one inference forward (no autograd, reference) | {fwdPeak / 1e6:F1} MB | {fwdGrown / 1e6:F1} MB | {fwdSteady / 1e6:F1} MB | – |"));
        report.AppendLine(Inv($"| MeZO (ε 1e-3, one direction) | {mezoPeak / 1e6:F1} MB | {mezoGrown / 1e6:F1} MB | {mezoSteady / 1e6:F1} MB | {mezoState} bytes |"));
        report.AppendLine(Inv($"| backprop + AdamW | {adamPeak / 1e6:F1} MB | {adamGrown / 1e6:F1} MB | {adamSteady / 1e6:F1} MB | {adamState / 1e6:F2} MB |"));
        report.AppendLine();
        report.AppendLine(Inv($"Steady-state ratio AdamW / MeZO: {(double)adamSteady / Math.Max(1, mezoSteady):F1}×; first-step ratio {(double)adamPeak / Math.Max(1, mezoPeak):F1}×. Backprop keeps every activation for the backward pass and adds gradients and two moments; MeZO holds one forward's activations without autograd and one direction tensor at a time. The paper's up-to-12× is for billion-parameter models, where parameter-sized terms dominate; this model's are 3.3 MB each."));
        report.AppendLine();
        report.AppendLine("The same three processes with glibc's mmap threshold fixed at 128 KiB (`MALLOC_MMAP_THRESHOLD_=131072`: freed blocks of 128 KiB or more are returned to the system at once instead of being kept in the heap, and the threshold no longer grows after the first frees):");
        report.AppendLine();
        report.AppendLine("| method (fixed mmap threshold) | first-step peak | resident growth after the first step | steady-state peak (two more steps) |");
        report.AppendLine("|---|---|---|---|");
        foreach (var (kind, label) in new[] { ("forward-fixed", "one inference forward"), ("mezo-fixed", "MeZO"), ("adamw-fixed", "backprop + AdamW") })
        {
            var f = result[kind];
            report.AppendLine(Inv($"| {label} | {f.Peak / 1e6:F1} MB | {f.Grown / 1e6:F1} MB | {f.Steady / 1e6:F1} MB |"));
        }
        report.AppendLine();
        report.AppendLine(Inv($"MeZO's step against one inference forward: first-step peak {mezoPeak / 1e6:F1} vs {fwdPeak / 1e6:F1} MB, steady {mezoSteady / 1e6:F1} vs {fwdSteady / 1e6:F1} MB. The forward here frees its tensors when its dispose scope ends (TorchSharp frees on dispose, not on the last reference as PyTorch does), so all of one forward's intermediate activations are alive at its end; a MeZO step runs two such forwards one after the other (the first one's tensors are freed before the second starts) plus one direction tensor the size of the largest parameter at a time."));
        report.AppendLine();
        json["memory_fixed_mmap_threshold"] = new[] { "forward-fixed", "mezo-fixed", "adamw-fixed" }.ToDictionary(k => k, k => new { first_step_peak_bytes = result[k].Peak, resident_growth_bytes = result[k].Grown, steady_peak_bytes = result[k].Steady });
        json["memory"] = new { forward_first_step_peak_bytes = fwdPeak, forward_steady_peak_bytes = fwdSteady, mezo_first_step_peak_bytes = mezoPeak, adamw_first_step_peak_bytes = adamPeak, mezo_resident_growth_bytes = mezoGrown, adamw_resident_growth_bytes = adamGrown, mezo_steady_peak_bytes = mezoSteady, adamw_steady_peak_bytes = adamSteady, parameter_bytes = paramBytes, mezo_state_bytes = mezoState, adamw_state_bytes = adamState };
    }

    // ------------------------------------------------------------------ ZO2 compact store

    private const int Zo2Width = 1024, Zo2Hidden = 8, Zo2Input = 256, Zo2Classes = 10, Zo2Steps = 3;

    /// <summary>The child side of the ZO2 store measurement (<c>--part zo2-child --child resident|store</c>): an MLP
    /// 256-1024×8-10 (one stage per Linear), MeZO through the ZO2 schedule with or without the compact store; one
    /// warm step, then the peak resident size of three more steps over the resident size before the model was
    /// built, the resident size after them, the store's tracked peak of resident parameter bytes, and a hash of the
    /// final parameters (equal in both modes: the store is lossless).</summary>
    private static int Zo2Child(bool store, TextWriter stdout)
    {
        GC.Collect();
        long r0 = ProcStatus("VmRSS");
        manual_seed(1);
        var widths = new[] { Zo2Input }.Concat(Enumerable.Repeat(Zo2Width, Zo2Hidden)).Append(Zo2Classes).ToArray();
        var model = new Mlp(widths);
        var x = randn(16, Zo2Input);
        var y = randint(0, Zo2Classes, new long[] { 16 });
        var mezo = new MeZO(model.named_parameters(), lr: 1e-4, epsilon: 1e-3, seed: 1);
        var layers = model.named_children().Select(c => (Linear)c.module).ToArray();
        var stages = layers.Select((l, i) => new ZO2Stage(i.ToString(CultureInfo.InvariantCulture),
            t => i + 1 < layers.Length ? nn.functional.relu(l.call(t)) : l.call(t), new[] { l.weight!, l.bias! })).ToArray();
        using var zo2 = new ZO2Schedule(mezo, stages, compactStore: store);
        zo2.Step(x, o => nn.functional.cross_entropy(o, y));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        File.WriteAllText("/proc/self/clear_refs", "5");
        zo2.ResetResidentPeak();
        for (int s = 0; s < Zo2Steps; s++) zo2.Step(x, o => nn.functional.cross_entropy(o, y));
        long peak = ProcStatus("VmHWM") - r0;
        long after = ProcStatus("VmRSS") - r0;
        long tracked = zo2.PeakResidentParameterBytes;
        zo2.Flush();
        ulong hash = 14695981039346656037UL;
        foreach (var p in model.parameters())
            foreach (byte b in p.bytes) hash = (hash ^ b) * 1099511628211UL;
        long total = model.parameters().Sum(p => p.numel() * 4);
        stdout.WriteLine(Inv($"ZO2 {peak} {after} {tracked} {total} {hash:x16}"));
        return 0;
    }

    private static void Zo2Memory(StringBuilder report, Dictionary<string, object> json, TextWriter stdout)
    {
        report.AppendLine("## ZO2: the compact store of idle stages");
        report.AppendLine();
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/status"))
        {
            report.AppendLine("Not measured: needs Linux's /proc/self/status and clear_refs.");
            return;
        }
        var result = new Dictionary<string, (long Peak, long After, long Tracked, long Total, string Hash)>();
        // A fixed mmap threshold makes glibc return every freed parameter-sized block to the system at once (its
        // default threshold grows after the first frees and would keep them in the heap), so the resident size
        // shows what the process holds.
        var env = new Dictionary<string, string?> { ["MALLOC_MMAP_THRESHOLD_"] = "131072" };
        foreach (var kind in new[] { "resident", "store" })
        {
            using var p = Process.Start(CliProcess.StartInfo(new[] { "gradient-free", "--part", "zo2-child", "--child", kind }, env))!;
            string output = p.StandardOutput.ReadToEnd();
            string errors = p.StandardError.ReadToEnd();
            p.WaitForExit();
            var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("ZO2 ", StringComparison.Ordinal))
                ?? throw new InvalidOperationException($"zo2 child '{kind}' printed no measurement: {output} {errors}");
            var f = line.Trim().Split(' ');
            result[kind] = (long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture), long.Parse(f[3], CultureInfo.InvariantCulture), long.Parse(f[4], CultureInfo.InvariantCulture), f[5]);
        }
        var r = result["resident"];
        var c = result["store"];
        stdout.WriteLine(Inv($"zo2: peak over the pre-model size {r.Peak / 1e6:F1} MB resident vs {c.Peak / 1e6:F1} MB with the store; parameter hashes {r.Hash} / {c.Hash}"));
        report.AppendLine(Inv($"MeZO (lr 1e-4, ε 1e-3) through the ZO2 schedule on an MLP {Zo2Input}-{Zo2Width}×{Zo2Hidden}-{Zo2Classes} (one stage per Linear; parameters {r.Total / 1e6:F1} MB float32; batch 16), each mode in its own process with glibc's mmap threshold fixed at 128 KiB (`MALLOC_MMAP_THRESHOLD_`, so freed parameter-sized blocks go back to the system). After one warm step, the peak resident size (VmHWM, reset by /proc/self/clear_refs) of {Zo2Steps} more steps and the resident size after them, both over the resident size before the model was built; \"tracked\" is the schedule's own count of parameter bytes in memory during those steps."));
        report.AppendLine();
        report.AppendLine("| mode | peak resident over pre-model size | resident after the steps | tracked peak of resident parameter bytes | final parameters (FNV-1a of the bytes) |");
        report.AppendLine("|---|---|---|---|---|");
        report.AppendLine(Inv($"| all stages resident | {r.Peak / 1e6:F1} MB | {r.After / 1e6:F1} MB | {r.Tracked / 1e6:F2} MB | {r.Hash} |"));
        report.AppendLine(Inv($"| compact store (off-heap file, lossless) | {c.Peak / 1e6:F1} MB | {c.After / 1e6:F1} MB | {c.Tracked / 1e6:F2} MB | {c.Hash} |"));
        report.AppendLine();
        report.AppendLine(Inv($"Difference of the peaks: {(r.Peak - c.Peak) / 1e6:F1} MB (all parameters {r.Total / 1e6:F1} MB minus the largest stage {c.Tracked / 1e6:F1} MB = {(r.Total - c.Tracked) / 1e6:F1} MB expected). The trajectories are {(r.Hash == c.Hash ? "identical (same hash)" : "DIFFERENT")}."));
        report.AppendLine();
        json["zo2_store"] = new { resident_peak_bytes = r.Peak, store_peak_bytes = c.Peak, resident_after_bytes = r.After, store_after_bytes = c.After, resident_tracked_bytes = r.Tracked, store_tracked_bytes = c.Tracked, parameter_bytes = r.Total, resident_hash = r.Hash, store_hash = c.Hash };
    }
}
