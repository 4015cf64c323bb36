namespace SharpOptim.Online;

/// <summary>The online regression loss of <see cref="NeuralRegressionBandit"/>.</summary>
public enum RegressionLoss
{
    /// <summary>Squared loss on a real output, (f(x) − r)², with SquareCB's action selection (NeuSquareCB).</summary>
    Square,
    /// <summary>Binary cross-entropy on a sigmoid output, −r log σ(f) − (1 − r) log(1 − σ(f)), with FastCB's action
    /// selection (NeuFastCB).</summary>
    CrossEntropy,
}
