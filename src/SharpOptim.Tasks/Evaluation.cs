namespace SharpOptim.Tasks;

/// <summary>A model's loss (mean cross-entropy, nats) and accuracy on a task's held-out split.</summary>
/// <param name="Loss">Mean cross-entropy over the held-out examples (for charlm: over held-out characters).</param>
/// <param name="Accuracy">Fraction of held-out examples (characters) whose arg-max prediction is right.</param>
public readonly record struct Evaluation(double Loss, double Accuracy);
