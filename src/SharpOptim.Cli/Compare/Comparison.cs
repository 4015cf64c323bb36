using SharpOptim.Tasks;

namespace SharpOptim.Cli.Compare;

/// <summary>One optimizer's run with one seed.</summary>
public sealed record RunRecord(string Optimizer, IReadOnlyDictionary<string, double> Hyperparameters, int Seed, RunResult Result);

/// <summary>Mean and sample standard deviation (n − 1; 0 for a single value) of one summary figure.</summary>
public readonly record struct MeanStd(double Mean, double Std)
{
    /// <summary>Of the given values.</summary>
    public static MeanStd Of(IReadOnlyList<double> xs)
    {
        if (xs.Count == 0) return new MeanStd(double.NaN, double.NaN);
        double m = xs.Average();
        // One value has no spread: the std is undefined (NaN, shown as the mean alone and written as null).
        double v = xs.Count < 2 ? double.NaN : xs.Sum(x => (x - m) * (x - m)) / (xs.Count - 1);
        return new MeanStd(m, Math.Sqrt(v));
    }
}

/// <summary>One optimizer's figures over its completed seeds.</summary>
public sealed record OptimizerSummary(string Optimizer, int Runs, MeanStd TrainLoss, MeanStd TestLoss, MeanStd TestAccuracy,
    MeanStd WallSeconds, double MedianStepMs, long StateBytes)
{
    /// <summary>Runs of this optimizer that diverged (NaN/infinite loss or gradient); not in the figures.</summary>
    public int Diverged { get; init; }

    /// <summary>The optimizer's name, with the diverged-run count when there is one.</summary>
    public string Label => Diverged == 0 ? Optimizer : FormattableString.Invariant($"{Optimizer} ({Diverged} diverged)");
}

/// <summary>Everything one <c>sharpoptim compare</c> invocation produced.</summary>
public sealed class Comparison
{
    /// <summary>The task's name.</summary>
    public required string Task { get; init; }
    /// <summary>The task's one-line description.</summary>
    public required string TaskDescription { get; init; }
    /// <summary>The command line, as given.</summary>
    public required string CommandLine { get; init; }
    /// <summary>Steps per run requested.</summary>
    public required int Steps { get; init; }
    /// <summary>Seeds per optimizer requested.</summary>
    public required int Seeds { get; init; }
    /// <summary>The --schedule argument, or "constant".</summary>
    public required string Schedule { get; init; }
    /// <summary>The optimizers, in the order given.</summary>
    public required IReadOnlyList<string> Optimizers { get; init; }
    /// <summary>Runs finished or stopped, in order.</summary>
    public List<RunRecord> Runs { get; } = new();
    /// <summary>False when interrupted before every run finished.</summary>
    public bool Complete { get; set; }
    /// <summary>When the comparison started (UTC).</summary>
    public DateTime Started { get; } = DateTime.UtcNow;

    /// <summary>Per-optimizer summaries over completed runs, in the order given (optimizers with no completed and no
    /// diverged run are left out; one whose runs all diverged has NaN figures).</summary>
    public IReadOnlyList<OptimizerSummary> Summaries() => Optimizers
        .Select(name => (name, runs: Runs.Where(r => r.Optimizer == name && r.Result.Completed).Select(r => r.Result).ToList(),
            diverged: Runs.Count(r => r.Optimizer == name && r.Result.Diverged)))
        .Where(x => x.runs.Count > 0 || x.diverged > 0)
        .Select(x => new OptimizerSummary(x.name, x.runs.Count,
            MeanStd.Of(x.runs.Select(r => r.FinalTrainLoss).ToList()), MeanStd.Of(x.runs.Select(r => r.TestLoss).ToList()),
            MeanStd.Of(x.runs.Select(r => r.TestAccuracy).ToList()), MeanStd.Of(x.runs.Select(r => r.WallSeconds).ToList()),
            Median(x.runs.Select(r => r.MedianStepMs).ToList()), x.runs.Count == 0 ? 0 : x.runs.Max(r => r.StateBytes)) { Diverged = x.diverged })
        .ToList();

    private static double Median(List<double> xs)
    {
        if (xs.Count == 0) return double.NaN;
        xs.Sort();
        return xs.Count % 2 == 1 ? xs[xs.Count / 2] : (xs[xs.Count / 2 - 1] + xs[xs.Count / 2]) / 2;
    }
}
