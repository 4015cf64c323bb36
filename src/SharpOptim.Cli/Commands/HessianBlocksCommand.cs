using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Analysis;
using SharpOptim.Tasks;
using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim analysis hessian-blocks --out DIR</c>: the "block heterogeneity" experiment of Zhang et al., "Why
/// Transformers Need Adam: A Hessian Perspective" (arXiv:2402.16788), in miniature. A small charlm
/// <see cref="CharTransformer"/> and the digits <see cref="Mlp"/> are pre-trained briefly with AdamW, converted to
/// float64, and for every parameter block (each named parameter tensor) the SLQ spectral density of the block's
/// Hessian on one fixed batch is estimated (<see cref="HessianSpectrum"/>). Per model, all block densities are
/// smoothed on one common grid over s = asinh(λ/λ0), λ0 = 1e-4 of the model's largest |Ritz value| (σ = 1% of the
/// span of s; our choice, not the paper's: the official code smooths on the plain eigenvalue axis with σ² = 1e-5 on a
/// ±1-padded grid, where our small-curvature blocks would all collapse into one spike at 0; the plain-axis distance is
/// reported as well), and the mean pairwise Jensen–Shannon distance between blocks is the model's block heterogeneity. Writes transformer_blocks.png, mlp_blocks.png,
/// results.json and report.md through a staging folder.
/// </summary>
public static class HessianBlocksCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["out"] = true, ["pretrain-steps"] = true, ["probes"] = true, ["lanczos-steps"] = true, ["seed"] = true, ["seeds"] = true,
    };

    private sealed record BlockResult(string Name, long Size, double[] Density, double TopRitz, double BottomRitz, double MeanEigenvalue);

    private sealed record ModelResult(string Model, string Description, double FinalTrainLoss, double[] Grid, double Sigma, double Lambda0,
        List<BlockResult> Blocks, double[,] Js, double MeanJs, double LinearMeanJs, double Seconds);

    public static int Run(Options o, string[] args, TextWriter stdout)
    {
        string outDir = o.String("out") ?? throw new UsageException("analysis hessian-blocks needs --out DIR.");
        int pretrain = (int)o.Long("pretrain-steps", 50, 0, 100_000);
        int probes = (int)o.Long("probes", 3, 1, 1000);
        int lanczos = (int)o.Long("lanczos-steps", 20, 1, 10_000);
        int seed = (int)o.Long("seed", 0, 0, int.MaxValue - 1000);
        int seeds = (int)o.Long("seeds", 1, 1, 1000);

        // Seeds seed, seed + 1, …: each pre-trains, draws its batch and its probes anew. The figures and block tables
        // are the first seed's; the heterogeneity numbers are reported per seed and averaged.
        var perSeed = new List<(int Seed, ModelResult Transformer, ModelResult Mlp)>();
        for (int k = 0; k < seeds; k++)
        {
            if (seeds > 1) stdout.WriteLine(FormattableString.Invariant($"seed {seed + k}:"));
            perSeed.Add((seed + k, Transformer(pretrain, probes, lanczos, seed + k, stdout), DigitsMlp(pretrain, probes, lanczos, seed + k, stdout)));
        }
        var (_, transformer, mlp) = perSeed[0];

        Directory.CreateDirectory(outDir);
        string staging = Path.Combine(outDir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            Plot(transformer, Path.Combine(staging, "transformer_blocks.png"));
            Plot(mlp, Path.Combine(staging, "mlp_blocks.png"));
            object Json(ModelResult m) => new
            {
                model = m.Model,
                description = m.Description,
                final_train_loss = m.FinalTrainLoss,
                sigma = m.Sigma,
                grid_min = m.Grid[0],
                grid_max = m.Grid[^1],
                axis = "asinh(eigenvalue / lambda0)",
                lambda0 = m.Lambda0,
                mean_pairwise_js_distance = m.MeanJs,
                mean_pairwise_js_distance_linear_axis = m.LinearMeanJs,
                seconds = m.Seconds,
                blocks = m.Blocks.Select(b => new { name = b.Name, size = b.Size, top_ritz = b.TopRitz, bottom_ritz = b.BottomRitz, mean_eigenvalue = b.MeanEigenvalue }).ToArray(),
                js_distance = Enumerable.Range(0, m.Blocks.Count).Select(i => Enumerable.Range(0, m.Blocks.Count).Select(j => m.Js[i, j]).ToArray()).ToArray(),
            };
            File.WriteAllText(Path.Combine(staging, "results.json"), JsonSerializer.Serialize(new
            {
                command = "sharpoptim " + string.Join(' ', args),
                pretrain_steps = pretrain,
                probes,
                lanczos_steps = lanczos,
                seed,
                seeds,
                models = new[] { Json(transformer), Json(mlp) },
                per_seed = perSeed.Select(r => new
                {
                    seed = r.Seed,
                    transformer_js = r.Transformer.MeanJs, transformer_js_linear_axis = r.Transformer.LinearMeanJs,
                    mlp_js = r.Mlp.MeanJs, mlp_js_linear_axis = r.Mlp.LinearMeanJs,
                    transformer_final_train_loss = r.Transformer.FinalTrainLoss, mlp_final_train_loss = r.Mlp.FinalTrainLoss,
                }).ToArray(),
                mean_over_seeds = new
                {
                    transformer_js = perSeed.Average(r => r.Transformer.MeanJs), transformer_js_sd = Sd(perSeed.Select(r => r.Transformer.MeanJs)),
                    transformer_js_linear_axis = perSeed.Average(r => r.Transformer.LinearMeanJs), transformer_js_linear_axis_sd = Sd(perSeed.Select(r => r.Transformer.LinearMeanJs)),
                    mlp_js = perSeed.Average(r => r.Mlp.MeanJs), mlp_js_sd = Sd(perSeed.Select(r => r.Mlp.MeanJs)),
                    mlp_js_linear_axis = perSeed.Average(r => r.Mlp.LinearMeanJs), mlp_js_linear_axis_sd = Sd(perSeed.Select(r => r.Mlp.LinearMeanJs)),
                },
            }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
            File.WriteAllText(Path.Combine(staging, "report.md"), Report(transformer, mlp, args, pretrain, probes, lanczos, seed, perSeed));
            foreach (var f in Directory.GetFiles(staging))
                File.Move(f, Path.Combine(outDir, Path.GetFileName(f)), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        stdout.WriteLine(FormattableString.Invariant($"block heterogeneity (mean pairwise JS distance, mean over {seeds} seed(s)): transformer {perSeed.Average(r => r.Transformer.MeanJs):0.####}, MLP {perSeed.Average(r => r.Mlp.MeanJs):0.####}"));
        stdout.WriteLine($"wrote {outDir}/transformer_blocks.png, mlp_blocks.png, results.json, report.md");
        return 0;
    }

    /// <summary>Sample standard deviation (0 for fewer than two values).</summary>
    internal static double Sd(IEnumerable<double> values)
    {
        var v = values.ToArray();
        if (v.Length < 2) return 0;
        double mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
    }

    private static double PretrainAndCount(nn.Module model, Func<Tensor> loss, int steps)
    {
        var opt = torch.optim.AdamW(model.parameters(), lr: 3e-3, weight_decay: 0.01);
        double last = double.NaN;
        for (int s = 0; s < steps; s++)
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            var l = loss();
            l.backward();
            opt.step();
            last = l.item<float>();
        }
        return last;
    }

    private static ModelResult Transformer(int pretrain, int probes, int lanczos, int seed, TextWriter stdout)
    {
        torch.manual_seed(seed);
        var task = new CharLmTask(layers: 2, dim: 64, heads: 4, blockSize: 32, batchSize: 16);
        using var run = task.Start(seed);
        var sw = Stopwatch.StartNew();
        double trainLoss = PretrainAndCount(run.Model, () =>
        {
            var (logits, targets) = run.Forward();
            return nn.functional.cross_entropy(logits, targets);
        }, pretrain);
        stdout.WriteLine(FormattableString.Invariant($"transformer: {pretrain} AdamW steps, last train loss {trainLoss:0.###}"));
        run.Model.to(ScalarType.Float64);
        run.Model.eval();
        var (lg, tg) = run.Forward();
        var loss = nn.functional.cross_entropy(lg, tg);
        return Spectra("charlm CharTransformer", task.Description + "; Hessian on one batch of 16 x 32 tokens", trainLoss,
            run.Model.named_parameters().ToList(), loss, probes, lanczos, seed, sw, stdout);
    }

    private static ModelResult DigitsMlp(int pretrain, int probes, int lanczos, int seed, TextWriter stdout)
    {
        torch.manual_seed(seed);
        using var data = Digits.Load();
        var model = new Mlp(data.Features, 64, 64, data.Classes);
        var sw = Stopwatch.StartNew();
        var rng = new Random(seed);
        int n = (int)data.TrainX.shape[0];
        double trainLoss = PretrainAndCount(model, () =>
        {
            var idx = torch.tensor(Enumerable.Range(0, 64).Select(_ => (long)rng.Next(n)).ToArray());
            return nn.functional.cross_entropy(model.forward(data.TrainX.index_select(0, idx)), data.TrainY.index_select(0, idx));
        }, pretrain);
        stdout.WriteLine(FormattableString.Invariant($"MLP: {pretrain} AdamW steps, last train loss {trainLoss:0.###}"));
        model.to(ScalarType.Float64);
        var loss = nn.functional.cross_entropy(model.forward(data.TrainX.to(ScalarType.Float64)), data.TrainY);
        return Spectra("digits MLP", FormattableString.Invariant($"MLP {data.Features}-64-64-{data.Classes} (ReLU) on digits; Hessian on the full training split ({n} images)"), trainLoss,
            model.named_parameters().ToList(), loss, probes, lanczos, seed, sw, stdout);
    }

    private static ModelResult Spectra(string name, string description, double trainLoss, List<(string Name, Parameter P)> blocks, Tensor loss,
        int probes, int lanczos, int seed, Stopwatch sw, TextWriter stdout)
    {
        var runs = new List<(string Name, long Size, IReadOnlyList<HessianSpectrum.RitzPairs> Runs)>();
        foreach (var (bn, p) in blocks)
        {
            var spectrum = new HessianSpectrum(loss, p);
            var r = spectrum.StochasticLanczosQuadrature(probes, lanczos, seed);
            runs.Add((bn, p.numel(), r));
            stdout.WriteLine(FormattableString.Invariant($"  {name} {bn} ({p.numel()} entries): top Ritz value {r.Max(x => x.Values[^1]):G4}"));
        }
        // Axis for the densities: s = asinh(λ/λ0) with λ0 = 1e-4 of the model's largest |Ritz value|, linear within
        // λ0 of zero and logarithmic beyond, so that blocks whose curvature differs by orders of magnitude (the
        // heterogeneity the paper is about) land apart; on a plain eigenvalue axis every small-curvature block collapses
        // into one spike at 0. The plain-axis distance is reported too (LinearMeanJs).
        double lambda0 = 1e-4 * Math.Max(runs.Max(b => b.Runs.Max(r => r.Values.Max(Math.Abs))), 1e-300);
        var axisRuns = runs.Select(b => (IReadOnlyList<HessianSpectrum.RitzPairs>)b.Runs
            .Select(r => new HessianSpectrum.RitzPairs(r.Values.Select(v => Math.Asinh(v / lambda0)).ToArray(), r.Weights)).ToList()).ToList();
        var (grid, sigma, densities, meanJs, js) = SmoothAndCompare(axisRuns);
        var (_, _, _, linearJs, _) = SmoothAndCompare(runs.Select(b => b.Runs).ToList());
        var results = runs.Select((b, i) => new BlockResult(b.Name, b.Size, densities[i],
            b.Runs.Max(r => r.Values[^1]), b.Runs.Min(r => r.Values[0]),
            b.Runs.Average(r => r.Values.Zip(r.Weights, (v, w) => v * w).Sum()))).ToList();
        return new ModelResult(name, description, trainLoss, grid, sigma, lambda0, results, js, meanJs, linearJs, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Densities of every block on one grid spanning all Ritz values (±5% of the span), σ = 1% of the span;
    /// pairwise JS distances and their mean.</summary>
    private static (double[] Grid, double Sigma, double[][] Densities, double MeanJs, double[,] Js) SmoothAndCompare(
        List<IReadOnlyList<HessianSpectrum.RitzPairs>> blocks)
    {
        double lo = blocks.Min(b => b.Min(r => r.Values[0])), hi = blocks.Max(b => b.Max(r => r.Values[^1]));
        double span = Math.Max(hi - lo, 1e-12), sigma = 0.01 * span;
        const int points = 2001;
        var grid = Enumerable.Range(0, points).Select(i => lo - 0.05 * span + 1.1 * span * i / (points - 1)).ToArray();
        var densities = blocks.Select(b => HessianSpectrum.Density(b, grid, sigma)).ToArray();
        int k = densities.Length;
        var js = new double[k, k];
        double sum = 0;
        int pairs = 0;
        for (int i = 0; i < k; i++)
            for (int j = i + 1; j < k; j++)
            {
                js[i, j] = js[j, i] = HessianSpectrum.JensenShannonDistance(densities[i], densities[j]);
                sum += js[i, j];
                pairs++;
            }
        return (grid, sigma, densities, pairs == 0 ? 0 : sum / pairs, js);
    }

    private static void Plot(ModelResult m, string path)
    {
        var plt = new ScottPlot.Plot();
        var colors = Compare.PlotStyle.Colors(m.Blocks.Count);
        for (int i = 0; i < m.Blocks.Count; i++)
        {
            var s = plt.Add.Scatter(m.Grid, m.Blocks[i].Density.Select(d => Math.Log10(Math.Max(d, 1e-8))).ToArray());
            s.MarkerSize = 0;
            s.LineWidth = 1.2f;
            s.Color = colors[i];
            s.LegendText = m.Blocks[i].Name;
        }
        plt.Title(FormattableString.Invariant($"{m.Model}: SLQ Hessian spectrum per block (mean pairwise JS distance {m.MeanJs:0.###})"));
        plt.XLabel(FormattableString.Invariant($"asinh(eigenvalue / {m.Lambda0:G3})"));
        plt.YLabel("log10 density (clipped at -8)");
        plt.ShowLegend(ScottPlot.Edge.Right);
        plt.SavePng(path, 1300, 650);
    }

    private static string Report(ModelResult t, ModelResult m, string[] args, int pretrain, int probes, int lanczos, int seed,
        List<(int Seed, ModelResult Transformer, ModelResult Mlp)> perSeed)
    {
        var md = new StringBuilder();
        md.AppendLine("# Hessian spectra by parameter block: transformer vs MLP");
        md.AppendLine();
        md.AppendLine($"Command: `sharpoptim {string.Join(' ', args)}`");
        md.AppendLine();
        md.AppendLine("Method (Zhang et al., \"Why Transformers Need Adam: A Hessian Perspective\", arXiv:2402.16788): for every parameter block (named parameter tensor), stochastic Lanczos quadrature on Hessian-vector products of the block's Hessian (double backward, float64), Gaussian-smoothed into a spectral density; the block heterogeneity of a model is the mean Jensen–Shannon distance between its block densities. Our choices (not the paper's): Rademacher probes, full reorthogonalisation, densities of one model smoothed on one common grid over s = asinh(λ/λ0), λ0 = 1e-4 of the model's largest |Ritz value| (linear near 0, logarithmic beyond, so that blocks whose curvature differs by orders of magnitude do not all collapse into one spike at 0), σ = 1% of the span, JS distance with natural log (range [0, 0.8326]).");
        md.AppendLine();
        md.AppendLine(FormattableString.Invariant($"Settings: {pretrain} AdamW steps (lr 3e-3, weight decay 0.01) before the measurement, {probes} probes x {lanczos} Lanczos steps per block, seed {seed}."));
        md.AppendLine();
        md.AppendLine("| model | blocks | last train loss | mean pairwise JS distance (asinh axis) | same on the plain eigenvalue axis | seconds |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var r in new[] { t, m })
            md.AppendLine(FormattableString.Invariant($"| {r.Model} | {r.Blocks.Count} | {r.FinalTrainLoss:0.###} | {r.MeanJs:0.####} | {r.LinearMeanJs:0.####} | {r.Seconds:0} |"));
        md.AppendLine();
        string Verdict(double tj, double mj) => tj > mj ? "larger than" : "not larger than";
        if (perSeed.Count == 1)
            md.AppendLine(FormattableString.Invariant($"On the asinh axis the transformer's mean block distance is {Verdict(t.MeanJs, m.MeanJs)} the MLP's ({t.MeanJs:0.####} vs {m.MeanJs:0.####}); on the plain eigenvalue axis it is {Verdict(t.LinearMeanJs, m.LinearMeanJs)} the MLP's ({t.LinearMeanJs:0.####} vs {m.LinearMeanJs:0.####}). The paper's claim (transformer blocks more heterogeneous) is supported here only where both agree; one seed, small models, few probes."));
        else
        {
            md.AppendLine(FormattableString.Invariant($"Over {perSeed.Count} seeds (each pre-trained, batch and probes drawn anew; the table above and the block tables below are seed {seed}'s):"));
            md.AppendLine();
            md.AppendLine("| seed | transformer JS (asinh) | MLP JS (asinh) | transformer JS (plain axis) | MLP JS (plain axis) |");
            md.AppendLine("|---|---|---|---|---|");
            foreach (var r in perSeed)
                md.AppendLine(FormattableString.Invariant($"| {r.Seed} | {r.Transformer.MeanJs:0.####} | {r.Mlp.MeanJs:0.####} | {r.Transformer.LinearMeanJs:0.####} | {r.Mlp.LinearMeanJs:0.####} |"));
            double ta = perSeed.Average(r => r.Transformer.MeanJs), ma = perSeed.Average(r => r.Mlp.MeanJs);
            double tl = perSeed.Average(r => r.Transformer.LinearMeanJs), ml = perSeed.Average(r => r.Mlp.LinearMeanJs);
            md.AppendLine(FormattableString.Invariant($"| mean ± sd | {ta:0.####} ± {Sd(perSeed.Select(r => r.Transformer.MeanJs)):0.####} | {ma:0.####} ± {Sd(perSeed.Select(r => r.Mlp.MeanJs)):0.####} | {tl:0.####} ± {Sd(perSeed.Select(r => r.Transformer.LinearMeanJs)):0.####} | {ml:0.####} ± {Sd(perSeed.Select(r => r.Mlp.LinearMeanJs)):0.####} |"));
            md.AppendLine();
            md.AppendLine(FormattableString.Invariant($"Averaged over the seeds, the transformer's mean block distance is {Verdict(ta, ma)} the MLP's on the asinh axis ({ta:0.####} vs {ma:0.####}) and {Verdict(tl, ml)} it on the plain eigenvalue axis ({tl:0.####} vs {ml:0.####}). The paper's claim (transformer blocks more heterogeneous) is supported here only where both agree; small models, few probes."));
        }
        md.AppendLine();
        foreach (var r in new[] { t, m })
        {
            md.AppendLine($"## {r.Model}");
            md.AppendLine();
            md.AppendLine(r.Description + ".");
            md.AppendLine();
            md.AppendLine("| block | size | lowest Ritz | top Ritz | SLQ mean eigenvalue (trace/n) |");
            md.AppendLine("|---|---|---|---|---|");
            foreach (var b in r.Blocks)
                md.AppendLine(FormattableString.Invariant($"| {b.Name} | {b.Size} | {b.BottomRitz:G4} | {b.TopRitz:G4} | {b.MeanEigenvalue:G4} |"));
            md.AppendLine();
            md.AppendLine($"![{r.Model}]({(r == t ? "transformer_blocks.png" : "mlp_blocks.png")})");
            md.AppendLine();
        }
        md.AppendLine("The paper's second half (where Adam beats SGD on each model) is measured by `sharpoptim analysis adam-vs-sgd` on the same two models (docs/analysis/adam-vs-sgd).");
        return md.ToString();
    }
}
