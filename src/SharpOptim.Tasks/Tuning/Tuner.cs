namespace SharpOptim.Tasks.Tuning;

/// <summary>
/// Runs successive halving for one optimizer over sampled configurations, then re-runs the selected one on several
/// seeds. Every trial goes through a <see cref="TrialStore"/>: one already stored is read, not trained again, so an
/// interrupted sweep continues where it stopped and gives the result an uninterrupted one gives. Selection reads
/// validation losses only; the re-runs report the test split once, at their end.
/// </summary>
public static class Tuner
{
    /// <summary>What happened to a trial: trained now, or read from the store.</summary>
    public readonly record struct TrialEvent(TrialKey Key, TrialResult Result, bool FromStore);

    /// <summary>
    /// Sweeps <paramref name="optimizer"/>: rung 0 trains the first <c>rungs[0].Configurations</c> of
    /// <paramref name="configs"/> on seed 0, each later rung the survivors of the one before
    /// (<see cref="SuccessiveHalving.Survivors"/>); the best of the last rung is re-run on seeds 0 … finalSeeds−1 for
    /// the last rung's steps. <paramref name="train"/> trains one trial (the configuration's tuned values are passed;
    /// the caller adds the rest). Stops between trials when <paramref name="cancel"/> fires (then
    /// <see cref="OptimizerSweep.Complete"/> is false).
    /// </summary>
    public static OptimizerSweep Sweep(string optimizer, IReadOnlyList<IReadOnlyDictionary<string, double>> configs, IReadOnlyList<Rung> rungs,
        int finalSeeds, TrialStore store, Func<TrialKey, IReadOnlyDictionary<string, double>, TrialResult> train,
        Action<TrialEvent>? finished = null, CancellationToken cancel = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(optimizer);
        ArgumentNullException.ThrowIfNull(configs);
        ArgumentNullException.ThrowIfNull(rungs);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(train);
        if (rungs.Count == 0) throw new ArgumentException("No rungs to run.", nameof(rungs));
        if (configs.Count < rungs[0].Configurations)
            throw new ArgumentException(FormattableString.Invariant($"{configs.Count} configurations for a first rung of {rungs[0].Configurations}."), nameof(configs));
        if (finalSeeds < 1) throw new ArgumentOutOfRangeException(nameof(finalSeeds), finalSeeds, "finalSeeds must be at least 1.");
        var sweep = new OptimizerSweep { Optimizer = optimizer, Configs = configs };

        TrialResult? Run(TrialKey key)
        {
            if (store.TryLoad(key) is { } stored)
            {
                finished?.Invoke(new TrialEvent(key, stored, true));
                return stored;
            }
            if (cancel.IsCancellationRequested) return null;
            var result = train(key, configs[key.Config]);
            if (cancel.IsCancellationRequested && result.StepsTaken < key.Steps && !result.Diverged) return null;   // stopped mid-run: not a result
            store.Save(key, result);
            finished?.Invoke(new TrialEvent(key, result, false));
            return result;
        }

        IReadOnlyList<int> alive = Enumerable.Range(0, rungs[0].Configurations).ToList();
        for (int i = 0; i < rungs.Count; i++)
        {
            var outcome = new RungOutcome(rungs[i].Steps, new List<(int, TrialResult)>());
            foreach (int c in alive)
            {
                var r = Run(new TrialKey(optimizer, c, rungs[i].Steps, 0, false));
                if (r is null) { if (outcome.Trials.Count > 0) sweep.Rungs.Add(outcome); return sweep; }
                outcome.Trials.Add((c, r));
            }
            sweep.Rungs.Add(outcome);
            var scores = outcome.Trials.ToDictionary(t => t.Config, t => t.Result.Score);
            int keep = i + 1 < rungs.Count ? Math.Min(rungs[i + 1].Configurations, alive.Count) : 1;
            alive = SuccessiveHalving.Survivors(alive, c => scores[c], keep);
        }
        sweep.Selected = alive[0];
        int steps = rungs[^1].Steps;
        for (int seed = 0; seed < finalSeeds; seed++)
        {
            var r = Run(new TrialKey(optimizer, sweep.Selected, steps, seed, true));
            if (r is null) return sweep;
            sweep.Finals.Add(r);
        }
        sweep.Complete = true;
        return sweep;
    }
}
