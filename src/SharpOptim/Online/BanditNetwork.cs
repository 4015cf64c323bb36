namespace SharpOptim.Online;

/// <summary>
/// The network of the official NeuralUCB/NeuralTS code, f(x) = W2 ReLU(W1 x + c1) + c2 (hidden width 100 there), in
/// float64 on managed arrays. Parameters are flattened in PyTorch's order (fc1.weight row-major [hidden, input],
/// fc1.bias, fc2.weight, fc2.bias), which is the layout of gradients and of the diagonal U of the neural bandits.
/// The forward pass and the gradient skip the zero inputs (the disjoint encoding has K−1 zero blocks), which changes
/// nothing but the order of a few additions of exact zeros. Initialization: PyTorch's nn.Linear default,
/// U(−1/√fan_in, 1/√fan_in) for weights and biases, from a seeded <see cref="Random"/>.
/// Training is plain SGD with coupled weight decay on every parameter, as torch.optim.SGD(weight_decay=λ) does:
/// p ← p − lr (∇ + λ p).
/// </summary>
public sealed class BanditNetwork
{
    private readonly double[] _p;
    private readonly double[] _h;

    /// <summary>Creates the network with PyTorch-default initialization from <paramref name="seed"/>.</summary>
    public BanditNetwork(int inputDimension, int hidden, int seed)
    {
        if (inputDimension < 1) throw new ArgumentException(FormattableString.Invariant($"inputDimension must be at least 1, got {inputDimension}."), nameof(inputDimension));
        if (hidden < 1) throw new ArgumentException(FormattableString.Invariant($"hidden must be at least 1, got {hidden}."), nameof(hidden));
        InputDimension = inputDimension;
        Hidden = hidden;
        _p = new double[ParameterCount];
        _h = new double[hidden];
        var rng = new Random(seed);
        double b1 = 1 / Math.Sqrt(inputDimension), b2 = 1 / Math.Sqrt(hidden);
        for (int i = 0; i < hidden * inputDimension + hidden; i++) _p[i] = (2 * rng.NextDouble() - 1) * b1;
        for (int i = hidden * inputDimension + hidden; i < _p.Length; i++) _p[i] = (2 * rng.NextDouble() - 1) * b2;
    }

    /// <summary>Creates the network with the given flattened parameters (PyTorch order).</summary>
    public BanditNetwork(int inputDimension, int hidden, ReadOnlySpan<double> parameters) : this(inputDimension, hidden, 0)
    {
        if (parameters.Length != ParameterCount)
            throw new ArgumentException(FormattableString.Invariant($"parameters has {parameters.Length} values, the network has {ParameterCount}."), nameof(parameters));
        parameters.CopyTo(_p);
    }

    /// <summary>Input width.</summary>
    public int InputDimension { get; }
    /// <summary>Hidden width.</summary>
    public int Hidden { get; }
    /// <summary>Number of parameters p = hidden·input + 2·hidden + 1.</summary>
    public int ParameterCount => Hidden * InputDimension + 2 * Hidden + 1;
    /// <summary>The flattened parameters (PyTorch order).</summary>
    public ReadOnlySpan<double> Parameters => _p;

    private int B1 => Hidden * InputDimension;
    private int W2 => B1 + Hidden;
    private int B2 => W2 + Hidden;

    /// <summary>f(x).</summary>
    public double Forward(double[] x)
    {
        int n = InputDimension;
        for (int j = 0; j < Hidden; j++) _h[j] = 0;
        for (int i = 0; i < n; i++)
        {
            double v = x[i];
            if (v == 0) continue;
            for (int j = 0; j < Hidden; j++) _h[j] += _p[j * n + i] * v;
        }
        double f = _p[B2];
        double s = 0;
        for (int j = 0; j < Hidden; j++)
        {
            _h[j] += _p[B1 + j];
            s += _p[W2 + j] * Math.Max(_h[j], 0);
        }
        return s + f;
    }

    /// <summary>f(x) and ∇_θ f(x) as a sparse vector: the indices of the parameters that can be non-zero for this x
    /// (those of W1's columns with x_i ≠ 0, then c1, W2, c2) and their values.</summary>
    public double Gradient(double[] x, List<int> index, List<double> value)
    {
        double f = Forward(x);
        index.Clear();
        value.Clear();
        int n = InputDimension;
        for (int j = 0; j < Hidden; j++)
        {
            double back = _h[j] > 0 ? _p[W2 + j] : 0;
            for (int i = 0; i < n; i++)
            {
                if (x[i] == 0) continue;
                index.Add(j * n + i);
                value.Add(back * x[i]);
            }
        }
        for (int j = 0; j < Hidden; j++) { index.Add(B1 + j); value.Add(_h[j] > 0 ? _p[W2 + j] : 0); }
        for (int j = 0; j < Hidden; j++) { index.Add(W2 + j); value.Add(Math.Max(_h[j], 0)); }
        index.Add(B2);
        value.Add(1.0);
        return f;
    }

    /// <summary>One SGD step with coupled weight decay on the loss whose derivative with respect to f(x) is
    /// <paramref name="lossSlope"/> (2(f − r) for the squared loss (f − r)²): p ← p − lr (∇ + λ p), as
    /// torch.optim.SGD computes it (d_p = g + λp; p ← p − lr·d_p), on every parameter (the gradient is 0 outside the
    /// sparse set, but the decay is not).</summary>
    public void SgdStep(double[] x, double lossSlope, double learningRate, double weightDecay, List<int> index, List<double> value)
    {
        Gradient(x, index, value);
        if (weightDecay == 0)
        {
            for (int k = 0; k < index.Count; k++) _p[index[k]] -= learningRate * (lossSlope * value[k]);
            return;
        }
        _dense ??= new double[_p.Length];
        for (int k = 0; k < index.Count; k++) _dense[index[k]] = lossSlope * value[k];
        for (int i = 0; i < _p.Length; i++) _p[i] -= learningRate * (_dense[i] + weightDecay * _p[i]);
        for (int k = 0; k < index.Count; k++) _dense[index[k]] = 0;
    }

    private double[]? _dense;
}
