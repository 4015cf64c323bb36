namespace SharpOptim.Online;

/// <summary>
/// FTRL-Proximal with per-coordinate learning rates and L1/L2 regularization (McMahan et al., "Ad Click Prediction: a
/// View from the Trenches", KDD 2013, Algorithm 1), in the form documented for tf.keras.optimizers.Ftrl with
/// learning_rate_power = −0.5. Per coordinate with gradient g:
/// σ = (√(n + g²) − √n)/α; n ← n + g²; z ← z + g − σ w;
/// w = 0 if |z| ≤ λ1, else w = −(z − sign(z) λ1) / ((β + √n)/α + λ2).
/// State: n (starts at <c>initialAccumulator</c>, Keras default 0.1) and z (starts at 0), two floats per coordinate.
/// Invariant: every coordinate with |z| ≤ λ1 is exactly zero (sparsity).
/// Regularization convention: λ2 here is the paper's (the loss carries λ2‖w‖²/2); Keras' l2_regularization_strength
/// enters its denominator doubled, so Keras l2 = λ2/2. Keras' β enters as β/(2α) added to its l2, i.e. the same
/// (β + √n)/α term. Keras' "l2_shrinkage_regularization_strength" is not implemented.
/// The learner is unconstrained (no ball): the L2 and L1 terms keep w bounded.
/// </summary>
public sealed class FtrlProximal : IOnlineLearner
{
    private readonly double[] _n;
    private readonly double[] _z;
    private readonly double[] _w;

    /// <summary>Creates the learner.</summary>
    /// <param name="dimension">Number of coordinates.</param>
    /// <param name="alpha">α, the learning rate (Keras default 0.001).</param>
    /// <param name="beta">β (Keras default 0; the paper commonly uses 1).</param>
    /// <param name="l1">λ1 ≥ 0.</param>
    /// <param name="l2">λ2 ≥ 0 (paper convention).</param>
    /// <param name="initialAccumulator">Initial n ≥ 0 (Keras default 0.1).</param>
    public FtrlProximal(int dimension, double alpha, double beta = 0, double l1 = 0, double l2 = 0, double initialAccumulator = 0.1)
    {
        EuclideanBall.CheckDimension(dimension);
        EuclideanBall.CheckRadius(alpha, nameof(alpha));
        foreach (var (v, name) in new[] { (beta, nameof(beta)), (l1, nameof(l1)), (l2, nameof(l2)), (initialAccumulator, nameof(initialAccumulator)) })
            if (!(v >= 0) || !double.IsFinite(v))
                throw new ArgumentException(FormattableString.Invariant($"{name} must be a finite number ≥ 0, got {v}."), name);
        if (beta == 0 && initialAccumulator == 0 && l2 == 0)
            throw new ArgumentException("With beta = 0, l2 = 0 and initialAccumulator = 0 a coordinate's first denominator is 0; make one of them positive.", nameof(initialAccumulator));
        Alpha = alpha; Beta = beta; L1 = l1; L2 = l2;
        _n = new double[dimension];
        Array.Fill(_n, initialAccumulator);
        _z = new double[dimension];
        _w = new double[dimension];
    }

    /// <summary>α.</summary>
    public double Alpha { get; }
    /// <summary>β.</summary>
    public double Beta { get; }
    /// <summary>λ1.</summary>
    public double L1 { get; }
    /// <summary>λ2 (paper convention).</summary>
    public double L2 { get; }

    /// <inheritdoc/>
    public int Dimension => _w.Length;

    /// <inheritdoc/>
    public long Round { get; private set; }

    /// <inheritdoc/>
    public ReadOnlySpan<double> Point => _w;

    /// <summary>The accumulator z (for tests of the sparsity invariant).</summary>
    public ReadOnlySpan<double> Z => _z;

    /// <inheritdoc/>
    public void Update(ReadOnlySpan<double> gradient)
    {
        EuclideanBall.CheckGradient(gradient, _w.Length);
        for (int i = 0; i < _w.Length; i++)
        {
            double g = gradient[i];
            double nNew = _n[i] + g * g;
            double sqrtNew = Math.Sqrt(nNew);
            double sigma = (sqrtNew - Math.Sqrt(_n[i])) / Alpha;
            _n[i] = nNew;
            _z[i] += g - sigma * _w[i];
            double z = _z[i];
            _w[i] = Math.Abs(z) <= L1 ? 0.0 : -(z - Math.Sign(z) * L1) / ((Beta + sqrtNew) / Alpha + L2);
        }
        Round++;
    }
}
