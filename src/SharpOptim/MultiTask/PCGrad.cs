using static TorchSharp.torch;

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
/// floats; the projections run on the T×T Gram matrix (see <see cref="Combine"/>). State: the order generator only.</para>
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

    /// <summary>The PCGrad direction of <paramref name="gradients"/> (one array per task; public for direct use on vectors).</summary>
    /// <exception cref="ArgumentException">No gradient, or gradients of different lengths.</exception>
    public double[] Project(double[][] gradients)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        if (gradients.Length == 0) throw new ArgumentException("At least one task gradient is needed.", nameof(gradients));
        int p = gradients[0].Length;
        for (int k = 0; k < gradients.Length; k++)
            if (gradients[k] is null || gradients[k].Length != p)
                throw new ArgumentException(FormattableString.Invariant($"Task gradient {k} has {gradients[k]?.Length ?? 0} entries; task 0's has {p}."), nameof(gradients));
        using var g = tensor(gradients.SelectMany(x => x).ToArray(), dtype: ScalarType.Float64).reshape(gradients.Length, p);
        using var d = Combine(g, new double[gradients.Length]).Direction;
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(d.contiguous().bytes).ToArray();
    }

    /// <summary>
    /// The projections run on the T×T Gram matrix M of the original gradients: every g_i^PC stays a combination
    /// Σ_m A_im g_m, so ⟨g_i^PC, g_j⟩ = Σ_m A_im M_mj and a projection only changes A_ij. The direction is then
    /// (Σ_i A_i)ᵀ G, one product with the gradients — the same vectors as projecting the P-dimensional vectors one by
    /// one, up to rounding, at the cost of the Gram matrix instead of O(T²P) vector operations.
    /// </summary>
    protected override (Tensor Direction, double[]? Weights) Combine(Tensor gradients, double[] losses)
    {
        int t = (int)gradients.shape[0];
        var m = Gram(gradients);
        var total = new double[t];
        var a = new double[t];
        int conflicts = 0;
        for (int i = 0; i < t; i++)
        {
            Array.Clear(a);
            a[i] = 1;
            foreach (int j in OrderFor(i, t))
            {
                double inner = 0;
                for (int k = 0; k < t; k++) inner += a[k] * m[k, j];
                double norm = m[j, j] + Epsilon;
                if (!(inner < 0) || norm == 0) continue;
                if (j != i) conflicts++;
                a[j] -= inner / norm;
            }
            for (int k = 0; k < t; k++) total[k] += a[k];
        }
        LastConflictFraction = t > 1 ? conflicts / (double)(t * (t - 1)) : 0;
        return (Weighted(gradients, total), null);
    }

    private IReadOnlyList<int> OrderFor(int i, int t)
    {
        if (OrderOverride is { } o) return o(i, t);
        if (!RandomOrder) return Enumerable.Range(0, t).ToArray();
        var others = Enumerable.Range(0, t).Where(j => j != i).ToArray();
        _random.Shuffle(others);
        return others;
    }
}
