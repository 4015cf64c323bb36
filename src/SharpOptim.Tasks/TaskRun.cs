using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Tasks;

/// <summary>
/// One training run of a <see cref="TrainingTask"/>: its model and its own stream of training batches.
/// A step is <c>opt.zero_grad(); var (logits, targets) = run.Forward(); cross_entropy(logits, targets).backward();
/// opt.step();</c> — <see cref="TrainLoss"/> does the middle part.
/// </summary>
public abstract class TaskRun : IDisposable
{
    /// <summary>The model being trained.</summary>
    public abstract nn.Module Model { get; }

    /// <summary>The model's parameters with their module-path names (for name-based routing in Muon, Adam-mini).</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> NamedParameters =>
        Model.named_parameters().Select(p => (p.name, p.parameter)).ToList();

    /// <summary>Draws the next training batch and runs the model on it (in training mode): logits [n, classes]
    /// and integer targets [n].</summary>
    public abstract (Tensor Logits, Tensor Targets) Forward();

    /// <summary>Runs the model again on the batch the last <see cref="Forward"/> drew (for estimators such as Sophia's
    /// Hessian, which the official code computes on the current batch), without advancing the batch stream.</summary>
    public abstract (Tensor Logits, Tensor Targets) ForwardLast();

    /// <summary>The mean cross-entropy of the next training batch, with its graph (call backward on it).</summary>
    public Tensor TrainLoss()
    {
        var (logits, targets) = Forward();
        return nn.functional.cross_entropy(logits, targets);
    }

    /// <summary>Loss and accuracy on the task's held-out (test) split (evaluation mode, no graph).</summary>
    public abstract Evaluation Evaluate();

    /// <summary>Loss and accuracy on the task's validation split (evaluation mode, no graph): what tuning selects on.
    /// Only for a task created with a validation split (<see cref="TrainingTask.HasValidation"/>); otherwise an
    /// <see cref="InvalidOperationException"/>.</summary>
    public virtual Evaluation EvaluateValidation() =>
        throw new InvalidOperationException("This task was created without a validation split (TaskCatalog.Create(..., validation: true)).");

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the model.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing) Model.Dispose();
    }
}
