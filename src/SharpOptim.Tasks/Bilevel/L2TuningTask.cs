using SharpOptim.Bilevel;
using SharpOptim.Optimizers;
using SharpOptim.Tasks.Data;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Bilevel;

/// <summary>
/// L2-regularisation tuning of logistic regression on breast_cancer (setup from shared/papers/bilevel.md §9.2): the 569
/// samples are permuted by the seed and split 200 train / 150 validation / 219 test, standardised with the training
/// statistics; 30 pure-noise N(0, 1) features are appended (60 features, then a bias). Lower:
/// g(λ, w) = mean_i [softplus(w·x̃_i) − y_i w·x̃_i] + ½ Σ_{j≤60} exp(λ_{G(j)}) w_j² (bias unregularised; exp keeps the
/// strengths positive); upper: the validation mean logistic loss. The grouping G is one of
/// <see cref="L2Grouping"/>: one global strength, two groups (the 30 real and the 30 noise features), or one per
/// feature. λ is kept in [−10, 4] (<see cref="BilevelProblem.XBounds"/>): per-feature strengths otherwise overfit the
/// validation set. float64 throughout.
/// </summary>
public sealed class L2TuningTask : IDisposable
{
    /// <summary>Real and appended noise features.</summary>
    public const int RealFeatures = 30, NoiseFeatures = 30;
    /// <summary>The box λ is kept in.</summary>
    public const double MinLogStrength = -10, MaxLogStrength = 4;
    private readonly Tensor _groupIndex;

    private L2TuningTask(L2Grouping grouping, Tensor trainX, Tensor trainY, Tensor valX, Tensor valY, Tensor testX, Tensor testY)
    {
        Grouping = grouping;
        TrainX = trainX; TrainY = trainY; ValX = valX; ValY = valY; TestX = testX; TestY = testY;
        Groups = grouping switch { L2Grouping.Global => 1, L2Grouping.RealAndNoise => 2, _ => RealFeatures + NoiseFeatures };
        _groupIndex = tensor(Enumerable.Range(0, RealFeatures + NoiseFeatures).Select(j => (long)(grouping switch
        {
            L2Grouping.Global => 0,
            L2Grouping.RealAndNoise => j < RealFeatures ? 0 : 1,
            _ => j,
        })).ToArray()).DetachFromDisposeScope();   // built inside the factory's dispose scope, owned by this object
    }

    /// <summary>How features share strengths.</summary>
    public L2Grouping Grouping { get; }
    /// <summary>Number of hyperparameters.</summary>
    public int Groups { get; }
    /// <summary>Inputs [n, 61] (bias last) and 0/1 labels (float64) of each split.</summary>
    public Tensor TrainX { get; }
    /// <inheritdoc cref="TrainX"/>
    public Tensor TrainY { get; }
    /// <inheritdoc cref="TrainX"/>
    public Tensor ValX { get; }
    /// <inheritdoc cref="TrainX"/>
    public Tensor ValY { get; }
    /// <inheritdoc cref="TrainX"/>
    public Tensor TestX { get; }
    /// <inheritdoc cref="TrainX"/>
    public Tensor TestY { get; }
    /// <summary>n_tr and n_val.</summary>
    public int TrainCount => (int)TrainX.shape[0];
    /// <inheritdoc cref="TrainCount"/>
    public int ValCount => (int)ValX.shape[0];
    private int Dim => (int)TrainX.shape[1];

    /// <summary>The task for <paramref name="seed"/> (split and noise features follow the seed).</summary>
    public static L2TuningTask BreastCancer(int seed, L2Grouping grouping, int trainCount = 200, int valCount = 150)
    {
        using var data = Data.BreastCancer.Load();
        using var scope = NewDisposeScope();
        var allX = cat(new[] { data.TrainX, data.TestX }, 0).to_type(ScalarType.Float64);
        var allY = cat(new[] { data.TrainY, data.TestY }, 0).to_type(ScalarType.Float64);
        int n = (int)allX.shape[0];
        if (trainCount < 2 || valCount < 1 || trainCount + valCount >= n)
            throw new ArgumentException($"trainCount + valCount must leave test samples out of {n}; got {trainCount} + {valCount}.", nameof(trainCount));
        var order = tensor(EmbeddedData.Permutation(n, seed + 5000).Select(i => (long)i).ToArray());
        var x = allX.index_select(0, order);
        var y = allY.index_select(0, order);
        var train = x[..trainCount];
        var mean = train.mean(new long[] { 0 }, keepdim: true);
        var std = train.std(0, keepdim: true);
        var noise = randn(n, NoiseFeatures, dtype: ScalarType.Float64, generator: new TorchSharp.torch.Generator((ulong)(seed + 77)));
        var full = cat(new[] { (x - mean) / std, noise, ones(n, 1, dtype: ScalarType.Float64) }, 1);
        Tensor Part(Tensor t, int a, int b) => t[a..b].clone().MoveToOuterDisposeScope();
        return new L2TuningTask(grouping, Part(full, 0, trainCount), Part(y, 0, trainCount), Part(full, trainCount, trainCount + valCount),
            Part(y, trainCount, trainCount + valCount), Part(full, trainCount + valCount, n), Part(y, trainCount + valCount, n));
    }

    private static Tensor LogisticLoss(Tensor x, Tensor y, Tensor w)
    {
        // softplus(s) = relu(s) + log1p(exp(−|s|)), written out: TorchSharp's softplus passes its beta and threshold as
        // unheld Scalars (see ScalarHold).
        using var hold = new ScalarHold();
        var s = x.matmul(w);
        var softplus = nn.functional.relu(s).add(s.abs().neg().exp().log1p(), hold[1.0]);
        return softplus.sub(y * s).mean();
    }

    /// <summary>Per-feature strengths exp(λ_{G(j)}) for the 60 features.</summary>
    private Tensor Strengths(Tensor lambda) => exp(lambda).index_select(0, _groupIndex);

    /// <summary>g(λ, w; batch).</summary>
    public Tensor Lower(Tensor lambda, Tensor w, Tensor? batch)
    {
        using var s = new ScalarHold();
        var x = batch is null ? TrainX : TrainX.index_select(0, batch);
        var y = batch is null ? TrainY : TrainY.index_select(0, batch);
        var wf = w[..(Dim - 1)];
        return LogisticLoss(x, y, w).add((Strengths(lambda) * wf * wf).sum(), s[0.5]);
    }

    /// <summary>f(w; batch), the validation logistic loss.</summary>
    public Tensor Upper(Tensor lambda, Tensor w, Tensor? batch)
    {
        var x = batch is null ? ValX : ValX.index_select(0, batch);
        var y = batch is null ? ValY : ValY.index_select(0, batch);
        return LogisticLoss(x, y, w);
    }

    /// <summary>A fresh problem: λ = <paramref name="initialLogStrength"/> for every group, w = 0, λ kept in [−10, 4].</summary>
    public BilevelProblem CreateProblem(BatchStream? upper = null, BatchStream? lower = null, double initialLogStrength = 0)
    {
        using var s = new ScalarHold();
        return new(Upper, Lower, full(Groups, s[initialLogStrength], dtype: ScalarType.Float64).requires_grad_(true),
            zeros(Dim, dtype: ScalarType.Float64).requires_grad_(true), upper, lower, (MinLogStrength, MaxLogStrength));
    }

    /// <summary>The exact lower solution w*(λ) by 30 Newton steps from 0 (g is strongly convex in the regularised
    /// coordinates; the bias direction is kept invertible by the data).</summary>
    public Tensor SolveLower(Tensor lambda)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var s = new ScalarHold();
        var w = zeros(Dim, dtype: ScalarType.Float64);
        var reg = cat(new[] { Strengths(lambda.detach()), zeros(1, dtype: ScalarType.Float64) });
        for (int it = 0; it < 30; it++)
        {
            var p = sigmoid(TrainX.matmul(w));
            var grad = TrainX.T.matmul(p.add(TrainY, s[-1.0])).div(s[TrainCount]).add(reg * w, s[1.0]);
            var curvature = p * p.neg().add(s[1.0], s[1.0]);
            var h = (TrainX.T * curvature.unsqueeze(0)).matmul(TrainX).div(s[TrainCount]).add(diag(reg), s[1.0]);
            w = w.add(linalg.solve(h, grad), s[-1.0]);
        }
        return w.MoveToOuterDisposeScope();
    }

    /// <summary>Validation, test loss and test accuracy of w.</summary>
    public (double Val, double Test, double TestAccuracy) Metrics(Tensor w)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var wd = w.detach();
        double acc = TestX.matmul(wd).gt(zeros(1, dtype: ScalarType.Float64)).to_type(ScalarType.Float64).eq(TestY).to_type(ScalarType.Float64).mean().item<double>();
        return (LogisticLoss(ValX, ValY, wd).item<double>(), LogisticLoss(TestX, TestY, wd).item<double>(), acc);
    }

    /// <summary>The best single global log-strength on an evenly spaced grid over [<paramref name="from"/>, <paramref name="to"/>]
    /// by validation loss (each point solved exactly), with its metrics.</summary>
    public (double LogStrength, double Val, double Test, double TestAccuracy) GridSearch(double from = -8, double to = 2, int points = 41)
    {
        (double, double, double, double) best = (double.NaN, double.PositiveInfinity, double.NaN, double.NaN);
        for (int i = 0; i < points; i++)
        {
            double l = from + (to - from) * i / (points - 1);
            using var lam = tensor(Enumerable.Repeat(l, Groups).ToArray());
            using var w = SolveLower(lam);
            var (val, test, acc) = Metrics(w);
            if (val < best.Item2) best = (l, val, test, acc);
        }
        return best;
    }

    /// <summary>Smoothness bound of g in w at the largest allowed strength: ¼λ_max(X̃ᵀX̃)/n_tr + e^4.</summary>
    public double LowerSmoothness()
    {
        using var scope = NewDisposeScope();
        return 0.25 * linalg.eigvalsh(TrainX.T.matmul(TrainX)).max().item<double>() / TrainCount + Math.Exp(MaxLogStrength);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        TrainX.Dispose(); TrainY.Dispose(); ValX.Dispose(); ValY.Dispose(); TestX.Dispose(); TestY.Dispose(); _groupIndex.Dispose();
    }
}
