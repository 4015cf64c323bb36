namespace SharpOptim.MultiTask;

/// <summary>
/// PCGrad ("projecting conflicting gradients") — Yu, Kumar, Gupta, Levine, Hausman &amp; Finn, "Gradient Surgery for
/// Multi-Task Learning", NeurIPS 2020, arXiv:2001.06782, Algorithm 1. For each task i, starting from g_i^PC = g_i, and
/// for each task j in turn: if ⟨g_i^PC, g_j⟩ &lt; 0 then g_i^PC ← g_i^PC − (⟨g_i^PC, g_j⟩ / ‖g_j‖²) g_j (the running
/// vector is projected on the normal plane of the ORIGINAL g_j). The update direction is Σ_i g_i^PC (a sum). No
/// hyperparameter; when no pair conflicts the result is exactly Σ_i g_i, the equal-weight gradient.
/// <para>Order: by default the official TensorFlow code's (tianheyu927/PCGrad, <c>PCGrad_tf.py</c>): its
/// <c>tf.random.shuffle</c> result is discarded, so j runs over all tasks in their given order, j = i included
/// (a no-op unless ⟨g_i^PC, g_i⟩ has turned negative). With <c>randomOrder</c> the paper's reading: a fresh random
/// order of the other tasks for every i (as LibMTL does), drawn from a seeded generator. The denominator is ‖g_j‖² +
/// ε with ε = 0 by default (official; LibMTL uses 1e-8); a zero g_j is skipped rather than divided by. Projection runs
/// over the shared parameters only (or the representation), the heads keep their own gradients (LibMTL semantics;
/// the WeiChengTseng PyTorch port projects head gradients too and averages). Cost: T backward passes, T×|θ_shared|
/// floats, O(T²|θ_shared|) for the projections. State: the order generator only.</para>
/// </summary>
public sealed class PCGrad : TaskGradientBalancer
{
    private readonly Random _random;

    /// <summary>PCGrad in <paramref name="mode"/> (shared parameters by default, as the paper).</summary>
    /// <exception cref="ArgumentException">A negative or non-finite <paramref name="epsilon"/>.</exception>
    public PCGrad(bool randomOrder = false, int seed = 0, double epsilon = 0, BalancingMode mode = BalancingMode.SharedParameters)
        : base(mode, bothModes: true)
    {
        if (!(epsilon >= 0) || double.IsInfinity(epsilon))
            throw new ArgumentException(FormattableString.Invariant($"epsilon must be finite and non-negative; got {epsilon}."), nameof(epsilon));
        RandomOrder = randomOrder;
        Epsilon = epsilon;
        _random = new Random(seed);
    }

    /// <inheritdoc />
    public override string Name => "pcgrad";
    /// <summary>Whether each i visits the other tasks in a fresh random order (paper) rather than the official fixed order.</summary>
    public bool RandomOrder { get; }
    /// <summary>Added to ‖g_j‖² in the projection's denominator.</summary>
    public double Epsilon { get; }
    /// <summary>The fraction of ordered pairs (i, j), i ≠ j, whose projection ran in the last step (conflicts met).</summary>
    public double LastConflictFraction { get; private set; }

    /// <summary>Test hook: the order of j for each i (given i and T); overrides both built-in orders.</summary>
    internal Func<int, int, IReadOnlyList<int>>? OrderOverride { get; set; }

    /// <summary>The PCGrad direction of <paramref name="gradients"/> (public for direct use on vectors and for tests).</summary>
    public double[] Project(double[][] gradients)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        if (gradients.Length == 0) throw new ArgumentException("At least one task gradient is needed.", nameof(gradients));
        int p = gradients[0].Length;
        for (int k = 0; k < gradients.Length; k++)
            if (gradients[k] is null || gradients[k].Length != p)
                throw new ArgumentException(FormattableString.Invariant($"Task gradient {k} has {gradients[k]?.Length ?? 0} entries; task 0's has {p}."), nameof(gradients));
        int t = gradients.Length;
        var norms = gradients.Select(g => Dot(g, g)).ToArray();
        var sum = new double[p];
        int conflicts = 0;
        var pc = new double[p];
        for (int i = 0; i < t; i++)
        {
            gradients[i].CopyTo(pc, 0);
            foreach (int j in OrderFor(i, t))
            {
                var gj = gradients[j];
                double inner = Dot(pc, gj);
                if (!(inner < 0) || norms[j] + Epsilon == 0) continue;
                if (j != i) conflicts++;
                double c = inner / (norms[j] + Epsilon);
                for (int k = 0; k < p; k++) pc[k] -= c * gj[k];
            }
            for (int k = 0; k < p; k++) sum[k] += pc[k];
        }
        LastConflictFraction = t > 1 ? conflicts / (double)(t * (t - 1)) : 0;
        return sum;
    }

    /// <inheritdoc />
    protected override (double[] Direction, double[]? Weights) Combine(double[][] gradients, double[] losses) => (Project(gradients), null);

    private IReadOnlyList<int> OrderFor(int i, int t)
    {
        if (OrderOverride is { } o) return o(i, t);
        if (!RandomOrder) return Enumerable.Range(0, t).ToArray();
        var others = Enumerable.Range(0, t).Where(j => j != i).ToArray();
        _random.Shuffle(others);
        return others;
    }
}
