namespace SharpOptim.Online;

/// <summary>
/// Neural Thompson sampling as the official code (ZeroWeight/NeuralTS, learner_diag.py NeuralTSDiag) implements it:
/// score r̃_a ~ N(μ_a, σ_a²) with σ_a = √(Σ_k λν g_{a,k}²/U_k) (ν inside the square root, diagonal U), drawn as
/// μ_a + σ_a z with z from the supplied standard-normal source. Zhang, Zhou, Li &amp; Gu, "Neural Thompson Sampling",
/// ICLR 2021, arXiv:2010.00827. The paper samples N(f, ν²λ gᵀZ⁻¹g/m); the code's differences and this library's
/// deviations are listed on <see cref="NeuralDiagonalBandit"/>. <see cref="IBanditPolicy.Scores"/> returns μ (no draw).
/// </summary>
public sealed class NeuralTs : NeuralDiagonalBandit
{
    private readonly Func<double> _normal;

    /// <summary>Creates NeuralTS; <paramref name="standardNormal"/> supplies the N(0, 1) draws, one per arm per round
    /// in arm order (tests feed a recorded stream; <see cref="GaussianSource"/> makes a seeded one).</summary>
    public NeuralTs(int arms, BanditNetwork network, Func<double> standardNormal, double lambda = 0.001, double nu = 1.0, NeuralTrainingSchedule? schedule = null, int? shuffleSeed = 0, double learningRate = 0.01)
        : base(arms, network, lambda, nu, schedule, shuffleSeed, learningRate)
    {
        ArgumentNullException.ThrowIfNull(standardNormal);
        _normal = standardNormal;
    }

    /// <summary>A seeded standard-normal source (Box–Muller over System.Random).</summary>
    public static Func<double> GaussianSource(int seed)
    {
        var rng = new Random(seed);
        return () => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
    }

    /// <inheritdoc/>
    protected override double Score(double mean, double width, bool draw) => draw ? mean + width * _normal() : mean;
}
