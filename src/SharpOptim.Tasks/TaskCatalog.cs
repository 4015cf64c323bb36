using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;

namespace SharpOptim.Tasks;

/// <summary>The tasks <c>sharpoptim compare</c> runs, by name.</summary>
public static class TaskCatalog
{
    /// <summary>Every task name, the default first.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "digits", "logreg", "charlm", "mnist10k", "mnist10k-cnn" };

    /// <summary>
    /// Creates the task named <paramref name="name"/>; mnist10k reads its data from <paramref name="cacheDirectory"/>
    /// (default <see cref="Mnist10k.DefaultCacheDirectory"/>) when first used. Unknown names are an error listing the valid ones.
    /// </summary>
    /// <remarks>With <paramref name="validation"/> true, <see cref="ValidationFraction"/> of the training data becomes a
    /// validation split that training never sees (what tuning selects on); the test split is the same either way.</remarks>
    public static TrainingTask Create(string name, string? cacheDirectory = null, bool validation = false)
    {
        double v = validation ? ValidationFraction : 0;
        string Split(int train, int test) => validation
            ? FormattableString.Invariant($"{train - (int)Math.Ceiling(v * train):N0} train / {(int)Math.Ceiling(v * train):N0} validation / {test:N0} test")
            : FormattableString.Invariant($"{train:N0} train / {test:N0} test");
        return name switch
        {
            "digits" => new ClassificationTask("digits", $"scikit-learn 8x8 digits ({Split(1437, 360)}), MLP 64-64-10", 64,
                Digits.Load, d => new Mlp(d.Features, 64, d.Classes), v),
            "logreg" => new ClassificationTask("logreg", $"logistic regression on scikit-learn breast_cancer ({Split(455, 114)}, 30 standardised features)", 32,
                BreastCancer.Load, d => new Mlp(d.Features, d.Classes), v),
            "charlm" => new CharLmTask(validationFraction: v),
            "mnist10k" => new ClassificationTask("mnist10k", $"MNIST 10k ({Split(8000, 2000)}), MLP 784-128-10", 64,
                () => Mnist10k.Load(cacheDirectory), d => new Mlp(d.Features, 128, d.Classes), v),
            "mnist10k-cnn" => new ClassificationTask("mnist10k-cnn", $"MNIST 10k ({Split(8000, 2000)}), CNN conv16-conv32-fc64", 64,
                () => Mnist10k.Load(cacheDirectory), d => new SmallCnn(d.Classes), v),
            _ => throw new ArgumentException(FormattableString.Invariant($"Unknown task '{name}'; valid tasks: {string.Join(", ", Names)}."), nameof(name)),
        };
    }

    /// <summary>Fraction of a task's training data held out for validation when it is created with a validation split
    /// (for charlm, the last 20% of its training text).</summary>
    public const double ValidationFraction = 0.2;
}
