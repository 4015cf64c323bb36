using SharpOptim.Bilevel;
using SharpOptim.Tasks.Bilevel;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// The oracle layer on the hyper-cleaning task against its closed forms (shared/papers/bilevel.md §9.1), written here
/// without autograd, with s_i = σ(λ_i), P = softmax(X̃W), E the one-hot noisy labels:
/// HVP ∇²_WW g·V = X̃ᵀ[s_i(P_i⊙Z_i − P_i⟨P_i, Z_i⟩)]/n + μV with Z = X̃V; cross ∂_λi⟨∇_W g, V⟩ = σ'(λ_i)/n·x̃_iᵀV(P_i − E_i);
/// and the hypergradient −σ'(λ_i)/n·x̃_iᵀV*(P_i − E_i), V* = H⁻¹∇_W f (dense solve of the closed-form Hessian).
/// </summary>
public class BilevelHyperCleaningClosedFormTests
{
    [Fact]
    public void OracleAndAidMatchTheClosedForms()
    {
        using var task = HyperCleaningTask.Digits(2, trainCount: 120, valCount: 60);
        var gen = new Generator(9);
        var lambda = randn(task.TrainCount, dtype: float64, generator: gen);
        var w = 0.3 * randn(65, 10, dtype: float64, generator: gen);
        var problem = task.CreateProblem();
        using (no_grad()) { problem.X.copy_(lambda); problem.Y.copy_(w); }
        var oracle = new HypergradientOracle(problem);

        var x = task.TrainX;
        int n = task.TrainCount;
        var s = sigmoid(lambda);
        var ds = s * (1 - s);
        var p = softmax(x.matmul(w), 1);
        var e = nn.functional.one_hot(task.TrainY, 10).to_type(float64);
        Tensor Hvp(Tensor v)
        {
            var z = x.matmul(v);
            var inner = p * z - p * (p * z).sum(1, keepdim: true);
            return x.T.matmul(s.unsqueeze(1) * inner) / n + HyperCleaningTask.Mu * v;
        }
        Tensor Cross(Tensor v) => ds / n * (x.matmul(v) * (p - e)).sum(1);

        var v = randn(65, 10, dtype: float64, generator: gen);
        var (hyy, hxy) = oracle.LowerSecondOrder(problem.X, problem.Y, v, null);
        Assert.True(Rel(hyy, Hvp(v)) <= 1e-10, $"HVP relative error {Rel(hyy, Hvp(v)):E2}");
        Assert.True(Rel(hxy!, Cross(v)) <= 1e-10, $"cross relative error {Rel(hxy!, Cross(v)):E2}");

        // V* by a dense solve of the closed-form Hessian (650 × 650, column by column).
        var basis = eye(650, dtype: float64);
        var columns = Enumerable.Range(0, 650).Select(j => Hvp(basis[j].reshape(65, 10)).reshape(-1)).ToList();
        var hess = stack(columns, 1);
        var pv = softmax(task.ValX.matmul(w), 1);
        var ev = nn.functional.one_hot(task.ValY, 10).to_type(float64);
        var gradF = task.ValX.T.matmul(pv - ev) / task.ValCount;
        var vStar = linalg.solve(hess, gradF.reshape(-1)).reshape(65, 10);
        var expected = -Cross(vStar);
        // The AID hypergradient assembled from the oracle with that V* (the CG solve itself is checked on the quadratic).
        var (fx, _) = oracle.UpperGradient(problem.X, problem.Y, null);
        var (_, crossStar) = oracle.LowerSecondOrder(problem.X, problem.Y, vStar, null);
        var h = fx - crossStar!;
        Assert.True(Rel(h, expected) <= 1e-6, $"hypergradient relative error {Rel(h, expected):E2}");
        Assert.Equal(0.0, fx.abs().max().item<double>());   // f does not depend on λ
    }

    private static double Rel(Tensor a, Tensor b) => (a - b).norm().item<double>() / b.norm().item<double>();
}
