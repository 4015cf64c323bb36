using SharpOptim.Tasks.MultiTask;

namespace SharpOptim.Cli.MultiTask;

/// <summary>One balancer's runs summarised over seeds (see <see cref="MultiTaskReport"/>).</summary>
internal sealed record MultiTaskSummary(string Balancer, int Runs, int Diverged, double[] MetricMean, double[] MetricStd,
    double DeltaMean, double DeltaStd, double StepMs, double StepRatio, string Passes, double WeightChange, double? ConflictFraction)
{
    /// <summary>Summaries of every balancer of <paramref name="runs"/>, with Δm% against the single-task references
    /// (the mean over seeds of each task's metric when trained alone; NaN without references).</summary>
    public static List<MultiTaskSummary> Of(MultiTaskProblem problem, IReadOnlyList<string> balancers, IReadOnlyList<MultiTaskRunResult> runs)
    {
        int t = problem.Heads.Count;
        var stl = new double[t];
        for (int k = 0; k < t; k++)
        {
            var refs = runs.Where(r => r.SingleTask == k && r.Completed).Select(r => r.FinalMetrics[k]).ToList();
            stl[k] = refs.Count > 0 ? refs.Average() : double.NaN;
        }
        double ewMs = Median(runs.Where(r => r.Balancer == "equal" && r.Completed).Select(r => r.MedianStepMs));
        var list = new List<MultiTaskSummary>();
        foreach (var b in balancers)
        {
            var rs = runs.Where(r => r.Balancer == b && r.SingleTask is null && r.Completed).ToList();
            int diverged = runs.Count(r => r.Balancer == b && r.SingleTask is null && r.Diverged);
            var mean = new double[t];
            var std = new double[t];
            for (int k = 0; k < t; k++) (mean[k], std[k]) = MeanStd(rs.Select(r => r.FinalMetrics[k]));
            var deltas = rs.Select(r => Delta(problem, r.FinalMetrics, stl)).ToList();
            var (dm, ds) = MeanStd(deltas);
            double ms = Median(rs.Select(r => r.MedianStepMs));
            var changes = rs.Select(MeanWeightChange).Where(double.IsFinite).ToList();
            var conflicts = rs.Where(r => r.ConflictFraction is not null).Select(r => r.ConflictFraction!.Value).ToList();
            list.Add(new MultiTaskSummary(b, rs.Count, diverged, mean, std, dm, ds, ms, ms / ewMs, rs.FirstOrDefault()?.Passes ?? "—",
                changes.Count > 0 ? changes.Average() : double.NaN, conflicts.Count > 0 ? conflicts.Average() : null));
        }
        return list;
    }

    /// <summary>The single-task references' metric of each task, mean and std over seeds.</summary>
    public static (double[] Mean, double[] Std, int Runs) SingleTask(MultiTaskProblem problem, IReadOnlyList<MultiTaskRunResult> runs)
    {
        int t = problem.Heads.Count;
        var mean = new double[t];
        var std = new double[t];
        int n = int.MaxValue;
        for (int k = 0; k < t; k++)
        {
            var refs = runs.Where(r => r.SingleTask == k && r.Completed).Select(r => r.FinalMetrics[k]).ToList();
            (mean[k], std[k]) = MeanStd(refs);
            n = Math.Min(n, refs.Count);
        }
        return (mean, std, n == int.MaxValue ? 0 : n);
    }

    /// <summary>Δm% = (100/T) Σ_t (−1)^{h_t} (M_t − M_t^STL)/M_t^STL, h_t = 1 where higher is better: the mean relative
    /// loss against single-task training (lower is better; positive means negative transfer).</summary>
    public static double Delta(MultiTaskProblem problem, double[] metrics, double[] stl)
    {
        double s = 0;
        for (int k = 0; k < metrics.Length; k++)
            s += (problem.HigherIsBetter(k) ? -1 : 1) * (metrics[k] - stl[k]) / stl[k];
        return 100 * s / metrics.Length;
    }

    /// <summary>Mean over steps of ‖w_k − w_{k−1}‖₁ (NaN when the run has no weights, as PCGrad).</summary>
    public static double MeanWeightChange(MultiTaskRunResult r)
    {
        double s = 0;
        int n = 0;
        for (int i = 1; i < r.Weights.Count; i++)
            if (r.Weights[i] is { } a && r.Weights[i - 1] is { } b)
            {
                s += a.Zip(b, (x, y) => Math.Abs(x - y)).Sum();
                n++;
            }
        return n == 0 ? double.NaN : s / n;
    }

    private static (double Mean, double Std) MeanStd(IEnumerable<double> xs)
    {
        var l = xs.ToList();
        if (l.Count == 0) return (double.NaN, double.NaN);
        double m = l.Average();
        return (m, l.Count > 1 ? Math.Sqrt(l.Sum(x => (x - m) * (x - m)) / (l.Count - 1)) : double.NaN);
    }

    private static double Median(IEnumerable<double> xs)
    {
        var l = xs.Where(double.IsFinite).OrderBy(x => x).ToList();
        return l.Count == 0 ? double.NaN : l.Count % 2 == 1 ? l[l.Count / 2] : (l[l.Count / 2 - 1] + l[l.Count / 2]) / 2;
    }
}
