namespace SharpOptim.Online;

/// <summary>
/// A full-information online convex optimization learner (the OCO protocol): in round t it plays
/// <see cref="Point"/> (x_t) before the loss f_t is revealed, then receives the gradient g_t = ∇f_t(x_t) at that
/// point through <see cref="Update"/> and moves to x_{t+1}. All arithmetic is float64 on managed arrays: these
/// learners are small, exact reference-grade methods (no TorchSharp tensors, hence no libtorch Scalars).
/// </summary>
public interface IOnlineLearner
{
    /// <summary>Dimension of the decision vector.</summary>
    int Dimension { get; }

    /// <summary>Rounds completed (number of <see cref="Update"/> calls so far).</summary>
    long Round { get; }

    /// <summary>The point x_t played in the current round (a view of the learner's state; copy it to keep it).</summary>
    ReadOnlySpan<double> Point { get; }

    /// <summary>Receives g_t = ∇f_t(x_t) at the played point and moves to the next point.</summary>
    /// <exception cref="ArgumentException">The gradient's length differs from <see cref="Dimension"/> or it holds a
    /// non-finite value (nothing changes then).</exception>
    void Update(ReadOnlySpan<double> gradient);
}
