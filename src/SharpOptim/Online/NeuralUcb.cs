namespace SharpOptim.Online;

/// <summary>
/// NeuralUCB as the official code (uclaml/NeuralUCB, learner_diag.py NeuralUCBDiag) implements it: score
/// μ_a + σ_a with σ_a = √(Σ_k λν g_{a,k}²/U_k) (diagonal U). Zhou, Li &amp; Gu, "Neural Contextual Bandits with
/// UCB-based Exploration", ICML 2020, arXiv:1911.04462. The code's differences from the paper and this library's
/// deviations from the code are listed on <see cref="NeuralDiagonalBandit"/>. ν = 0 gives the greedy network.
/// </summary>
public sealed class NeuralUcb : NeuralDiagonalBandit
{
    /// <summary>Creates NeuralUCB (defaults: λ = 0.001, ν = 1, lr 0.01, the reduced schedule).</summary>
    public NeuralUcb(int arms, BanditNetwork network, double lambda = 0.001, double nu = 1.0, NeuralTrainingSchedule? schedule = null, int? shuffleSeed = 0, double learningRate = 0.01)
        : base(arms, network, lambda, nu, schedule, shuffleSeed, learningRate) { }

    /// <inheritdoc/>
    protected override double Score(double mean, double width, bool draw) => mean + width;
}
