namespace SharpOptim.Tasks.MultiTask;

/// <summary>What a head of a <see cref="MultiTaskProblem"/> predicts, and so its loss and metric.</summary>
public enum MultiTaskHeadKind
{
    /// <summary>The digit (10 classes): cross-entropy; metric test accuracy.</summary>
    Digit,
    /// <summary>Whether the digit is odd: binary cross-entropy on one logit; metric test accuracy.</summary>
    Parity,
    /// <summary>Whether the digit is 5 or more: binary cross-entropy on one logit; metric test accuracy.</summary>
    AtLeastFive,
    /// <summary>The input pixels times a scale: mean squared error; metric test MSE (lower is better).</summary>
    Reconstruction,
}
