namespace SharpOptim.Tasks.Tuning;

/// <summary>What identifies a trial: a trial is a pure function of these (training from scratch, seeded), which is
/// what lets an interrupted sweep continue from the trials already on disk.</summary>
/// <param name="Optimizer">The optimizer entry (catalog name, or NAME@LABEL).</param>
/// <param name="Config">Index of the configuration in the optimizer's sample.</param>
/// <param name="Steps">Training steps.</param>
/// <param name="Seed">Model initialisation and batch order seed.</param>
/// <param name="Final">A re-run of the selected configuration (evaluated on the test split at its end).</param>
public sealed record TrialKey(string Optimizer, int Config, int Steps, int Seed, bool Final)
{
    /// <summary>The trial's file name under the sweep's trials folder.</summary>
    public string FileName => FormattableString.Invariant($"{Sanitize(Optimizer)}.{(Final ? "final" : "rung")}.c{Config:D3}.s{Steps}.seed{Seed}.json");

    private static string Sanitize(string s) => new(s.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' or '@' ? c : '_').ToArray());
}

/// <summary>One evaluation during a trial: validation loss and accuracy after <paramref name="Step"/> steps and
/// <paramref name="Seconds"/> of training.</summary>
public sealed record TrialEvaluation(int Step, double Seconds, double Loss, double Accuracy);

/// <summary>What a trial produced.</summary>
public sealed record TrialResult
{
    /// <summary>The hyperparameters it trained with (the tuned ones and every other given value).</summary>
    public required Dictionary<string, double> Hyperparameters { get; init; }
    /// <summary>Validation loss at the end (what successive halving ranks by); NaN when the run diverged.</summary>
    public required double ValidationLoss { get; init; }
    /// <summary>Validation accuracy at the end.</summary>
    public required double ValidationAccuracy { get; init; }
    /// <summary>Steps taken.</summary>
    public required int StepsTaken { get; init; }
    /// <summary>Training wall-clock seconds.</summary>
    public required double WallSeconds { get; init; }
    /// <summary>Whether the loss or a gradient became non-finite.</summary>
    public required bool Diverged { get; init; }
    /// <summary>Validation evaluations during the run (for time-to-target).</summary>
    public required List<TrialEvaluation> Evaluations { get; init; }
    /// <summary>Test loss at the end (final re-runs only, else NaN).</summary>
    public double TestLoss { get; init; } = double.NaN;
    /// <summary>Test accuracy at the end (final re-runs only, else NaN).</summary>
    public double TestAccuracy { get; init; } = double.NaN;
    /// <summary>Optimizer state in bytes after the run.</summary>
    public long StateBytes { get; init; }
    /// <summary>The score successive halving ranks by: the final validation loss, +∞ when diverged or non-finite.</summary>
    public double Score => Diverged || !double.IsFinite(ValidationLoss) ? double.PositiveInfinity : ValidationLoss;
}
