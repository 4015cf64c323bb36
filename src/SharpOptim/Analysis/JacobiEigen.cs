namespace SharpOptim.Analysis;

/// <summary>
/// Cyclic Jacobi rotations for small dense symmetric matrices in float64: the one implementation behind the Lanczos
/// tridiagonal solve of <see cref="HessianSpectrum"/> and the mixing-matrix spectra of the distributed family.
/// </summary>
internal static class JacobiEigen
{
    /// <summary>
    /// Diagonalizes <paramref name="a"/> in place by up to 100 sweeps of cyclic Jacobi rotations (pairs p &lt; q in row
    /// order), stopping before a sweep once <paramref name="converged"/>(Σ_{p&lt;q} a_pq², Σ_i a_ii²) holds; a rotation
    /// is skipped when |a_pq| &lt; <paramref name="skipBelow"/>. When <paramref name="vectors"/> is given (start it at
    /// the identity) the rotations are accumulated into it, so its columns become the eigenvectors. The eigenvalues
    /// are left on the diagonal of <paramref name="a"/>, unsorted.
    /// </summary>
    public static void Diagonalize(double[,] a, double[,]? vectors, Func<double, double, bool> converged, double skipBelow)
    {
        int n = a.GetLength(0);
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0, diag = 0;
            for (int p = 0; p < n; p++)
            {
                diag += a[p, p] * a[p, p];
                for (int q = p + 1; q < n; q++) off += a[p, q] * a[p, q];
            }
            if (converged(off, diag)) break;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    if (Math.Abs(a[p, q]) < skipBelow) continue;
                    double theta = (a[q, q] - a[p, p]) / (2 * a[p, q]);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    RotateColumns(a, n, p, q, c, s);
                    RotateRows(a, n, p, q, c, s);
                    if (vectors is not null) RotateColumns(vectors, n, p, q, c, s);
                }
        }
    }

    /// <summary>Columns p and q of <paramref name="m"/> ← their rotation by (c, s).</summary>
    private static void RotateColumns(double[,] m, int n, int p, int q, double c, double s)
    {
        for (int k = 0; k < n; k++)
        {
            double kp = m[k, p], kq = m[k, q];
            m[k, p] = c * kp - s * kq;
            m[k, q] = s * kp + c * kq;
        }
    }

    /// <summary>Rows p and q of <paramref name="m"/> ← their rotation by (c, s).</summary>
    private static void RotateRows(double[,] m, int n, int p, int q, double c, double s)
    {
        for (int k = 0; k < n; k++)
        {
            double pk = m[p, k], qk = m[q, k];
            m[p, k] = c * pk - s * qk;
            m[q, k] = s * pk + c * qk;
        }
    }
}
