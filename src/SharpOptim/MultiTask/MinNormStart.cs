namespace SharpOptim.MultiTask;

/// <summary>Where <see cref="MinNormSolver"/>'s Frank–Wolfe iteration starts.</summary>
public enum MinNormStart
{
    /// <summary>The centre of the simplex, w = 1/T (Sener &amp; Koltun 2018, Algorithm 2).</summary>
    Uniform,
    /// <summary>The best pair: for every pair (i, j) the two-vector line search, keeping the pair of smallest norm
    /// (the official code's <c>_min_norm_2d</c> start, isl-org/MultiObjectiveOptimization).</summary>
    BestPair,
}
