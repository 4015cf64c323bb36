using SharpOptim.Tasks.Data;
using SharpOptim.Tasks.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Tasks;

/// <summary>
/// Character-level language modelling: a <see cref="CharTransformer"/> predicts the next character of
/// <see cref="TextCorpus.Fortunes"/>. A training batch is <see cref="BatchSize"/> windows of
/// <see cref="BlockSize"/>+1 characters at seeded random offsets in the training text; the test split is scored on
/// every non-overlapping window of the held-out text (loss in nats per character, next-character accuracy).
/// </summary>
public sealed class CharLmTask : TrainingTask
{
    private readonly Lazy<TextCorpus> _corpus;

    /// <summary>The task with the given model size (defaults: 4 layers, width 128, 4 heads, context 64).</summary>
    /// <remarks>With <paramref name="validationFraction"/> &gt; 0 the last that fraction of the training text becomes a
    /// validation split (contiguous, so no validation window overlaps a training one); training windows are drawn
    /// from the rest only.</remarks>
    public CharLmTask(int layers = 4, int dim = 128, int heads = 4, int blockSize = 64, int batchSize = 32, Func<TextCorpus>? corpus = null,
        double validationFraction = 0)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive.");
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, FormattableString.Invariant($"validation fraction must be in [0, 1); got {validationFraction}."));
        ValidationFraction = validationFraction;
        Layers = layers;
        Dim = dim;
        Heads = heads;
        BlockSize = blockSize;
        BatchSize = batchSize;
        _corpus = new Lazy<TextCorpus>(corpus ?? TextCorpus.Fortunes);
    }

    /// <inheritdoc />
    public override string Name => "charlm";
    /// <inheritdoc />
    public override string Description => FormattableString.Invariant($"character-level GPT ({Layers} layers, width {Dim}, {Heads} heads, context {BlockSize}) on Debian fortunes text ({(HasValidation ? "train/validation/test" : "train/test")} {Chars()} chars)");

    private string Chars() => HasValidation
        ? FormattableString.Invariant($"{ValidationStart / 1000}k/{(Corpus.Train.Length - ValidationStart) / 1000}k/{Corpus.Test.Length / 1000}k")
        : FormattableString.Invariant($"{Corpus.Train.Length / 1000}k/{Corpus.Test.Length / 1000}k");
    /// <inheritdoc />
    public override int BatchSize { get; }
    /// <inheritdoc />
    public override int LossTermsPerBatch => BatchSize * BlockSize;
    /// <inheritdoc />
    public override IReadOnlyDictionary<string, double> ArchitectureHints => new Dictionary<string, double> { ["dim"] = Dim, ["n_heads"] = Heads };
    /// <summary>Transformer blocks.</summary>
    public int Layers { get; }
    /// <summary>Model width (what Adam-mini calls dim).</summary>
    public int Dim { get; }
    /// <summary>Attention heads (and key/value heads).</summary>
    public int Heads { get; }
    /// <summary>Characters of context.</summary>
    public int BlockSize { get; }
    /// <summary>The text.</summary>
    public TextCorpus Corpus => _corpus.Value;
    /// <summary>Fraction of the training text held out for validation (0: none).</summary>
    public double ValidationFraction { get; }
    /// <inheritdoc />
    public override bool HasValidation => ValidationFraction > 0;

    /// <summary>Where the validation text starts in <see cref="TextCorpus.Train"/> (its length without a validation split).</summary>
    private int ValidationStart => Corpus.Train.Length - (int)Math.Ceiling(ValidationFraction * Corpus.Train.Length);

    /// <inheritdoc />
    public override TaskRun Start(int seed) =>
        new Run(this, new CharTransformer(Corpus.Vocabulary.Count, BlockSize, Dim, Heads, Layers), seed);

    private sealed class Run(CharLmTask task, CharTransformer model, int seed) : TaskRun
    {
        private readonly Random _rng = new(seed);

        public override nn.Module Model => model;

        private long[]? _x, _y;

        public override (Tensor Logits, Tensor Targets) ForwardLast()
        {
            if (_x is null || _y is null) throw new InvalidOperationException("No batch has been drawn yet.");
            model.train();
            int b = task.BatchSize, t = task.BlockSize;
            using var xs = tensor(_x).view(b, t);
            return (model.forward(xs).view(b * t, -1), tensor(_y));
        }

        public override (Tensor Logits, Tensor Targets) Forward()
        {
            int b = task.BatchSize, t = task.BlockSize;
            var train = task.Corpus.Train.AsSpan(0, task.ValidationStart);
            var x = new long[b * t];
            var y = new long[b * t];
            for (int i = 0; i < b; i++)
            {
                int start = _rng.Next(train.Length - t - 1);
                train.Slice(start, t).CopyTo(x.AsSpan(i * t, t));
                train.Slice(start + 1, t).CopyTo(y.AsSpan(i * t, t));
            }
            (_x, _y) = (x, y);
            return ForwardLast();
        }

        public override Evaluation Evaluate() => EvaluateOn(task.Corpus.Test);

        public override Evaluation EvaluateValidation() =>
            task.HasValidation ? EvaluateOn(task.Corpus.Train[task.ValidationStart..]) : base.EvaluateValidation();

        private Evaluation EvaluateOn(long[] test)
        {
            model.eval();
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            int t = task.BlockSize, windows = (test.Length - 1) / t;
            var x = tensor(test[..(windows * t)]).view(windows, t);
            var y = tensor(test[1..(windows * t + 1)]);
            double loss = 0, correct = 0;
            const int chunk = 64;
            for (int w = 0; w < windows; w += chunk)
            {
                int n = Math.Min(chunk, windows - w);
                var logits = model.forward(x[w..(w + n)]).view(n * t, -1);
                var target = y[(w * t)..((w + n) * t)];
                loss += nn.functional.cross_entropy(logits, target, reduction: nn.Reduction.Sum).item<float>();
                correct += logits.argmax(1).eq(target).sum().item<long>();
            }
            return new Evaluation(loss / (windows * t), correct / (windows * t));
        }
    }
}
