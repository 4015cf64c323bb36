namespace SharpOptim.Tasks.Tuning;

/// <summary>One rung of successive halving: how many configurations train, for how many steps.</summary>
/// <param name="Configurations">Configurations trained in this rung.</param>
/// <param name="Steps">Training steps of each (from scratch).</param>
public readonly record struct Rung(int Configurations, int Steps);

/// <summary>
/// Successive halving (Jamieson &amp; Talwalkar, "Non-stochastic Best Arm Identification and Hyperparameter
/// Optimization", AISTATS 2016; the rung schedule of Li et al., "Hyperband", JMLR 2018): n configurations train for
/// r steps, the best 1/η (by validation loss) go on to η·r steps, and so on up to the full run length.
/// <para>This library's choices: every rung trains from scratch (no warm start from the previous rung, so a trial is
/// a pure function of configuration, steps and seed, which makes sweeps resumable and deterministic); the budget is
/// counted in training steps; a diverged or non-finite trial ranks last; ties go to the configuration drawn first.</para>
/// </summary>
public static class SuccessiveHalving
{
    /// <summary>Fewest steps a rung may train (shorter runs say little about a learning rate).</summary>
    public const int MinRungSteps = 10;

    /// <summary>
    /// The rungs for a budget of <paramref name="budget"/> training steps and runs of at most
    /// <paramref name="maxSteps"/> steps: as many halvings as possible (at most <paramref name="maxHalvings"/>, the first
    /// rung at least <see cref="MinRungSteps"/> steps) while the first rung still has η^K configurations, then as
    /// many first-rung configurations as the budget pays for (each rung costs about n·r₀ steps). The last rung always
    /// trains for <paramref name="maxSteps"/>. An <see cref="ArgumentException"/> names the budget when it cannot pay
    /// for two configurations at full length (the smallest sweep that compares anything).
    /// </summary>
    public static IReadOnlyList<Rung> Plan(long budget, int maxSteps, int eta = 3, int maxHalvings = 3)
    {
        if (maxSteps < 1) throw new ArgumentOutOfRangeException(nameof(maxSteps), maxSteps, "maxSteps must be positive.");
        if (eta < 2) throw new ArgumentOutOfRangeException(nameof(eta), eta, "eta must be at least 2.");
        if (maxHalvings < 0) throw new ArgumentOutOfRangeException(nameof(maxHalvings), maxHalvings, "maxHalvings must not be negative.");
        if (budget < 2L * maxSteps)
            throw new ArgumentException(FormattableString.Invariant(
                $"budget {budget} steps is too small for one rung: comparing two configurations for {maxSteps} steps needs at least {2L * maxSteps}."), nameof(budget));
        for (int k = maxHalvings; k >= 0; k--)
        {
            long pow = (long)Math.Pow(eta, k);
            int r0 = (int)(maxSteps / pow);
            if (k > 0 && r0 < MinRungSteps) continue;
            var rungs = Build(FirstRungSize(budget, maxSteps, eta, k), maxSteps, eta, k);
            if (rungs is not null) return rungs;
        }
        throw new InvalidOperationException("unreachable: a budget of two full runs always fits zero halvings");
    }

    // The largest n whose schedule with k halvings fits the budget, or 0 when even n = η^k does not.
    private static int FirstRungSize(long budget, int maxSteps, int eta, int k)
    {
        int lo = 0, n = (int)Math.Pow(eta, k);
        while (Cost(n, maxSteps, eta, k) <= budget) { lo = n; n *= 2; if (n > 1_000_000) break; }
        int hi = n;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) / 2;
            if (Cost(mid, maxSteps, eta, k) <= budget) lo = mid; else hi = mid;
        }
        return lo >= (int)Math.Pow(eta, k) && lo >= 2 ? lo : 0;
    }

    private static IReadOnlyList<Rung>? Build(int n, int maxSteps, int eta, int k)
    {
        if (n == 0) return null;
        var rungs = new List<Rung>();
        for (int i = 0; i <= k; i++)
        {
            int configs = Math.Max(1, (int)(n / Math.Pow(eta, i)));
            int steps = i == k ? maxSteps : (int)(maxSteps / Math.Pow(eta, k - i));
            rungs.Add(new Rung(configs, steps));
        }
        return rungs;
    }

    /// <summary>Training steps a schedule starting with <paramref name="n"/> configurations and <paramref name="k"/>
    /// halvings costs.</summary>
    public static long Cost(int n, int maxSteps, int eta, int k)
    {
        long total = 0;
        for (int i = 0; i <= k; i++)
        {
            long configs = Math.Max(1, (long)(n / Math.Pow(eta, i)));
            long steps = i == k ? maxSteps : (long)(maxSteps / Math.Pow(eta, k - i));
            total += configs * steps;
        }
        return total;
    }

    /// <summary>Steps the whole plan trains.</summary>
    public static long Cost(IReadOnlyList<Rung> rungs) => rungs.Sum(r => (long)r.Configurations * r.Steps);

    /// <summary>
    /// The <paramref name="keep"/> best of <paramref name="candidates"/> by <paramref name="score"/> (lower is better;
    /// NaN and infinities rank last), ties broken by the candidate's position; returned in rank order.
    /// </summary>
    public static IReadOnlyList<int> Survivors(IReadOnlyList<int> candidates, Func<int, double> score, int keep)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(score);
        if (keep < 1) throw new ArgumentOutOfRangeException(nameof(keep), keep, "keep must be at least 1.");
        return candidates
            .Select((c, pos) => (c, pos, s: score(c)))
            .OrderBy(x => double.IsFinite(x.s) ? 0 : 1)
            .ThenBy(x => double.IsFinite(x.s) ? x.s : 0)
            .ThenBy(x => x.pos)
            .Take(keep)
            .Select(x => x.c)
            .ToList();
    }
}
