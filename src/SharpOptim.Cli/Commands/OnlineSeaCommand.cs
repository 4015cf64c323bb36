using System.Globalization;
using System.Text;
using SharpOptim.Online;
using SharpOptim.Tasks.Bandits;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim online sea --out DIR [--rounds T] [--seeds N]</c>: the SEA-model miniature for optimistic OMD
/// (Chen et al., arXiv:2302.04552). Online logistic regression on breast_cancer, f_t(x) = mean over a batch B_t of
/// log(1 + exp(−y⟨x, z⟩)) + (λ/2)‖x‖² (λ = 0.01), on a ball of radius 5; batches of b ∈ {1, 8, 64} rows drawn from
/// D_t, which picks the positive class with probability 0.5 + 0.4 sin(2πt/P), P ∈ {∞, 2000, 100}, then a uniform row
/// of that class. Learners on identical streams: OGD (η_t = D/(G√t), G = max‖z‖ + λR), adaptive OGD (optimistic OGD with a zero
/// hint), optimistic OGD (last-gradient hint, cap 1/(4L), L = ¼ max over classes of λ_max(E zzᵀ) + λ, δ = 1). Regret against the best point of the ball in hindsight (Newton on
/// the weighted sum of the rows' losses, projected). Measured σ̂²_{1:T} = Σ_t E‖∇f_t(x_t) − ∇F_t(x_t)‖² and
/// Σ̂²_{1:T} = Σ_t ‖∇F_t(x_t) − ∇F_{t−1}(x_t)‖² at the played points of optimistic OGD, from the known D_t.
/// </summary>
public static class OnlineSeaCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool> { ["out"] = true, ["rounds"] = true, ["seeds"] = true };

    private const double Radius = 5, Lambda = 0.01;

    public static int Run(Options o, string[] args, TextWriter stdout)
    {
        string outDir = o.String("out") ?? throw new UsageException("online sea needs --out DIR.");
        int rounds = (int)o.Long("rounds", 2000, 10, 1_000_000);
        int seeds = (int)o.Long("seeds", 5, 1, 100);
        var data = OnlineLogisticStream.BreastCancer();
        int n = data.Labels.Length, d = 30;
        var pos = Enumerable.Range(0, n).Where(i => data.Labels[i] > 0).ToArray();
        var neg = Enumerable.Range(0, n).Where(i => data.Labels[i] < 0).ToArray();
        double zmax = data.Features.Max(z => EuclideanBall.Norm(z));
        // Smoothness of the expected loss F_t: 0.25 λ_max(E_{D_t} zzᵀ) + λ ≤ 0.25 max over the classes of λ_max of the
        // class's second-moment matrix + λ (power iteration).
        double TopEigen(int[] idx)
        {
            var v = Enumerable.Repeat(1.0 / Math.Sqrt(d), d).ToArray();
            double lam = 0;
            for (int it = 0; it < 200; it++)
            {
                var w = new double[d];
                foreach (int i in idx) { double c = Dot(data.Features[i], v) / idx.Length; for (int j = 0; j < d; j++) w[j] += c * data.Features[i][j]; }
                lam = EuclideanBall.Norm(w);
                v = w.Select(t => t / lam).ToArray();
            }
            return lam;
        }
        double g = zmax + Lambda * Radius, smooth = 0.25 * Math.Max(TopEigen(pos), TopEigen(neg)) + Lambda;
        var rows = new List<string>();
        var points = new List<(double X, double Y, string Label)>();
        var md = new StringBuilder();
        md.AppendLine("# Optimistic OMD in the SEA model: online logistic regression on breast_cancer");
        md.AppendLine();
        md.AppendLine($"Command: `sharpoptim {string.Join(' ', args)}`");
        md.AppendLine();
        md.AppendLine(FormattableString.Invariant($"T = {rounds}, {seeds} seeds, ball radius {Radius}, λ = {Lambda}; G = {g:F2}, L = {smooth:F2}. Regret against the best point of the ball in hindsight. σ̂² and Σ̂² measured at optimistic OGD's played points from the known D_t. The step sizes of optimistic OGD are this library's reconstruction (see OptimisticOnlineGradientDescent)."));
        md.AppendLine();
        md.AppendLine("| b | period P | σ̂²_{1:T} | Σ̂²_{1:T} | √σ̂² + √Σ̂² | regret OGD | regret adaptive OGD | regret optimistic OGD |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (int b in new[] { 1, 8, 64 })
            foreach (double period in new[] { double.PositiveInfinity, 2000, 100 })
            {
                var regrets = new double[3][];
                for (int m = 0; m < 3; m++) regrets[m] = new double[seeds];
                double sigma = 0, drift = 0;
                for (int seed = 1; seed <= seeds; seed++)
                {
                    var rng = new Random(seed * 7919 + b * 31 + (double.IsInfinity(period) ? 0 : (int)period));
                    double P(int t) => double.IsInfinity(period) ? 0.5 : 0.5 + 0.4 * Math.Sin(2 * Math.PI * t / period);
                    var batches = new int[rounds][];
                    for (int t = 0; t < rounds; t++)
                        batches[t] = Enumerable.Range(0, b).Select(_ => rng.NextDouble() < P(t + 1) ? pos[rng.Next(pos.Length)] : neg[rng.Next(neg.Length)]).ToArray();
                    var learners = new IOnlineLearner[]
                    {
                        new OnlineGradientDescent(d, Radius, OnlineGradientDescent.ConvexStepSize(2 * Radius, g)),
                        new OptimisticOnlineGradientDescent(d, Radius, OptimisticHint.Zero, delta: 1, smoothness: smooth),
                        new OptimisticOnlineGradientDescent(d, Radius, OptimisticHint.LastGradient, delta: 1, smoothness: smooth),
                    };
                    var loss = new double[3];
                    var weights = new double[n];
                    for (int t = 0; t < rounds; t++)
                    {
                        foreach (int i in batches[t]) weights[i] += 1.0 / b;
                        for (int m = 0; m < 3; m++)
                        {
                            var x = learners[m].Point.ToArray();
                            var (f, grad) = BatchLoss(data, batches[t], x);
                            loss[m] += f;
                            if (m == 2)
                            {
                                // Expected gradient under D_t and D_{t-1} at the played point, and the batch-mean variance.
                                var (meanT, secondT) = Expected(data, pos, neg, P(t + 1), x);
                                sigma += (secondT - Dot(meanT, meanT)) / b / seeds;
                                if (t > 0) { var (meanPrev, _) = Expected(data, pos, neg, P(t), x); drift += Dist2(meanT, meanPrev) / seeds; }
                            }
                            learners[m].Update(grad);
                        }
                    }
                    double best = Comparator(data, weights, rounds);
                    for (int m = 0; m < 3; m++) regrets[m][seed - 1] = loss[m] - best;
                }
                double bound = Math.Sqrt(sigma) + Math.Sqrt(drift);
                string p = double.IsInfinity(period) ? "∞" : period.ToString(CultureInfo.InvariantCulture);
                md.AppendLine(FormattableString.Invariant($"| {b} | {p} | {sigma:F1} | {drift:F2} | {bound:F1} | {regrets[0].Average():F2} | {regrets[1].Average():F2} | {regrets[2].Average():F2} |"));
                rows.Add(FormattableString.Invariant($"{b},{p},{sigma:R},{drift:R},{regrets[0].Average():R},{regrets[1].Average():R},{regrets[2].Average():R}"));
                points.Add((bound, regrets[2].Average(), FormattableString.Invariant($"b={b},P={p}")));
                stdout.WriteLine(FormattableString.Invariant($"b = {b,2}, P = {p,4}: σ̂² = {sigma:F1}, Σ̂² = {drift:F2}; regret OGD {regrets[0].Average():F2}, adaptive {regrets[1].Average():F2}, optimistic {regrets[2].Average():F2}"));
            }
        Directory.CreateDirectory(outDir);
        string staging = Path.Combine(outDir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            var plt = new ScottPlot.Plot();
            var s = plt.Add.ScatterPoints(points.Select(q => q.X).ToArray(), points.Select(q => q.Y).ToArray());
            s.MarkerSize = 8;
            foreach (var q in points) plt.Add.Text(q.Label, q.X, q.Y).LabelFontSize = 10;
            plt.Title("optimistic OGD: final regret vs sqrt(sigma^2_1:T) + sqrt(Sigma^2_1:T), 9 settings");
            plt.XLabel("sqrt(sigma^2) + sqrt(Sigma^2) (measured)");
            plt.YLabel("regret (mean over seeds)");
            plt.SavePng(Path.Combine(staging, "regret_vs_bound.png"), 900, 520);
            File.WriteAllText(Path.Combine(staging, "results.csv"), "b,period,sigma2,Sigma2,regret_ogd,regret_adaptive,regret_optimistic\n" + string.Join('\n', rows) + "\n");
            md.AppendLine();
            md.AppendLine("![regret vs data-dependent term](regret_vs_bound.png)");
            File.WriteAllText(Path.Combine(staging, "report.md"), md.ToString());
            foreach (var f in Directory.GetFiles(staging)) File.Move(f, Path.Combine(outDir, Path.GetFileName(f)), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        stdout.WriteLine($"wrote {outDir}/report.md, results.csv, regret_vs_bound.png");
        return 0;
    }

    private static double Dot(double[] a, double[] b) { double s = 0; for (int i = 0; i < a.Length; i++) s += a[i] * b[i]; return s; }

    private static double Dist2(double[] a, double[] b) { double s = 0; for (int i = 0; i < a.Length; i++) s += (a[i] - b[i]) * (a[i] - b[i]); return s; }

    private static (double Loss, double[] Grad) Sample(OnlineLogisticStream data, int i, double[] x)
    {
        var z = data.Features[i];
        double y = data.Labels[i], m = y * Dot(x, z);
        double loss = m > 0 ? Math.Log(1 + Math.Exp(-m)) : -m + Math.Log(1 + Math.Exp(m));
        double c = -y / (1 + Math.Exp(m));
        var g = new double[z.Length];
        for (int j = 0; j < z.Length; j++) g[j] = c * z[j] + Lambda * x[j];
        return (loss + 0.5 * Lambda * Dot(x, x), g);
    }

    private static (double, double[]) BatchLoss(OnlineLogisticStream data, int[] batch, double[] x)
    {
        double f = 0;
        var g = new double[x.Length];
        foreach (int i in batch)
        {
            var (li, gi) = Sample(data, i, x);
            f += li / batch.Length;
            for (int j = 0; j < g.Length; j++) g[j] += gi[j] / batch.Length;
        }
        return (f, g);
    }

    /// <summary>E g and E‖g‖² of one sample's gradient under D (positive class with probability p).</summary>
    private static (double[] Mean, double Second) Expected(OnlineLogisticStream data, int[] pos, int[] neg, double p, double[] x)
    {
        var mean = new double[x.Length];
        double second = 0;
        foreach (var (idx, w) in new[] { (pos, p), (neg, 1 - p) })
            foreach (int i in idx)
            {
                var (_, g) = Sample(data, i, x);
                double wi = w / idx.Length;
                for (int j = 0; j < g.Length; j++) mean[j] += wi * g[j];
                second += wi * Dot(g, g);
            }
        return (mean, second);
    }

    /// <summary>min over the ball of Σ_i w_i ℓ_i(x) + (λT/2)‖x‖² (= Σ_t f_t(x)) by projected Newton steps.</summary>
    private static double Comparator(OnlineLogisticStream data, double[] weights, int rounds)
    {
        int d = 30;
        var x = new double[d];
        double Value(double[] v)
        {
            double f = 0;
            for (int i = 0; i < weights.Length; i++)
                if (weights[i] > 0) { double m = data.Labels[i] * Dot(v, data.Features[i]); f += weights[i] * (m > 0 ? Math.Log(1 + Math.Exp(-m)) : -m + Math.Log(1 + Math.Exp(m))); }
            return f + 0.5 * Lambda * rounds * Dot(v, v);
        }
        for (int it = 0; it < 60; it++)
        {
            var grad = new double[d];
            var h = new double[d, d];
            for (int i = 0; i < weights.Length; i++)
            {
                if (weights[i] == 0) continue;
                var z = data.Features[i];
                double y = data.Labels[i], m = y * Dot(x, z), s = 1 / (1 + Math.Exp(m));
                for (int j = 0; j < d; j++)
                {
                    grad[j] += weights[i] * (-y * s) * z[j];
                    for (int k = 0; k < d; k++) h[j, k] += weights[i] * s * (1 - s) * z[j] * z[k];
                }
            }
            for (int j = 0; j < d; j++) { grad[j] += Lambda * rounds * x[j]; h[j, j] += Lambda * rounds; }
            var step = Solve(h, grad);
            double f0 = Value(x), tStep = 1;
            double[] next;
            do
            {
                next = x.Select((v, j) => v - tStep * step[j]).ToArray();
                EuclideanBall.Project(next, Radius);
                tStep /= 2;
            } while (Value(next) > f0 && tStep > 1e-8);
            if (Value(next) > f0) break;
            x = next;
        }
        return Value(x);
    }

    private static double[] Solve(double[,] a, double[] b)
    {
        int n = b.Length;
        var m = (double[,])a.Clone();
        var v = (double[])b.Clone();
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[p, c])) p = r;
            for (int k = 0; k < n; k++) (m[c, k], m[p, k]) = (m[p, k], m[c, k]);
            (v[c], v[p]) = (v[p], v[c]);
            for (int r = c + 1; r < n; r++)
            {
                double f = m[r, c] / m[c, c];
                for (int k = c; k < n; k++) m[r, k] -= f * m[c, k];
                v[r] -= f * v[c];
            }
        }
        var x = new double[n];
        for (int r = n - 1; r >= 0; r--)
        {
            double s = v[r];
            for (int k = r + 1; k < n; k++) s -= m[r, k] * x[k];
            x[r] = s / m[r, r];
        }
        return x;
    }
}
