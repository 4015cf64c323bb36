using SharpOptim.Bilevel;
using SharpOptim.Optimizers;
using SharpOptim.Tasks.Data;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Bilevel;

/// <summary>
/// Data hyper-cleaning on scikit-learn's digits (Franceschi et al. 2017's task as run by Ji et al. 2021 and the
/// benchopt bilevel benchmark; setup from shared/papers/bilevel.md §9.1): all 1,797 images are permuted by the seed and
/// split 900 train / 300 validation / 597 test; each training label is replaced, with probability 0.5, by a uniformly
/// random DIFFERENT class (the mask is kept for evaluation). Inputs in [0, 1] with a bias feature appended (65).
/// Lower: g(λ, W; B) = mean_{i∈B} σ(λ_i)·CE(Wᵀx̃_i, ỹ_i) + (μ/2)‖W‖²_F, μ = 1e-3, W ∈ R^{65×10}.
/// Upper: f(W; B) = mean_{j∈B} CE(Wᵀx̃_j, y_j) on the clean validation split; x = λ ∈ R^{900}, starting at 0.
/// Per-example hypergradients are O(1/n_tr), so upper steps are quoted as multiples of n_tr. float64 throughout.
/// </summary>
public sealed class HyperCleaningTask : IDisposable
{
    /// <summary>μ, the lower level's ridge strength.</summary>
    public const double Mu = 1e-3;
    private const int Features = 65, Classes = 10;

    private HyperCleaningTask(Tensor trainX, Tensor trainY, bool[] clean, Tensor valX, Tensor valY, Tensor testX, Tensor testY)
    {
        TrainX = trainX; TrainY = trainY; Clean = clean; ValX = valX; ValY = valY; TestX = testX; TestY = testY;
    }

    /// <summary>Training inputs [n_tr, 65] (bias last), float64.</summary>
    public Tensor TrainX { get; }
    /// <summary>Training labels after corruption.</summary>
    public Tensor TrainY { get; }
    /// <summary>Per training example: true when its label was left intact.</summary>
    public bool[] Clean { get; }
    /// <summary>Validation inputs and (clean) labels.</summary>
    public Tensor ValX { get; }
    /// <inheritdoc cref="ValX"/>
    public Tensor ValY { get; }
    /// <summary>Test inputs and labels.</summary>
    public Tensor TestX { get; }
    /// <inheritdoc cref="TestX"/>
    public Tensor TestY { get; }
    /// <summary>n_tr.</summary>
    public int TrainCount => (int)TrainX.shape[0];
    /// <summary>n_val.</summary>
    public int ValCount => (int)ValX.shape[0];

    /// <summary>The digits task for <paramref name="seed"/> (split and corruption both follow the seed).</summary>
    public static HyperCleaningTask Digits(int seed, double corruption = 0.5, int trainCount = 900, int valCount = 300)
    {
        if (!(corruption >= 0 && corruption <= 1)) throw new ArgumentException($"corruption must be in [0, 1], got {corruption}.", nameof(corruption));
        using var data = Data.Digits.Load();
        using var scope = NewDisposeScope();
        var allX = cat(new[] { data.TrainX, data.TestX }, 0).to_type(ScalarType.Float64);
        var allY = cat(new[] { data.TrainY, data.TestY }, 0);
        int n = (int)allX.shape[0];
        if (trainCount < 1 || valCount < 1 || trainCount + valCount >= n)
            throw new ArgumentException($"trainCount + valCount must leave test images out of {n}; got {trainCount} + {valCount}.", nameof(trainCount));
        var order = tensor(EmbeddedData.Permutation(n, seed).Select(i => (long)i).ToArray());
        var x = cat(new[] { allX.index_select(0, order), ones(n, 1, dtype: ScalarType.Float64) }, 1);
        var y = allY.index_select(0, order).data<long>().ToArray();
        var rng = new Random(unchecked(seed * 7919 + 17));
        var clean = new bool[trainCount];
        var noisy = new long[trainCount];
        for (int i = 0; i < trainCount; i++)
        {
            clean[i] = rng.NextDouble() >= corruption;
            noisy[i] = clean[i] ? y[i] : (y[i] + 1 + rng.Next(Classes - 1)) % Classes;   // uniform over the other nine
        }
        var trX = x[..trainCount].clone().MoveToOuterDisposeScope();
        var vaX = x[trainCount..(trainCount + valCount)].clone().MoveToOuterDisposeScope();
        var teX = x[(trainCount + valCount)..].clone().MoveToOuterDisposeScope();
        var trY = tensor(noisy).MoveToOuterDisposeScope();
        var vaY = tensor(y[trainCount..(trainCount + valCount)]).MoveToOuterDisposeScope();
        var teY = tensor(y[(trainCount + valCount)..]).MoveToOuterDisposeScope();
        return new HyperCleaningTask(trX, trY, clean, vaX, vaY, teX, teY);
    }

    private static Tensor CrossEntropy(Tensor x, Tensor y, Tensor w) =>
        nn.functional.log_softmax(x.matmul(w), 1).gather(1, y.unsqueeze(1)).squeeze(1).neg();

    /// <summary>g(λ, W; batch).</summary>
    public Tensor Lower(Tensor lambda, Tensor w, Tensor? batch)
    {
        using var s = new ScalarHold();
        var x = batch is null ? TrainX : TrainX.index_select(0, batch);
        var y = batch is null ? TrainY : TrainY.index_select(0, batch);
        var l = batch is null ? lambda : lambda.index_select(0, batch);
        return (sigmoid(l) * CrossEntropy(x, y, w)).mean().add((w * w).sum(), s[Mu / 2]);
    }

    /// <summary>f(W; batch): the validation cross-entropy (λ enters only through W).</summary>
    public Tensor Upper(Tensor lambda, Tensor w, Tensor? batch)
    {
        var x = batch is null ? ValX : ValX.index_select(0, batch);
        var y = batch is null ? ValY : ValY.index_select(0, batch);
        return CrossEntropy(x, y, w).mean();
    }

    /// <summary>A fresh problem: λ = 0, W = 0.</summary>
    public BilevelProblem CreateProblem(BatchStream? upper = null, BatchStream? lower = null) =>
        new(Upper, Lower, zeros(TrainCount, dtype: ScalarType.Float64).requires_grad_(true),
            zeros(Features, Classes, dtype: ScalarType.Float64).requires_grad_(true), upper, lower);

    /// <summary>Test accuracy of W.</summary>
    public double TestAccuracy(Tensor w)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return TestX.matmul(w.detach()).argmax(1).eq(TestY).to_type(ScalarType.Float64).mean().item<double>();
    }

    /// <summary>Validation loss f(W) on the whole validation split.</summary>
    public double ValidationLoss(Tensor w)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return Upper(w, w.detach(), null).item<double>();
    }

    /// <summary>Test cross-entropy of W.</summary>
    public double TestLoss(Tensor w)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return CrossEntropy(TestX, TestY, w.detach()).mean().item<double>();
    }

    /// <summary>Area under the ROC curve of the weights σ(λ_i) (equivalently λ_i) as a score for "label is clean".</summary>
    public double WeightAuc(Tensor lambda) => Auc.Compute(lambda.detach().to_type(ScalarType.Float64).data<double>().ToArray(), Clean);

    /// <summary>
    /// W trained on the training split with fixed per-example weights (all 1: the noisy-label baseline; the clean mask:
    /// the clean-only oracle) by <paramref name="steps"/> of Nesterov-accelerated gradient descent on g, step 1/L with
    /// L from the data (½·λ_max(X̃ᵀX̃)/n + μ).
    /// </summary>
    public Tensor TrainWithFixedWeights(bool cleanOnly, int steps = 3000)
    {
        using var scope = NewDisposeScope();
        var weights = tensor(Clean.Select(c => cleanOnly && !c ? -40.0 : 40.0).ToArray());   // σ(±40) = 1 or 4e-18
        var problem = new BilevelProblem(Upper, Lower, weights.requires_grad_(true), zeros(Features, Classes, dtype: ScalarType.Float64).requires_grad_(true));
        var oracle = new HypergradientOracle(problem);
        double lr = 1.0 / LowerSmoothness();
        using var _ = no_grad();
        var w = problem.Y.detach().clone();
        var prev = w.clone();
        using var s = new ScalarHold();
        for (int t = 0; t < steps; t++)
        {
            double beta = t / (t + 3.0);
            var look = w.add(w.add(prev, s[-1.0]), s[beta]);
            var g = oracle.LowerGradientY(problem.X, look, null);
            prev.copy_(w);
            w.copy_(look.add(g, s[-lr]));
            look.Dispose(); g.Dispose();
        }
        return w.MoveToOuterDisposeScope();
    }

    /// <summary>An upper bound on the lower loss's smoothness in W: ½·λ_max(X̃ᵀX̃)/n_tr + μ (softmax CE's Hessian ≤ ½I per example).</summary>
    public double LowerSmoothness()
    {
        using var scope = NewDisposeScope();
        var gram = TrainX.T.matmul(TrainX);
        double top = linalg.eigvalsh(gram).max().item<double>();
        return 0.5 * top / TrainCount + Mu;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        TrainX.Dispose(); TrainY.Dispose(); ValX.Dispose(); ValY.Dispose(); TestX.Dispose(); TestY.Dispose();
    }
}
