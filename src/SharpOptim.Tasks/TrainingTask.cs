namespace SharpOptim.Tasks;

/// <summary>
/// A real task to compare optimizers on: a data set with a fixed train/test split and a reference model.
/// Every task is a classification in the wide sense — the model maps a batch to logits over classes (or, for
/// the character-level language model, over the next character) and is trained with cross-entropy — so one
/// training loop serves all of them (<see cref="TaskRun"/>).
/// </summary>
public abstract class TrainingTask : IDisposable
{
    /// <summary>The task's name as the command line spells it.</summary>
    public abstract string Name { get; }

    /// <summary>One line: data, split, model.</summary>
    public abstract string Description { get; }

    /// <summary>Whether the task holds a validation split carved out of its training data (then
    /// <see cref="TaskRun.EvaluateValidation"/> works and training never sees those rows).</summary>
    public virtual bool HasValidation => false;

    /// <summary>Examples (sequences, for charlm) per training batch.</summary>
    public abstract int BatchSize { get; }

    /// <summary>Terms the batch loss averages over: examples, or for a language model examples × positions
    /// (what Sophia's batch-size hyperparameter counts).</summary>
    public virtual int LossTermsPerBatch => BatchSize;

    /// <summary>Architecture facts some optimizers need, by their hyperparameter names (Adam-mini's "dim" and
    /// "n_heads" for a transformer); empty for models without attention.</summary>
    public virtual IReadOnlyDictionary<string, double> ArchitectureHints { get; } = new Dictionary<string, double>();

    /// <summary>
    /// Starts one training run: builds the model with its parameters drawn from libtorch's global generator
    /// (seeded by the caller), and a batch order drawn from <paramref name="seed"/>.
    /// </summary>
    public abstract TaskRun Start(int seed);

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the task's data tensors.</summary>
    protected virtual void Dispose(bool disposing) { }
}
