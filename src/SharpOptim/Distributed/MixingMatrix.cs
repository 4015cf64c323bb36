using System.Globalization;

namespace SharpOptim.Distributed;

/// <summary>
/// A gossip (mixing) matrix W (n×n, float64): worker i combines x_i ← Σ_j W_ij x_j over its in-neighbours j
/// (W_ij &gt; 0) and itself (../shared/papers/distributed.md §0, §1.1). Immutable. <see cref="IsDoublyStochastic"/>
/// (rows and columns sum to 1, entries non-negative) is what keeps the network average x̄ fixed under gossip;
/// <see cref="Rho"/> = ‖W − 11ᵀ/n‖₂ is the contraction factor of the disagreement, and <see cref="SpectralGap"/> = 1 − ρ.
/// For a symmetric W, ρ = max(|λ₂|, |λ_n|) (the brief's definition); for a non-symmetric (directed) W it is the
/// largest singular value of W − 11ᵀ/n, i.e. the square root of the top eigenvalue of (W − J)ᵀ(W − J), which is the
/// brief's "eigenvalues of WᵀW otherwise" with the consensus direction removed.
/// </summary>
public sealed class MixingMatrix
{
    /// <summary>Tolerance of the stochasticity and symmetry checks.</summary>
    public const double Tolerance = 1e-12;

    private readonly double[,] _w;

    /// <summary>Wraps a copy of <paramref name="weights"/> (square, finite, non-negative).</summary>
    public MixingMatrix(double[,] weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        int n = weights.GetLength(0);
        if (n < 1 || weights.GetLength(1) != n)
            throw new ArgumentException(Inv($"a mixing matrix must be square and non-empty; got {weights.GetLength(0)}×{weights.GetLength(1)}."), nameof(weights));
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (!double.IsFinite(weights[i, j]) || weights[i, j] < 0)
                    throw new ArgumentException(Inv($"mixing weight W[{i},{j}] = {weights[i, j]} must be finite and non-negative."), nameof(weights));
        _w = (double[,])weights.Clone();
        Size = n;
    }

    /// <summary>Number of workers n.</summary>
    public int Size { get; }

    /// <summary>W_ij.</summary>
    public double this[int i, int j] => _w[i, j];

    /// <summary>A copy of the entries.</summary>
    public double[,] ToArray() => (double[,])_w.Clone();

    /// <summary>Every row sums to 1 (within <see cref="Tolerance"/>).</summary>
    public bool IsRowStochastic => Enumerable.Range(0, Size).All(i => Math.Abs(RowSum(i) - 1) <= Tolerance * Size);

    /// <summary>Every row and every column sums to 1 (within <see cref="Tolerance"/>).</summary>
    public bool IsDoublyStochastic => IsRowStochastic && Enumerable.Range(0, Size).All(j => Math.Abs(ColumnSum(j) - 1) <= Tolerance * Size);

    /// <summary>W = Wᵀ (within <see cref="Tolerance"/>).</summary>
    public bool IsSymmetric
    {
        get
        {
            for (int i = 0; i < Size; i++)
                for (int j = i + 1; j < Size; j++)
                    if (Math.Abs(_w[i, j] - _w[j, i]) > Tolerance) return false;
            return true;
        }
    }

    /// <summary>‖W − 11ᵀ/n‖₂ (see the class remarks); 0 for exact averaging.</summary>
    public double Rho
    {
        get
        {
            int n = Size;
            var a = new double[n, n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    a[i, j] = _w[i, j] - 1.0 / n;
            if (IsSymmetric) return SymmetricEigen.Eigenvalues(a).Max(Math.Abs);
            var ata = new double[n, n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int k = 0; k < n; k++) s += a[k, i] * a[k, j];
                    ata[i, j] = s;
                }
            return Math.Sqrt(Math.Max(0, SymmetricEigen.Eigenvalues(ata).Max()));
        }
    }

    /// <summary>1 − <see cref="Rho"/>: larger is faster consensus.</summary>
    public double SpectralGap => 1 - Rho;

    /// <summary>Eigenvalues of a symmetric W in descending order (Jacobi rotations, float64).</summary>
    public double[] Eigenvalues()
    {
        if (!IsSymmetric) throw new InvalidOperationException("Eigenvalues() needs a symmetric mixing matrix; use Rho for a directed one.");
        return SymmetricEigen.Eigenvalues(_w).OrderByDescending(v => v).ToArray();
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming <paramref name="parameter"/> and the offending row or column unless W is doubly stochastic.</summary>
    public void RequireDoublyStochastic(string parameter, string who)
    {
        for (int i = 0; i < Size; i++)
            if (Math.Abs(RowSum(i) - 1) > Tolerance * Size)
                throw new ArgumentException(Inv($"{who} needs a doubly stochastic mixing matrix, but row {i} sums to {RowSum(i):R}."), parameter);
        for (int j = 0; j < Size; j++)
            if (Math.Abs(ColumnSum(j) - 1) > Tolerance * Size)
                throw new ArgumentException(Inv($"{who} needs a doubly stochastic mixing matrix, but column {j} sums to {ColumnSum(j):R} (the network average would drift)."), parameter);
    }

    private double RowSum(int i)
    {
        double s = 0;
        for (int j = 0; j < Size; j++) s += _w[i, j];
        return s;
    }

    private double ColumnSum(int j)
    {
        double s = 0;
        for (int i = 0; i < Size; i++) s += _w[i, j];
        return s;
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
