using SharpOptim.Distributed;

namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// The one name → factory table of the distributed algorithms that <c>sharpoptim dist</c> (and the MPI driver) can
/// run. To add an algorithm, add one entry here. Defaults are tuned for the small real tasks of
/// <see cref="DistributedTask"/> (batch 32): they are not the papers' large-model settings, which each algorithm's
/// documentation gives.
/// </summary>
public static class DistributedAlgorithms
{
    private static readonly List<DistributedAlgorithmInfo> Entries = new()
    {
        new("dsgd", 1000, D(("lr", 0.1), ("mix_every", 1), ("combine_then_adapt", 0)), c => new DecentralizedSgd(c.Problem, c.Comm, c.Topology,
            c.Option("lr", 0.1), c.Flag("combine_then_adapt", false) ? GossipOrder.CombineThenAdapt : GossipOrder.AdaptThenCombine, c.Count("mix_every", 1), c.L1)),
        new("gt", 1000, D(("lr", 0.1), ("combine_then_adapt", 0)), c => new GradientTracking(c.Problem, c.Comm, c.Topology,
            c.Option("lr", 0.1), c.L1, c.Flag("combine_then_adapt", false) ? GossipOrder.CombineThenAdapt : GossipOrder.AdaptThenCombine)),
        new("prox-dasa", 1000, D(("lr", 5.0), ("alpha_base", 0.3), ("comm_rounds", 1), ("scale_loss", 0)), c => ProxDasaFor(c, ProxDasaVariant.ProxDasa)),
        new("prox-dasa-gt", 1000, D(("lr", 5.0), ("alpha_base", 0.3), ("comm_rounds", 1), ("scale_loss", 0)), c => ProxDasaFor(c, ProxDasaVariant.GradientTracking)),
        new("prox-dasa-gt-as-coded", 1000, D(("lr", 5.0), ("alpha_base", 0.3), ("comm_rounds", 1), ("scale_loss", 0)), c => ProxDasaFor(c, ProxDasaVariant.GradientTrackingAsCoded)),
        new("fedavg", 50, D(("lr", 0.1), ("local_steps", 20), ("server_lr", 1), ("participation", 1)), c => new FedAvg(c.Problem, c.Comm,
            c.Option("lr", 0.1), c.Count("local_steps", 20), c.Option("server_lr", 1), c.Option("participation", 1), c.Seed)),
        new("diloco", 50, D(("inner_lr", 1e-3), ("inner_steps", 20), ("inner_weight_decay", 0.1), ("outer_lr", 0.7), ("outer_momentum", 0.9), ("nesterov", 1)),
            c => new DiLoCo(c.Problem, c.Comm, c.Count("inner_steps", 20), c.Option("inner_lr", 1e-3), c.Option("inner_weight_decay", 0.1),
                c.Option("outer_lr", 0.7), c.Option("outer_momentum", 0.9), c.Flag("nesterov", true))),
        new("streaming-diloco", 50, D(("inner_lr", 1e-3), ("inner_steps", 20), ("inner_weight_decay", 0.1), ("outer_lr", 0.7), ("outer_momentum", 0.9),
            ("fragments", 2), ("overlap", 1), ("mix_alpha", 0.5), ("quantize", 1)), c => new StreamingDiLoCo(c.Comm, c.Problem, InnerAdamW(c, 0.1),
            new StreamingDiLoCoOptions { InnerSteps = c.Count("inner_steps", 20), OverlapSteps = (int)c.Option("overlap", 1), MixingAlpha = c.Option("mix_alpha", 0.5),
                Quantize = c.Flag("quantize", true), OuterLr = c.Option("outer_lr", 0.7), OuterMomentum = c.Option("outer_momentum", 0.9),
                ParameterFragments = StreamingDiLoCo.StridedFragments(Enumerable.Range(0, c.Problem.Parameters.Count).Select(i => i / 2).ToArray(), c.Count("fragments", 2)) })),
        new("noloco", 50, D(("inner_lr", 1e-3), ("inner_steps", 20), ("inner_weight_decay", 0), ("outer_lr", 0.7), ("outer_momentum", 0.5), ("group", 2)),
            c => new NoLoCo(c.Comm, c.Problem, InnerAdamW(c, 0), new NoLoCoOptions { InnerSteps = c.Count("inner_steps", 20), GroupSize = c.Count("group", 2),
                OuterLr = c.Option("outer_lr", 0.7), Momentum = c.Option("outer_momentum", 0.5), Seed = c.Seed })),
        new("co2", 50, D(("inner_lr", 1e-3), ("inner_steps", 20), ("inner_weight_decay", 0.1), ("outer_lr", 1), ("outer_momentum", 0), ("gap_penalty", 1), ("clip", 1), ("stale", 0)),
            c => new Co2(c.Comm, c.Problem, InnerAdamW(c, 0.1), new Co2Options { InnerSteps = c.Count("inner_steps", 20), OuterLr = c.Option("outer_lr", 1),
                OuterMomentum = c.Option("outer_momentum", 0), GapPenalty = c.Option("gap_penalty", 1), MomentumClip = c.Option("clip", 1),
                Mode = c.Flag("stale", false) ? Co2Mode.OneStepStale : Co2Mode.Synchronous })),
        new("fedspeed", 50, D(("lr", 0.1), ("local_steps", 20), ("lamb", 0.1), ("rho", 0.1), ("merge_weight", 1), ("weight_decay", 1e-3), ("lr_decay", 0.998),
            ("max_grad_norm", 10), ("participation", 1), ("server_term", 1)), FedSpeedFor),
        new("single-merging", 300, D(("lr", 0.05), ("weight_decay", 0), ("local_steps", 10), ("r_start", 0.2), ("r_end", -1), ("point1", 0.997), ("final_merge", 1)),
            SingleMergingFor),
    };

    // FedSpeed (official client, ρ = 0.1 as woodenchild95/FL-Simulator's train.py): the SAM step takes two gradients on
    // one mini-batch, so the factory uses the rank's batch source; without one (a caller that builds the context from a
    // bare WorkerProblem) only ρ = 0 is possible, and FedSpeed's WorkerProblem constructor says so.
    private static FedSpeed FedSpeedFor(DistributedAlgorithmContext c)
    {
        var options = new FedSpeedOptions
        {
            Lr = c.Option("lr", 0.1), LocalSteps = c.Count("local_steps", 20), Lamb = c.Option("lamb", 0.1), Rho = c.Option("rho", 0.1),
            MergeWeight = c.Option("merge_weight", 1), WeightDecay = c.Option("weight_decay", 1e-3), LrDecay = c.Option("lr_decay", 0.998),
            MaxGradNorm = c.Option("max_grad_norm", 10), ParticipationRate = c.Option("participation", 1), ServerCorrection = c.Flag("server_term", true), Seed = c.Seed,
        };
        return c.NextBatch is null ? new FedSpeed(c.Comm, c.Problem, options) : new FedSpeed(c.Comm, c.Problem.Model, c.NextBatch, options);
    }

    // The single-merging schedule (Zhu et al.) over local SGD: TotalSteps = rounds × local_steps, so the global merge is
    // the last round. r_end = −1 means n − 1 (full averaging, the figure-1 config); point1 = 1 gives the code's `fixed`
    // schedule at r_start; final_merge = 0 leaves the models unmerged.
    private static SingleMerging SingleMergingFor(DistributedAlgorithmContext c)
    {
        int localSteps = c.Count("local_steps", 10);
        double rEnd = c.Option("r_end", -1);
        var options = new SingleMergingOptions
        {
            LocalSteps = localSteps, TotalSteps = checked(c.Rounds * localSteps), RStart = c.Option("r_start", 0.2), REnd = rEnd == -1 ? null : rEnd,
            Point1 = c.Option("point1", 0.997), FinalMerge = c.Flag("final_merge", true), Seed = c.Seed, BeforeFinalMerge = c.BeforeFinalMerge,
        };
        var sgd = new SharpOptim.Optimizers.SGD(c.Problem.Parameters, c.Option("lr", 0.05), weight_decay: c.Option("weight_decay", 0));
        return new SingleMerging(c.Comm, c.Problem, sgd, options);
    }

    // Inner AdamW of the low-communication methods (streaming-diloco, noloco, co2): betas (0.9, 0.95) as DiLoCo's.
    private static SharpOptim.Optimizers.AdamW InnerAdamW(DistributedAlgorithmContext c, double weightDecay) =>
        new(c.Problem.Parameters, c.Option("inner_lr", 1e-3), 0.9, 0.95, 1e-8, c.Option("inner_weight_decay", weightDecay));

    /// <summary>Every registered algorithm.</summary>
    public static IReadOnlyList<DistributedAlgorithmInfo> All => Entries;

    /// <summary>Names, in registration order.</summary>
    public static IReadOnlyList<string> Names => Entries.Select(e => e.Name).ToList();

    /// <summary>Registers another algorithm (a later entry with the same name replaces the earlier one).</summary>
    public static void Register(DistributedAlgorithmInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        lock (Entries)
        {
            Entries.RemoveAll(e => e.Name == info.Name);
            Entries.Add(info);
        }
    }

    /// <summary>The entry named <paramref name="name"/>; an <see cref="ArgumentException"/> listing the valid names otherwise.</summary>
    public static DistributedAlgorithmInfo Get(string name) =>
        Entries.FirstOrDefault(e => e.Name == name)
        ?? throw new ArgumentException(FormattableString.Invariant($"unknown distributed algorithm '{name}'; valid: {string.Join(", ", Names)}."), nameof(name));

    /// <summary>
    /// Rejects a hyperparameter name that <paramref name="info"/> does not read, so that a typo in <c>--opt</c> fails
    /// before any run instead of being silently ignored.
    /// </summary>
    public static void CheckOptions(DistributedAlgorithmInfo info, IReadOnlyDictionary<string, double> options)
    {
        foreach (var key in options.Keys)
            if (!info.Defaults.ContainsKey(key))
                throw new ArgumentException(FormattableString.Invariant($"{info.Name} has no hyperparameter '{key}'; valid: {string.Join(", ", info.Defaults.Keys)}."), nameof(options));
    }

    // The dist command's composite-task setting: the objective is exactly mean loss + l1·‖x‖₁ (scale_loss 0); the
    // official code's 1/n loss scaling is scale_loss 1.
    private static ProxDasa ProxDasaFor(DistributedAlgorithmContext c, ProxDasaVariant variant) =>
        new(c.Problem, c.Comm, c.Topology, c.Option("lr", 5.0), c.Option("alpha_base", 0.3), c.L1, variant,
            ProxDasaStepSize.Diminishing, c.Rounds, c.Count("comm_rounds", 1), c.Flag("scale_loss", false));

    private static IReadOnlyDictionary<string, double> D(params (string Key, double Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);
}
