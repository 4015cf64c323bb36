namespace SharpOptim.Policy;

/// <summary>Settings of <see cref="Disco"/>. Defaults are the official log-L scripts' (τ = 10, δ = 1e-4, β = 1e3,
/// k1 KL); for L-ratio the scripts use τ = 1.</summary>
public sealed record DiscoOptions
{
    /// <summary>True: DisCO (log-mean-exp over negatives with temperature τ); false: DisCO-b (plain means).</summary>
    public bool Robust { get; init; } = true;

    /// <summary>The completion score.</summary>
    public DiscoScore Score { get; init; } = DiscoScore.LogLikelihood;

    /// <summary>τ of the log-mean-exp over negatives (DisCO only).</summary>
    public double Tau { get; init; } = 10;

    /// <summary>The KL estimate K in the penalty.</summary>
    public DiscoKl Kl { get; init; } = DiscoKl.LogRatio;

    /// <summary>β, the penalty weight.</summary>
    public double Beta { get; init; } = 1e3;

    /// <summary>δ, the KL budget of the trust region.</summary>
    public double Delta { get; init; } = 1e-4;

    internal void Validate()
    {
        if (!(Tau > 0) || double.IsInfinity(Tau)) throw new ArgumentException($"Tau = {Tau}; it must be finite and positive.", nameof(Tau));
        if (!(Beta >= 0) || double.IsInfinity(Beta)) throw new ArgumentException($"Beta = {Beta}; it must be finite and ≥ 0.", nameof(Beta));
        if (!(Delta >= 0) || double.IsInfinity(Delta)) throw new ArgumentException($"Delta = {Delta}; it must be finite and ≥ 0.", nameof(Delta));
        if (!Enum.IsDefined(Score)) throw new ArgumentException($"unknown score {Score}.", nameof(Score));
        if (!Enum.IsDefined(Kl)) throw new ArgumentException($"unknown KL type {Kl}.", nameof(Kl));
    }
}
