using SharpOptim.Tasks.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Tasks;

/// <summary>A classifier trained with cross-entropy on a <see cref="ClassificationData"/> set.</summary>
public sealed class ClassificationTask : TrainingTask
{
    private readonly Func<ClassificationData> _load;
    private readonly Func<ClassificationData, nn.Module<Tensor, Tensor>> _model;
    private ClassificationData? _data;

    /// <summary>A task over data loaded on first use, with a model built per run; with
    /// <paramref name="validationFraction"/> &gt; 0 that fraction of the training rows becomes a validation split
    /// (<see cref="ClassificationData.WithValidation"/>).</summary>
    public ClassificationTask(string name, string description, int batchSize, Func<ClassificationData> load,
        Func<ClassificationData, nn.Module<Tensor, Tensor>> model, double validationFraction = 0)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be positive.");
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, FormattableString.Invariant($"validation fraction must be in [0, 1); got {validationFraction}."));
        Name = name;
        Description = description;
        BatchSize = batchSize;
        _load = validationFraction > 0 ? () => load().WithValidation(validationFraction) : load;
        _model = model;
        ValidationFraction = validationFraction;
    }

    /// <summary>Fraction of the training rows held out for validation (0: none).</summary>
    public double ValidationFraction { get; }

    /// <inheritdoc />
    public override bool HasValidation => ValidationFraction > 0;

    /// <inheritdoc />
    public override string Name { get; }
    /// <inheritdoc />
    public override string Description { get; }
    /// <inheritdoc />
    public override int BatchSize { get; }

    /// <summary>The data set (loaded on first use).</summary>
    public ClassificationData Data => _data ??= _load();

    /// <inheritdoc />
    public override TaskRun Start(int seed) => new Run(this, _model(Data), seed);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _data?.Dispose();
    }

    private sealed class Run(ClassificationTask task, nn.Module<Tensor, Tensor> model, int seed) : TaskRun
    {
        private readonly BatchOrder _batches = new((int)task.Data.TrainX.shape[0], Math.Min(task.BatchSize, (int)task.Data.TrainX.shape[0]), seed);

        public override nn.Module Model => model;

        private long[]? _last;

        public override (Tensor Logits, Tensor Targets) Forward()
        {
            _last = _batches.Next();
            return ForwardLast();
        }

        public override (Tensor Logits, Tensor Targets) ForwardLast()
        {
            if (_last is null) throw new InvalidOperationException("No batch has been drawn yet.");
            model.train();
            using var idx = tensor(_last);
            var x = task.Data.TrainX.index_select(0, idx);
            return (model.forward(x), task.Data.TrainY.index_select(0, idx));
        }

        public override Evaluation Evaluate() => EvaluateOn(task.Data.TestX, task.Data.TestY);

        public override Evaluation EvaluateValidation() =>
            task.Data.ValidationX is { } x && task.Data.ValidationY is { } y ? EvaluateOn(x, y) : base.EvaluateValidation();

        private Evaluation EvaluateOn(Tensor x, Tensor y)
        {
            model.eval();
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var logits = model.forward(x);
            double loss = nn.functional.cross_entropy(logits, y).item<float>();
            double acc = logits.argmax(1).eq(y).to_type(ScalarType.Float64).mean().item<double>();
            return new Evaluation(loss, acc);
        }
    }
}
