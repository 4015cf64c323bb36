using SharpOptim.Optimizers;
using SharpOptim.Training;
using TorchSharp;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SharpOptim.Checkpoints;

/// <summary>
/// Everything a training run needs to resume, for one <see cref="Checkpoint.Save(string, TrainingState)"/> and one
/// <see cref="Checkpoint.Load(string, TrainingState)"/>: the optimizer (and the <see cref="Training.Lookahead"/> that
/// wraps it), the weight average, the learning-rate scheduler's position and the model. Set the parts the run has;
/// loading expects the same parts the file holds (the model may be left out: its section is then checked and skipped).
/// <code>
/// var run = new TrainingState { Optimizer = adamw, Lookahead = lookahead, Ema = ema, Scheduler = onecycle, Model = model };
/// Checkpoint.Save("run.ckpt", run);
/// // ... in a new process, after building the same objects:
/// Checkpoint.Load("run.ckpt", run);
/// </code>
/// </summary>
public sealed class TrainingState
{
    /// <summary>The optimizer (the inner optimizer when a <see cref="Lookahead"/> wraps it; it may be left unset then).</summary>
    public OptimizerBase? Optimizer { get; init; }

    /// <summary>A Lookahead wrapping <see cref="Optimizer"/>: its slow weights and step count.</summary>
    public Lookahead? Lookahead { get; init; }

    /// <summary>An exponential moving average of the model's weights.</summary>
    public ExponentialMovingAverage? Ema { get; init; }

    /// <summary>A TorchSharp learning-rate scheduler driving the optimizer: its position (epoch, step count, rates and
    /// counters; see <see cref="SchedulerState"/>).</summary>
    public LRScheduler? Scheduler { get; init; }

    /// <summary>The model: every tensor of its <c>state_dict()</c> (parameters and buffers).</summary>
    public torch.nn.Module? Model { get; init; }

    /// <summary>The optimizer to save or load: <see cref="Optimizer"/>, or the one <see cref="Lookahead"/> wraps.
    /// Throws <see cref="ArgumentException"/> when the two disagree.</summary>
    internal OptimizerBase? ResolveOptimizer()
    {
        if (Lookahead is null) return Optimizer;
        if (Optimizer is null)
            return Lookahead.Inner as OptimizerBase ?? throw new ArgumentException(FormattableString.Invariant($"The Lookahead wraps {Lookahead.Inner.GetType().FullName}, not a SharpOptim optimizer: its state cannot go into a SharpOptim checkpoint."));
        if (!ReferenceEquals(Lookahead.Inner, Optimizer))
            throw new ArgumentException("The Lookahead wraps a different optimizer than TrainingState.Optimizer; set the one it wraps (or leave Optimizer unset).");
        return Optimizer;
    }
}
