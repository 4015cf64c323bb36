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
    public static TrainingTask Create(string name, string? cacheDirectory = null) => name switch
    {
        "digits" => new ClassificationTask("digits", "scikit-learn 8x8 digits (1,437 train / 360 test), MLP 64-64-10", 64,
            Digits.Load, d => new Mlp(d.Features, 64, d.Classes)),
        "logreg" => new ClassificationTask("logreg", "logistic regression on scikit-learn breast_cancer (455 train / 114 test, 30 standardised features)", 32,
            BreastCancer.Load, d => new Mlp(d.Features, d.Classes)),
        "charlm" => new CharLmTask(),
        "mnist10k" => new ClassificationTask("mnist10k", "MNIST 10k (8,000 train / 2,000 test), MLP 784-128-10", 64,
            () => Mnist10k.Load(cacheDirectory), d => new Mlp(d.Features, 128, d.Classes)),
        "mnist10k-cnn" => new ClassificationTask("mnist10k-cnn", "MNIST 10k (8,000 train / 2,000 test), CNN conv16-conv32-fc64", 64,
            () => Mnist10k.Load(cacheDirectory), d => new SmallCnn(d.Classes)),
        _ => throw new ArgumentException(FormattableString.Invariant($"Unknown task '{name}'; valid tasks: {string.Join(", ", Names)}."), nameof(name)),
    };
}
