using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// A bilevel problem whose lower level is constrained (the setting of LV-HBA, Yao, Yu, Zeng and Zhang, ICLR 2024,
/// arXiv 2401.16164): min_{(x, y) ∈ C} F(x, y) s.t. y ∈ argmin_{θ ∈ Y} {f(x, θ) : G(x, θ) ≤ 0}. It wraps an ordinary
/// <see cref="BilevelProblem"/> (upper F, lower f, x, y, batches; the unconstrained methods can still be run on it, and
/// then ignore G) and adds: the constraint function <see cref="Constraint"/> with its number of constraints k, whether
/// the constraints are equalities (the multipliers are then free, kept in a box, instead of non-negative), and two
/// optional in-place Euclidean projections: onto C for (x, y) (<see cref="ProjectUpper"/>) and onto Y for the lower copy
/// θ (<see cref="ProjectLower"/>); null means no set (R^n).
/// <para>Validation before anything is stored: the constraint is evaluated once at (x, y) on the full data and must
/// return a 1-dimensional floating tensor with k ≥ 1 entries that depends on y.</para>
/// </summary>
public sealed class ConstrainedBilevelProblem
{
    /// <summary>Creates the problem; see the class remarks.</summary>
    public ConstrainedBilevelProblem(BilevelProblem problem, BilevelConstraint constraint, bool equality = false,
        Action<Tensor, Tensor>? projectUpper = null, Action<Tensor>? projectLower = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(constraint);
        using (var scope = NewDisposeScope())
        using (var grad = enable_grad())
        {
            var x = problem.X.detach().clone().requires_grad_(true);
            var y = problem.Y.detach().clone().requires_grad_(true);
            var g = constraint(x, y, null);
            if (g is null || g.dim() != 1 || g.numel() < 1 || !g.is_floating_point())
                throw new ArgumentException($"The constraint G must return a 1-dimensional floating tensor with at least one entry, got {(g is null ? "null" : $"{g.dtype} of shape [{string.Join(", ", g.shape)}]")}.", nameof(constraint));
            if (!g.requires_grad)
                throw new ArgumentException("The constraint G does not depend on y (nor x): a lower-level constraint must involve the lower variable.", nameof(constraint));
            ConstraintCount = (int)g.numel();
        }
        Problem = problem;
        Constraint = constraint;
        Equality = equality;
        ProjectUpper = projectUpper;
        ProjectLower = projectLower;
    }

    /// <summary>F, f, x, y and the batch streams.</summary>
    public BilevelProblem Problem { get; }
    /// <summary>G(x, y; batch), k values.</summary>
    public BilevelConstraint Constraint { get; }
    /// <summary>k, the number of constraints.</summary>
    public int ConstraintCount { get; }
    /// <summary>True: G(x, y) = 0 (multipliers free in a box); false: G(x, y) ≤ 0 (multipliers ≥ 0).</summary>
    public bool Equality { get; }
    /// <summary>In-place projection of (x, y) onto C, or null.</summary>
    public Action<Tensor, Tensor>? ProjectUpper { get; }
    /// <summary>In-place projection of a lower iterate onto Y, or null.</summary>
    public Action<Tensor>? ProjectLower { get; }
}
