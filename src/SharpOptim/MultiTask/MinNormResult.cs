namespace SharpOptim.MultiTask;

/// <summary>The result of <see cref="MinNormSolver.Solve"/>.</summary>
/// <param name="Weights">w on the simplex (non-negative, summing to 1).</param>
/// <param name="SquaredNorm">wᵀMw, the squared norm ‖Σ_t w_t g_t‖² of the combination.</param>
/// <param name="DualityGap">The Frank–Wolfe gap wᵀMw − min_t (Mw)_t at the returned w. By convexity of ½wᵀMw it bounds
/// the suboptimality: ½wᵀMw − ½w*ᵀMw* ≤ gap (zero exactly at the optimum; the two-task closed form returns 0).</param>
/// <param name="Iterations">Frank–Wolfe iterations taken (0 for one or two tasks).</param>
public sealed record MinNormResult(double[] Weights, double SquaredNorm, double DualityGap, int Iterations);
