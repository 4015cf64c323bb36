using SharpOptim.Tasks.Data;

namespace SharpOptim.Tasks.MultiTask;

/// <summary>
/// A multi-task benchmark on one of the project's digit data sets: a shared MLP trunk (ReLU after every layer) and one
/// linear head per task (<see cref="MultiTaskHeadKind"/>), trained with Adam. The task sets follow the brief
/// (../shared/papers/multitask.md §7): <c>digits-3task</c> (8x8 digits; trunk 64-64-16, the 16-wide bottleneck makes
/// the tasks compete; heads digit, parity, reconstruction of the raw 0..16 pixel values; batch 64, 900 steps ≈ 40
/// epochs) and <c>mnist10k-4task</c> (MNIST 10k; trunk 784-256-32; heads digit, parity, digit ≥ 5, reconstruction of
/// the pixels × 10; batch 128, 625 steps = 10 epochs).
/// </summary>
public sealed class MultiTaskProblem
{
    private MultiTaskProblem(string name, string description, Func<ClassificationData> load, int[] trunk, MultiTaskHeadKind[] heads,
        double reconstructionScale, int batchSize, int steps)
    {
        Name = name;
        Description = description;
        Load = load;
        TrunkWidths = trunk;
        Heads = heads;
        ReconstructionScale = reconstructionScale;
        BatchSize = batchSize;
        DefaultSteps = steps;
    }

    /// <summary>The problems by name.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "digits-3task", "mnist10k-4task" };

    /// <summary>The problem named <paramref name="name"/> (mnist10k reads <paramref name="cacheDirectory"/>).</summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the valid ones.</exception>
    public static MultiTaskProblem Create(string name, string? cacheDirectory = null) => name switch
    {
        "digits-3task" => new MultiTaskProblem(name,
            "scikit-learn 8x8 digits (1,437 train / 360 test); trunk 64-64-16 (ReLU); heads: digit (CE), parity (BCE), pixel reconstruction on the 0..16 scale (MSE); Adam lr 1e-3, batch 64",
            Digits.Load, new[] { 64, 64, 16 }, new[] { MultiTaskHeadKind.Digit, MultiTaskHeadKind.Parity, MultiTaskHeadKind.Reconstruction }, 16, 64, 900),
        "mnist10k-4task" => new MultiTaskProblem(name,
            "MNIST 10k (8,000 train / 2,000 test); trunk 784-256-32 (ReLU); heads: digit (CE), parity (BCE), digit >= 5 (BCE), reconstruction of pixels x 10 (MSE); Adam lr 1e-3, batch 128",
            () => Mnist10k.Load(cacheDirectory), new[] { 784, 256, 32 },
            new[] { MultiTaskHeadKind.Digit, MultiTaskHeadKind.Parity, MultiTaskHeadKind.AtLeastFive, MultiTaskHeadKind.Reconstruction }, 10, 128, 625),
        _ => throw new ArgumentException(FormattableString.Invariant($"Unknown multi-task problem '{name}'; valid: {string.Join(", ", Names)}."), nameof(name)),
    };

    /// <summary>The problem's name.</summary>
    public string Name { get; }
    /// <summary>One line describing data, model and training.</summary>
    public string Description { get; }
    /// <summary>Loads the data set.</summary>
    public Func<ClassificationData> Load { get; }
    /// <summary>Trunk widths: input, hidden..., representation.</summary>
    public IReadOnlyList<int> TrunkWidths { get; }
    /// <summary>The heads, in task order.</summary>
    public IReadOnlyList<MultiTaskHeadKind> Heads { get; }
    /// <summary>The reconstruction target is the input times this.</summary>
    public double ReconstructionScale { get; }
    /// <summary>Examples per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Steps per run when none are asked for.</summary>
    public int DefaultSteps { get; }
    /// <summary>Adam's learning rate.</summary>
    public double LearningRate => 1e-3;

    /// <summary>A short name for task <paramref name="t"/>, e.g. "digit".</summary>
    public string TaskName(int t) => Heads[t] switch
    {
        MultiTaskHeadKind.Digit => "digit",
        MultiTaskHeadKind.Parity => "parity",
        MultiTaskHeadKind.AtLeastFive => "ge5",
        _ => "recon",
    };

    /// <summary>Whether task <paramref name="t"/>'s metric is better when higher (accuracy) or lower (MSE).</summary>
    public bool HigherIsBetter(int t) => Heads[t] != MultiTaskHeadKind.Reconstruction;

    /// <summary>Task <paramref name="t"/>'s metric name.</summary>
    public string MetricName(int t) => HigherIsBetter(t) ? TaskName(t) + " acc" : TaskName(t) + " MSE";
}
