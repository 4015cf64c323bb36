namespace SharpOptim.Tasks;

/// <summary>
/// What one training run produced: per-step curves and the end-of-run summary. A run stopped early (cancelled)
/// has <see cref="Completed"/> false and curves as long as the steps it took.
/// </summary>
public sealed class RunResult
{
    /// <summary>Training-batch loss at each step taken.</summary>
    public required List<double> Losses { get; init; }
    /// <summary>Cumulative training wall-clock seconds after each step (evaluations excluded).</summary>
    public required List<double> Seconds { get; init; }
    /// <summary>Global gradient norm ‖g‖₂ at each step, before the optimizer step (what schedule refinement reads).</summary>
    public required List<double> GradientNorms { get; init; }
    /// <summary>Held-out evaluations: (steps taken, loss, accuracy), the last one at the end of the run.</summary>
    public required List<(int Step, double Loss, double Accuracy)> Evaluations { get; init; }
    /// <summary>Whether every requested step ran.</summary>
    public required bool Completed { get; init; }
    /// <summary>Whether the run stopped because the loss or a gradient became NaN or infinite (the optimizer diverged);
    /// the curves end at the last finite step.</summary>
    public bool Diverged { get; init; }
    /// <summary>Optimizer state after the run, in bytes (<c>StateBytes</c> for SharpOptim optimizers).</summary>
    public required long StateBytes { get; init; }

    /// <summary>Steps taken.</summary>
    public int Steps => Losses.Count;
    /// <summary>Final training loss: the mean batch loss over the last 5% of steps (at least one), which smooths batch noise.</summary>
    public double FinalTrainLoss => Losses.Count == 0 ? double.NaN : Losses.TakeLast(Math.Max(1, Losses.Count / 20)).Average();
    /// <summary>Held-out loss at the end.</summary>
    public double TestLoss => Evaluations.Count == 0 ? double.NaN : Evaluations[^1].Loss;
    /// <summary>Held-out accuracy at the end.</summary>
    public double TestAccuracy => Evaluations.Count == 0 ? double.NaN : Evaluations[^1].Accuracy;
    /// <summary>Training wall-clock seconds.</summary>
    public double WallSeconds => Seconds.Count == 0 ? 0 : Seconds[^1];
    /// <summary>Median time of one step, milliseconds.</summary>
    public double MedianStepMs
    {
        get
        {
            if (Seconds.Count == 0) return double.NaN;
            var d = Seconds.Select((s, i) => (s - (i == 0 ? 0 : Seconds[i - 1])) * 1000).Order().ToArray();
            return d.Length % 2 == 1 ? d[d.Length / 2] : (d[d.Length / 2 - 1] + d[d.Length / 2]) / 2;
        }
    }
}
