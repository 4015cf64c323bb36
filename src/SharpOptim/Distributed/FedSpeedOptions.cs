namespace SharpOptim.Distributed;

/// <summary>Hyperparameters of <see cref="FedSpeed"/> (defaults: the official code, woodenchild95/FL-Simulator <c>train.py</c>).</summary>
public sealed record FedSpeedOptions
{
    /// <summary>Local mini-batch steps per round, K (the code counts epochs: 5 epochs of its client's batches of 50).</summary>
    public int LocalSteps { get; init; } = 50;

    /// <summary>Local SGD learning rate at round 0 (code: 0.1).</summary>
    public double Lr { get; init; } = 0.1;

    /// <summary>Per-round learning-rate decay factor (code: 0.998; lr_t = Lr·LrDecay^t).</summary>
    public double LrDecay { get; init; } = 0.998;

    /// <summary>Ordinary weight decay of the local SGD (code: 1e-3).</summary>
    public double WeightDecay { get; init; } = 1e-3;

    /// <summary>Prox/dual coefficient <c>lamb</c> of the code (= 1/λ in the paper's notation; code: 0.1).</summary>
    public double Lamb { get; init; } = 0.1;

    /// <summary>SAM radius ρ of the normalised ascent step (code: 0.1).</summary>
    public double Rho { get; init; } = 0.1;

    /// <summary>Gradient-norm clip applied to the total local gradient before the SGD step (code: 10).</summary>
    public double MaxGradNorm { get; init; } = 10;

    /// <summary>
    /// Weight α of the perturbed gradient in the merged gradient (1 − α)·∇f(w) + α·∇f(w + e) (the paper's form,
    /// α ≈ 0.9); 1 = the official code (perturbed gradient only).
    /// </summary>
    public double MergeWeight { get; init; } = 1.0;

    /// <summary>Probability that a client takes part in a round (code: <c>active_ratio</c> 0.1; redrawn if nobody is picked).</summary>
    public double ParticipationRate { get; init; } = 1.0;

    /// <summary>Add the server term mean_{all clients} h_i to the new global model (official); off gives FedAvg's server when Lamb = 0.</summary>
    public bool ServerCorrection { get; init; } = true;

    /// <summary>Seed shared by all ranks for the per-round participation draw.</summary>
    public long Seed { get; init; }
}
