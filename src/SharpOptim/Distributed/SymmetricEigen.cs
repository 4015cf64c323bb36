namespace SharpOptim.Distributed;

/// <summary>Eigenvalues of a small dense symmetric matrix by cyclic Jacobi rotations in float64 (enough for mixing matrices of tens of workers).</summary>
internal static class SymmetricEigen
{
    public static double[] Eigenvalues(double[,] symmetric)
    {
        int n = symmetric.GetLength(0);
        var a = (double[,])symmetric.Clone();
        Analysis.JacobiEigen.Diagonalize(a, null, (off, _) => off < 1e-30, skipBelow: 1e-300);
        var values = new double[n];
        for (int i = 0; i < n; i++) values[i] = a[i, i];
        return values;
    }
}
