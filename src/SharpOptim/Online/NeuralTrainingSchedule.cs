namespace SharpOptim.Online;

/// <summary>
/// When and how long the neural bandits train. Round t (0-based) trains when t &lt; <see cref="DenseRounds"/> (at
/// most <see cref="DenseMaxSteps"/> SGD steps) or when t is a multiple of <see cref="Every"/> (at most
/// <see cref="SparseMaxSteps"/> steps); a training call stops early when an epoch's mean loss is at most
/// <see cref="LossTolerance"/>. The official NeuralUCB train.py uses 2000 / 1000 / 100 / 1000 (its learner stops at
/// 1000 steps); <see cref="Reduced"/> (300 / 100 / 50 / 200) is this library's CPU schedule, a stated deviation.
/// As in the official code, a sample enters the training history only in a round that trains, unless
/// <see cref="RecordEverySample"/> is set.
/// </summary>
/// <param name="DenseRounds">Rounds that all train.</param>
/// <param name="DenseMaxSteps">Step limit of those training calls.</param>
/// <param name="Every">Interval of training rounds afterwards.</param>
/// <param name="SparseMaxSteps">Step limit of the later training calls.</param>
/// <param name="LossTolerance">Early stop when an epoch's mean squared loss is at most this.</param>
/// <param name="RecordEverySample">Keep every round's sample in the history (the official code keeps only those of
/// training rounds).</param>
public sealed record NeuralTrainingSchedule(int DenseRounds, int DenseMaxSteps, int Every, int SparseMaxSteps, double LossTolerance = 1e-3, bool RecordEverySample = false)
{
    /// <summary>The official NeuralUCB schedule (train.py with learner_diag.py's 1000-step limit).</summary>
    public static NeuralTrainingSchedule Official { get; } = new(2000, 1000, 100, 1000);

    /// <summary>This library's reduced CPU schedule: every round below 300 (≤ 100 steps), then every 50 rounds (≤ 200).</summary>
    public static NeuralTrainingSchedule Reduced { get; } = new(300, 100, 50, 200);

    /// <summary>The step limit for round t, or 0 when the round does not train.</summary>
    public int MaxSteps(long round) => round < DenseRounds ? DenseMaxSteps : round % Every == 0 ? SparseMaxSteps : 0;

    internal void Validate()
    {
        if (DenseRounds < 0 || DenseMaxSteps < 1 || Every < 1 || SparseMaxSteps < 1 || !(LossTolerance >= 0))
            throw new ArgumentException(FormattableString.Invariant($"schedule {this} needs DenseRounds ≥ 0, step limits and Every ≥ 1, LossTolerance ≥ 0."), "schedule");
    }
}
