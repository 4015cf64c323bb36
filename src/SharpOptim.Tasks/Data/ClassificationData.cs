using static TorchSharp.torch;

namespace SharpOptim.Tasks.Data;

/// <summary>A classification data set with a fixed train/test split, as float32 features and int64 labels, and
/// optionally a validation split carved out of the training rows (<see cref="WithValidation"/>) for tuning.</summary>
public sealed class ClassificationData : IDisposable
{
    internal ClassificationData(string name, Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int classes,
        Tensor? validationX = null, Tensor? validationY = null)
    {
        Name = name;
        TrainX = trainX;
        TrainY = trainY;
        TestX = testX;
        TestY = testY;
        Classes = classes;
        ValidationX = validationX;
        ValidationY = validationY;
    }

    /// <summary>Seed of the fixed permutation that picks the validation rows: the split is part of the task, the same
    /// on every machine and in every run.</summary>
    public const int ValidationSeed = 20_241_130;

    /// <summary>
    /// This data set with <paramref name="fraction"/> of its training rows (rounded up; at least one, and at least one
    /// left to train on) moved into a validation split; the test split is untouched. The rows are the last ones of a
    /// permutation of the training rows drawn from <see cref="ValidationSeed"/> with <see cref="Random"/>'s seeded
    /// (stable) generator, kept in their original order. Tuning selects on the validation split and reports the test
    /// split once, after selection. Takes ownership: this instance is disposed.
    /// </summary>
    public ClassificationData WithValidation(double fraction)
    {
        if (!(fraction > 0 && fraction < 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, FormattableString.Invariant($"validation fraction must be in (0, 1); got {fraction}."));
        if (ValidationX is not null) throw new InvalidOperationException(FormattableString.Invariant($"{Name} already has a validation split."));
        int n = (int)TrainX.shape[0];
        int v = (int)Math.Ceiling(fraction * n);
        if (v < 1 || n - v < 1)
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, FormattableString.Invariant($"validation fraction {fraction} of {n} training rows leaves an empty split."));
        var order = Enumerable.Range(0, n).ToArray();
        new Random(ValidationSeed).Shuffle(order);
        var valRows = order[(n - v)..].Order().Select(i => (long)i).ToArray();
        var trainRows = order[..(n - v)].Order().Select(i => (long)i).ToArray();
        using var vi = tensor(valRows);
        using var ti = tensor(trainRows);
        var result = new ClassificationData(Name, TrainX.index_select(0, ti), TrainY.index_select(0, ti), TestX.clone(), TestY.clone(), Classes,
            TrainX.index_select(0, vi), TrainY.index_select(0, vi));
        Dispose();
        return result;
    }

    /// <summary>Validation features, [n_validation, features], or null without a validation split.</summary>
    public Tensor? ValidationX { get; }
    /// <summary>Validation labels, or null without a validation split.</summary>
    public Tensor? ValidationY { get; }

    /// <summary>The data set's name.</summary>
    public string Name { get; }
    /// <summary>Training features, [n_train, features].</summary>
    public Tensor TrainX { get; }
    /// <summary>Training labels, [n_train], in [0, Classes).</summary>
    public Tensor TrainY { get; }
    /// <summary>Test features, [n_test, features].</summary>
    public Tensor TestX { get; }
    /// <summary>Test labels, [n_test].</summary>
    public Tensor TestY { get; }
    /// <summary>Number of classes.</summary>
    public int Classes { get; }
    /// <summary>Number of features per sample.</summary>
    public int Features => (int)TrainX.shape[1];

    /// <inheritdoc />
    public void Dispose()
    {
        TrainX.Dispose();
        TrainY.Dispose();
        TestX.Dispose();
        TestY.Dispose();
        ValidationX?.Dispose();
        ValidationY?.Dispose();
    }
}
