using SharpOptim.Bilevel;
using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Bilevel;

/// <summary>
/// Multi-block data hyper-cleaning on digits: the official BSVRB hyperparameter-optimisation setting (Hu et al.,
/// ICML 2023, arXiv 2305.18730; quanqihu/BSVRB_ICML2023 Hyperparameter_Optimization/HO: m linear logistic models sharing
/// per-example weights σ(p_j) on the training loss) at CPU scale, on the digits split and 50% label corruption of
/// <see cref="HyperCleaningTask.Digits"/> (900 train / 300 validation / 597 test). The m = 10 blocks are the one-vs-rest
/// binary problems, one per class (the official code's blocks differ by a temperature instead; here they differ by the
/// class, so every block needs the shared weights to be right): with b_ij = +1 if example j's (noisy) label is i, else −1,
/// g_i(λ, w_i; B) = mean_{j∈B} σ(λ_j)·softplus(−b_ij w_i·x̃_j) + (μ/2)‖w_i‖², μ = 1e-3;
/// f_i(w_i; B') = mean_{j∈B'} softplus(−b_ij w_i·x̃_j) on the clean validation split. x = λ ∈ R^{900} (start 0),
/// y = W ∈ R^{10×65} (block i is row i, start 0). The classifier predicts argmax_i w_i·x̃. float64 throughout.
/// </summary>
public sealed class OneVsRestHyperCleaningTask : IDisposable
{
    /// <summary>μ, each block's ridge strength.</summary>
    public const double Mu = 1e-3;
    /// <summary>m: one block per digit class.</summary>
    public const int Blocks = 10;
    private readonly HyperCleaningTask _data;
    private readonly Tensor _trainSigns, _valSigns;

    private OneVsRestHyperCleaningTask(HyperCleaningTask data)
    {
        _data = data;
        using var scope = NewDisposeScope();
        using var s = new ScalarHold();
        var classes = tensor(Enumerable.Range(0, Blocks).Select(i => (long)i).ToArray()).unsqueeze(1);
        Tensor Signs(Tensor labels) => labels.unsqueeze(0).eq(classes).to_type(ScalarType.Float64).mul(s[2.0]).sub(s[1.0]);
        _trainSigns = Signs(data.TrainY).DetachFromDisposeScope();   // [m, n_tr], ±1
        _valSigns = Signs(data.ValY).DetachFromDisposeScope();
    }

    /// <summary>The task for <paramref name="seed"/> (split and corruption as <see cref="HyperCleaningTask.Digits"/>).</summary>
    public static OneVsRestHyperCleaningTask Digits(int seed) => new(HyperCleaningTask.Digits(seed));

    /// <summary>The underlying data (splits, noisy labels, clean mask).</summary>
    public HyperCleaningTask Data => _data;
    /// <summary>n_tr.</summary>
    public int TrainCount => _data.TrainCount;
    /// <summary>n_val.</summary>
    public int ValCount => _data.ValCount;

    /// <summary>softplus(z) = −log σ(−z). Not relu(z) + log1p(exp(−|z|)): autograd differentiates |z| and relu as 0 at
    /// z = 0, which makes W = 0 (where every margin is 0) a false stationary point.</summary>
    private static Tensor Softplus(Tensor z) => nn.functional.logsigmoid(z.neg()).neg();

    /// <summary>g_i(λ, w_i; batch).</summary>
    public Tensor Lower(int block, Tensor lambda, Tensor w, Tensor? batch)
    {
        using var s = new ScalarHold();
        var x = batch is null ? _data.TrainX : _data.TrainX.index_select(0, batch);
        var b = batch is null ? _trainSigns[block] : _trainSigns[block].index_select(0, batch);
        var l = batch is null ? lambda : lambda.index_select(0, batch);
        return (sigmoid(l) * Softplus((b * x.matmul(w)).neg())).mean().add((w * w).sum(), s[Mu / 2]);
    }

    /// <summary>f_i(w_i; batch), block i's validation logistic loss.</summary>
    public Tensor Upper(int block, Tensor lambda, Tensor w, Tensor? batch)
    {
        var x = batch is null ? _data.ValX : _data.ValX.index_select(0, batch);
        var b = batch is null ? _valSigns[block] : _valSigns[block].index_select(0, batch);
        return Softplus((b * x.matmul(w)).neg()).mean();
    }

    /// <summary>A fresh problem: λ = 0, W = 0.</summary>
    public MultiBlockBilevelProblem CreateProblem(BatchStream? blocks = null, BatchStream? upper = null, BatchStream? lower = null) =>
        new(Upper, Lower, zeros(TrainCount, dtype: ScalarType.Float64).requires_grad_(true),
            zeros(Blocks, 65, dtype: ScalarType.Float64).requires_grad_(true), blocks, upper, lower);

    /// <summary>Test accuracy of the one-vs-rest classifier argmax_i w_i·x̃.</summary>
    public double TestAccuracy(Tensor w)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return _data.TestX.matmul(w.detach().T).argmax(1).eq(_data.TestY).to_type(ScalarType.Float64).mean().item<double>();
    }

    /// <summary>(1/m) Σ_i f_i(w_i) on the whole validation split.</summary>
    public double ValidationLoss(Tensor w)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        double total = 0;
        for (int i = 0; i < Blocks; i++) total += Upper(i, w, w.detach()[i], null).item<double>();
        return total / Blocks;
    }

    /// <summary>AUC of λ as a score for "label is clean".</summary>
    public double WeightAuc(Tensor lambda) => _data.WeightAuc(lambda);

    /// <summary>Smoothness bound of each g_i in w_i: ¼·λ_max(X̃ᵀX̃)/n_tr + μ (the logistic loss's curvature ≤ ¼).</summary>
    public double LowerSmoothness()
    {
        using var scope = NewDisposeScope();
        return 0.25 * linalg.eigvalsh(_data.TrainX.T.matmul(_data.TrainX)).max().item<double>() / TrainCount + Mu;
    }

    /// <summary>W trained with fixed weights (all 1: noisy labels; the clean mask: clean-only oracle) by
    /// <paramref name="steps"/> Nesterov steps of 1/L on Σ_i g_i; returns W [m, 65].</summary>
    public Tensor TrainWithFixedWeights(bool cleanOnly, int steps = 3000)
    {
        using var scope = NewDisposeScope();
        var weights = tensor(_data.Clean.Select(c => cleanOnly && !c ? -40.0 : 40.0).ToArray());
        var problem = new MultiBlockBilevelProblem(Upper, Lower, weights.requires_grad_(true), zeros(Blocks, 65, dtype: ScalarType.Float64).requires_grad_(true));
        var oracle = new HypergradientOracle(problem.Combined);
        double lr = 1.0 / LowerSmoothness();
        using var _ = no_grad();
        using var s = new ScalarHold();
        var w = problem.Y.detach().clone();
        var prev = w.clone();
        for (int t = 0; t < steps; t++)
        {
            using var inner = NewDisposeScope();
            double beta = t / (t + 3.0);
            var look = w.add(w.add(prev, s[-1.0]), s[beta]);
            var g = oracle.LowerGradientY(problem.X, look, null);
            prev.copy_(w);
            w.copy_(look.add(g, s[-lr]));
        }
        return w.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _data.Dispose();
        _trainSigns.Dispose();
        _valSigns.Dispose();
    }
}
