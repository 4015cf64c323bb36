namespace SharpOptim.Analysis;

/// <summary>
/// Gradient descent with a constant step size on one-dimensional quadratic regression, after Chen, Balasubramanian,
/// Ghosal &amp; Agrawalla, "From Stability to Chaos: Analyzing Gradient Descent Dynamics in Quadratic Regression",
/// arXiv:2310.01687, whose abstract states that the dynamics reduce to a cubic map parameterized by the step size and
/// pass through five phases (monotonic, catapult, periodic, chaotic, divergent).
/// <b>Reconstruction:</b> the paper body was not available. The map here is derived for the simplest instance the
/// abstract names (phase retrieval with one orthogonal sample, ℓ(w) = ¼(w² − y)², y &gt; 0): GD w ← w − η(w² − y)w,
/// and with z = w/√y, a = ηy,
/// <c>z ← f_a(z) = (1 + a) z − a z³</c>.
/// The phase boundaries are this library's analysis of f_a (not quoted from the paper):
/// <list type="bullet">
/// <item>monotonic for a ≤ 1/2: f_a(z) − 1 = (z − 1)(1 − a z(z + 1)), so for z ∈ (0, 1) the iterates increase to 1
/// without overshooting (<see cref="MonotonicLimit"/>);</item>
/// <item>catapult for 1/2 &lt; a &lt; 1: f_a'(1) = 1 − 2a ∈ (−1, 0), the fixed point attracts with overshoot;</item>
/// <item>periodic from a = 1 (<see cref="FlipBoundary"/>: f_a'(1) = −1, a period-doubling bifurcation), through the
/// period-doubling cascade;</item>
/// <item>chaotic after the cascade accumulates (found numerically; periodic windows remain inside);</item>
/// <item>divergent for a &gt; 2 (<see cref="EscapeBoundary"/>): the interval [−M, M] with M² = (2 + a)/a (the
/// symmetric 2-cycle f(M) = −M) is invariant iff max f_a = (2/3)(1 + a)√((1 + a)/(3a)) ≤ M, i.e.
/// 4(1 + a)³ ≤ 27(2 + a), with equality at a = 2.</item>
/// </list>
/// Classification of one trajectory (<see cref="Classify"/>) is numerical: divergence when |z| exceeds 1e6; convergence
/// to ±1 within 1e-9, or still contracting towards it (tiny a, or a next to 1) with a negative Lyapunov exponent (monotonic when z_t − z* never changes sign while |z_t − z*| > 1e-12, catapult otherwise); a period 2 ≤ p ≤ 256 when the last
/// iterates repeat within 1e-9; otherwise chaotic when the Lyapunov exponent (mean of ln|f_a'(z_t)| over the second
/// half) is positive, else periodic (a long or slowly converging cycle).
/// </summary>
public static class GradientDescentCubicMap
{
    /// <summary>a = ηy at or below which convergence is monotone.</summary>
    public const double MonotonicLimit = 0.5;
    /// <summary>a = ηy where the fixed point loses stability (f_a'(1) = −1).</summary>
    public const double FlipBoundary = 1.0;
    /// <summary>a = ηy above which trajectories escape.</summary>
    public const double EscapeBoundary = 2.0;

    /// <summary>f_a(z) = (1 + a) z − a z³: one GD step in the normalized coordinate.</summary>
    public static double Step(double a, double z) => (1 + a) * z - a * z * z * z;

    /// <summary>f_a'(z) = 1 + a − 3 a z².</summary>
    public static double Derivative(double a, double z) => 1 + a - 3 * a * z * z;

    /// <summary>The outcome of one trajectory: its phase, Lyapunov exponent (NaN when divergent), detected period
    /// (1 for convergence, 0 when none), and the last iterates (for the bifurcation diagram).</summary>
    /// <param name="Phase">The phase.</param>
    /// <param name="Lyapunov">Mean ln|f'| over the second half of the trajectory.</param>
    /// <param name="Period">Detected period (0 if none).</param>
    /// <param name="Tail">The last iterates.</param>
    public sealed record Outcome(TrainingPhase Phase, double Lyapunov, int Period, double[] Tail);

    /// <summary>Runs <paramref name="iterations"/> steps from <paramref name="z0"/> and classifies the trajectory.</summary>
    public static Outcome Classify(double a, double z0, int iterations = 4000, int tail = 64)
    {
        if (!(a > 0) || !double.IsFinite(a)) throw new ArgumentException(FormattableString.Invariant($"a (step size × target) must be positive and finite, got {a}."), nameof(a));
        if (!double.IsFinite(z0) || z0 == 0) throw new ArgumentException(FormattableString.Invariant($"z0 must be finite and non-zero (0 is a fixed point), got {z0}."), nameof(z0));
        if (iterations < 4 * Math.Max(tail, 256)) throw new ArgumentException(FormattableString.Invariant($"iterations must be at least {4 * Math.Max(tail, 256)}, got {iterations}."), nameof(iterations));
        double target = z0 > 0 ? 1 : -1;
        double z = z0;
        int side = Math.Sign(z - target);
        bool oneSided = true;
        double lyap = 0;
        int half = iterations / 2;
        var last = new double[Math.Max(tail, 257)];
        for (int t = 0; t < iterations; t++)
        {
            double d = Math.Abs(Derivative(a, z));
            z = Step(a, z);
            if (!double.IsFinite(z) || Math.Abs(z) > 1e6) return new Outcome(TrainingPhase.Divergent, double.NaN, 0, Array.Empty<double>());
            // Sides count only away from rounding noise: at convergence z lands on 1 ± an ulp.
            int s = Math.Abs(z - target) > 1e-12 ? Math.Sign(z - target) : 0;
            if (s != 0 && side != 0 && s != side) oneSided = false;
            if (s != 0) side = s;
            if (t >= half) lyap += Math.Log(Math.Max(d, 1e-300));
            last[t % last.Length] = z;
        }
        lyap /= iterations - half;
        double At(int back) => last[((iterations - 1 - back) % last.Length + last.Length) % last.Length];
        var tailValues = Enumerable.Range(0, tail).Select(i => At(tail - 1 - i)).ToArray();
        // Converged to ±1, or still creeping towards it (tiny a: the last steps move less than 1e-9).
        double Gap(int back) => Math.Abs(Math.Abs(At(back)) - 1);
        bool creeping = lyap < 0 && Gap(0) < 1e-2 && Gap(0) < Gap(2) * (1 - 1e-6) && Gap(2) < Gap(4) * (1 - 1e-6);
        if (Math.Abs(z - 1) < 1e-9 || Math.Abs(z + 1) < 1e-9 || creeping)
            return new Outcome(oneSided ? TrainingPhase.Monotonic : TrainingPhase.Catapult, lyap, 1, tailValues);
        for (int p = 2; p <= 256; p++)
        {
            bool repeats = true;
            for (int i = 0; i < p && repeats; i++) repeats = Math.Abs(At(i) - At(i + p)) < 1e-9;
            if (repeats) return new Outcome(TrainingPhase.Periodic, lyap, p, tailValues);
        }
        return new Outcome(lyap > 0 ? TrainingPhase.Chaotic : TrainingPhase.Periodic, lyap, 0, tailValues);
    }
}
