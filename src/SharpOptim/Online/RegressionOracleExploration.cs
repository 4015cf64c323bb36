namespace SharpOptim.Online;

/// <summary>
/// Action probabilities of the regression-oracle reductions, as pure functions of the predicted rewards ŷ.
/// SquareCB (Foster &amp; Rakhlin, "Beyond UCB: Optimal and Efficient Contextual Bandits with Regression Oracles",
/// ICML 2020, arXiv:2002.04926), inverse-gap weighting: with b = argmax ŷ and Δ_a = ŷ_b − ŷ_a,
/// p_a = 1/(K + γΔ_a) for a ≠ b, p_b = 1 − Σ_{a≠b} p_a.
/// FastCB (Foster &amp; Krishnamurthy, "Efficient First-Order Contextual Bandits", NeurIPS 2021, arXiv:2107.02237), for
/// rewards in [lb, ub] with ŷ clamped to that range: p_a = (ŷ_b − lb)/(K(ŷ_b − lb) + γΔ_a) for a ≠ b, the rest to b;
/// uniform when ŷ_b ≤ lb. Both as implemented by facebookresearch/Pearl's SquareCBExploration and FastCBExploration
/// (read, not copied). Larger γ exploits more; theory sets γ ∝ √(KT/Reg_oracle(T)).
/// </summary>
public static class RegressionOracleExploration
{
    /// <summary>SquareCB's probabilities for predictions <paramref name="predicted"/> and γ ≥ 0.</summary>
    public static double[] SquareCb(ReadOnlySpan<double> predicted, double gamma)
    {
        Check(predicted, gamma);
        int k = predicted.Length;
        int best = BanditInput.ArgMax(predicted);
        var p = new double[k];
        double rest = 0;
        for (int a = 0; a < k; a++)
        {
            if (a == best) continue;
            p[a] = 1.0 / (k + gamma * (predicted[best] - predicted[a]));
            rest += p[a];
        }
        p[best] = 1.0 - rest;
        return p;
    }

    /// <summary>FastCB's probabilities for predictions <paramref name="predicted"/> (clamped to [lb, ub]) and γ ≥ 0.</summary>
    public static double[] FastCb(ReadOnlySpan<double> predicted, double gamma, double lowerBound = 0.0, double upperBound = 1.0)
    {
        Check(predicted, gamma);
        if (!(upperBound > lowerBound) || !double.IsFinite(lowerBound) || !double.IsFinite(upperBound))
            throw new ArgumentException(FormattableString.Invariant($"reward bounds must be finite with lowerBound < upperBound, got [{lowerBound}, {upperBound}]."), nameof(upperBound));
        int k = predicted.Length;
        var y = new double[k];
        for (int a = 0; a < k; a++) y[a] = Math.Clamp(predicted[a], lowerBound, upperBound);
        int best = BanditInput.ArgMax(y);
        var p = new double[k];
        double top = y[best] - lowerBound;
        if (top <= 0)
        {
            Array.Fill(p, 1.0 / k);
            return p;
        }
        double rest = 0;
        for (int a = 0; a < k; a++)
        {
            if (a == best) continue;
            p[a] = top / (k * top + gamma * (y[best] - y[a]));
            rest += p[a];
        }
        p[best] = 1.0 - rest;
        return p;
    }

    private static void Check(ReadOnlySpan<double> predicted, double gamma)
    {
        if (predicted.Length == 0) throw new ArgumentException("predicted holds no arms.", nameof(predicted));
        for (int a = 0; a < predicted.Length; a++)
            if (!double.IsFinite(predicted[a])) throw new ArgumentException(FormattableString.Invariant($"predicted[{a}] is {predicted[a]}."), nameof(predicted));
        if (!(gamma >= 0) || !double.IsFinite(gamma)) throw new ArgumentException(FormattableString.Invariant($"gamma must be a finite number ≥ 0, got {gamma}."), nameof(gamma));
    }
}
