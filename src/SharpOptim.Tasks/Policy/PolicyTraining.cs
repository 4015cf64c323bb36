using System.Diagnostics;
using SharpOptim.Optimizers;
using SharpOptim.Policy;
using SharpOptim.Tasks.Models;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Policy;

/// <summary>
/// The RL loop on <see cref="NoisyAddition"/>: sample groups with <see cref="RolloutSampler"/> (key/value cache),
/// score them exactly, compute ℓ^ref with the frozen reference (no grad), fix ℓ^old and the advantages (ReMax's greedy
/// baseline, PPO's values and GAE) once per rollout batch, then take <see cref="PolicyRunSettings.Epochs"/> ×
/// <see cref="PolicyRunSettings.MiniBatches"/> optimizer steps, each on a mini-batch of whole groups with ℓ from the
/// policy's forward on it (verl's <c>ppo_epochs</c> / <c>ppo_mini_batch_size</c> loop; DisCO's official script takes 4
/// steps per rollout batch). With the default 1 × 1, ρ = 1 in value at the step, so PPO clipping and DisCO's trust region
/// are inactive (DeepSeekMath's single-update setting); with more, they bind after the first update and
/// <see cref="PolicyStepMetrics.ClipFraction"/>, <see cref="PolicyStepMetrics.RatioDeviation"/> and
/// <see cref="PolicyStepMetrics.DiscoKl"/> show how much. Group-local advantages (GRPO, RLOO, DisCO, CAPO, ReMax) are the
/// same per batch or per mini-batch because a group is never split; losses are normalized per mini-batch, as verl's
/// per-mini-batch loss. K3, exact KL and entropy are logged from the first epoch's forwards (token-weighted over its
/// mini-batches; each at the weights before its own update). CAPO's shadow state takes each update's mean gradient.
/// Methods and the settings they run with:
/// <list type="bullet">
/// <item>grpo: <see cref="Grpo"/>, unbiased std, ε_std 1e-4, per-completion token mean, β = <see cref="PolicyRunSettings.Beta"/>;</item>
/// <item>dr-grpo: <see cref="GrpoOptions.DrGrpo"/> (r − mean, sum / (N · 4), β = 0);</item>
/// <item>remax: <see cref="ReMax"/>, plain form (γ = 1, no clip, no KL), token mean; the greedy completion of each prompt is decoded from the current weights before the step;</item>
/// <item>reinforce: <see cref="Reinforce"/> without baseline; rloo: leave-one-out baseline; both per-completion token mean;</item>
/// <item>disco / disco-b: <see cref="Disco"/> with log-L score, τ = 10, β = 1e3, δ = 1e-4, k1 KL (official log-L script);</item>
/// <item>arpo: <see cref="ArpoReplayBuffer{T}"/> (capacity 8, thresholds 0.1 / 0.05 / 0.2) then ℓ^old recomputed and
/// <see cref="GrpoOptions.Arpo"/>;</item>
/// <item>capo: <see cref="Capo"/> token masks from the policy's final hidden states and lm_head weight (Adam model with
/// (0.9, 0.999, 1e-8), η = the run's learning rate, thresholds <see cref="PolicyRunSettings.Capo"/> or
/// <see cref="CapoDefaults"/>), advantages r − mean, clip 0.2, β = 0; the shadow state takes the kept tokens' mean
/// output-layer gradient after each step. <see cref="PolicyStepMetrics.MaskedFraction"/> logs the masked share.</item>
/// <item>ppo: <see cref="Ppo"/> with <see cref="PpoDefaults"/>; the critic (<see cref="PpoCritic"/>, a copy of the frozen
/// reference = the supervised model, plus a value head) gives V under no_grad before the step (GAE), then takes its own
/// AdamW step (lr = the run's learning rate, weight decay 0.01 as verl's critic) on the clipped value loss each step.</item>
/// </list>
/// The task's <see cref="NoisyAdditionVariant"/> sets the generation budget (<see cref="NoisyAddition.NewTokens"/>, also
/// Dr. GRPO's constant L_max) and adds the miniatures' metrics: lengths of wrong and right completions, reward on the hard
/// subset, and greedy / sampled accuracy on the held-out hard prompts at every evaluation.
/// </summary>
public static class PolicyTraining
{
    /// <summary>CAPO's thresholds on noisy addition (2×64 model, Adam lr 1e-3): τ_H = 0.04, τ_F = 3e-3, about the 95th
    /// percentile of |ΔJ| and ΔKL over the completion tokens of one 8 × 8 batch from the SFT model with a one-step shadow
    /// state (measured once: 0.038 and 0.0028), so that a few percent of tokens are masked, as the paper reports for
    /// its setting. The recipe's 7B values (τ_H = 0.01, τ_F = 1e-4) would mask about a third (ΔJ) and over half (ΔKL)
    /// of this model's tokens. The brief's sweep (τ_H ∈ {1e-3, 1e-2, 1e-1} × τ_F ∈ {1e-5, 1e-4, 1e-3}, docs/policy/capo-sweep)
    /// found no pair that avoids the collapse at 10× lr, and its best pair (0.1, 1e-3) masks 11% and loses reward at the
    /// stable lr, so these defaults stay.</summary>
    public static CapoOptions CapoDefaults { get; } = new() { TauHessian = 0.04, TauFisher = 3e-3 };

    /// <summary>PPO's settings on noisy addition: verl's defaults (γ = λ = 1, clip 0.2, dual clip 3, value clip 0.5,
    /// whitened advantages) without KL in the reward, like the plain ReMax it is compared with.</summary>
    public static PpoOptions PpoDefaults { get; } = new();

    /// <summary>Runs <paramref name="settings"/> from the given policy (trained in place) and frozen reference.</summary>
    public static PolicyRunResult Run(CharTransformer policy, CharTransformer reference, NoisyAddition task, PolicyRunSettings settings, int seed,
        Action<PolicyStepMetrics>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(task);
        settings.Validate();
        if (settings.TrainPrompts > task.TrainIds.Length)
            throw new ArgumentException($"TrainPrompts = {settings.TrainPrompts}; the task has {task.TrainIds.Length} training prompts.", nameof(settings));
        var pool = settings.TrainPrompts > 0 ? task.TrainIds.Take(settings.TrainPrompts).ToArray() : task.TrainIds;
        var total = Stopwatch.StartNew();
        using var opt = OptimizerCatalog.Get(settings.Optimizer).Create(policy.named_parameters(), new Dictionary<string, double> { ["lr"] = settings.LearningRate });
        var sampler = new RolloutSampler(policy, task.EndToken, task.NewTokens, settings.Temperature, 0, settings.UseCache);
        var rng = new Random(seed);
        var buffer = settings.Method == "arpo" ? new ArpoReplayBuffer<long[]>(new Random(seed + 7919)) : null;
        var capoOptions = settings.Capo ?? CapoDefaults;
        using var shadow = new CapoShadowAdam(capoOptions.Beta1, capoOptions.Beta2, capoOptions.Epsilon);
        using var critic = settings.Method == "ppo" ? NewCritic(reference) : null;
        using var criticOpt = critic is null ? null
            : OptimizerCatalog.Get("adamw").Create(critic.TrainableParameters(), new Dictionary<string, double> { ["lr"] = settings.LearningRate, ["weight_decay"] = 0.01 });
        double greedyBefore = GreedyAccuracy(policy, task, task.HeldOutIds);
        double sampledBefore = SampledAccuracy(policy, task, task.HeldOutIds, 4, seed);
        bool hasHard = task.HeldOutHardIds.Length > 0;
        double hardGreedyBefore = hasHard ? GreedyAccuracy(policy, task, task.HeldOutHardIds) : double.NaN;
        double hardSampledBefore = hasHard ? SampledAccuracy(policy, task, task.HeldOutHardIds, HardSamplesPerPrompt, seed + 2) : double.NaN;
        var steps = new List<PolicyStepMetrics>();
        for (int step = 1; step <= settings.Steps; step++)
        {
            var sw = Stopwatch.StartNew();
            using var scope = NewDisposeScope();
            var ids = pool.OrderBy(_ => rng.Next()).Take(settings.PromptsPerStep).ToArray();
            var prompts = ids.Select(task.Prompt).ToArray();
            using var batch = sampler.Sample(prompts, ids.Select(i => (long)i).ToArray(), settings.GroupSize, seed * 1_000_003L + step);
            int n = batch.Count, g = settings.GroupSize;
            var completions = Enumerable.Range(0, n).Select(batch.CompletionOf).ToArray();
            var rewards = Enumerable.Range(0, n).Select(r => task.Reward((int)batch.PromptIds[r], completions[r])).ToArray();
            double meanReward = rewards.Average();
            int zeroVar = Enumerable.Range(0, ids.Length).Count(j => rewards.Skip(j * g).Take(g).Distinct().Count() == 1);
            long generated = batch.Lengths.Sum();
            var (lengthWrong, lengthRight, hardReward) = LengthAndHardMetrics(task, batch.PromptIds, batch.Lengths, rewards);

            Tensor comp = batch.Completions, mask = batch.Mask, old = batch.OldLogProbs;
            int replaced = 0;
            if (buffer is not null)
            {
                var groups = Enumerable.Range(0, ids.Length).Select(j => completions.Skip(j * g).Take(g).ToArray()).ToArray();
                var successes = Enumerable.Range(0, ids.Length).Select(j => rewards.Skip(j * g).Take(g).ToArray()).ToArray();
                var which = buffer.Apply(ids.Select(i => (long)i).ToArray(), groups, successes);
                replaced = which.Count(x => x);
                for (int j = 0; j < ids.Length; j++)
                    for (int k = 0; k < g; k++)
                    {
                        completions[j * g + k] = groups[j][k];
                        rewards[j * g + k] = successes[j][k];
                    }
                (comp, mask) = Pack(completions, task.EndToken, task.NewTokens);
                using (no_grad()) old = SequenceLogProbs.Compute(policy, batch.Prompts, comp);
            }

            Tensor refDist;
            using (no_grad()) refDist = SequenceLogProbs.Distributions(reference, batch.Prompts, comp);
            var uid = batch.PromptIds;
            int e = settings.Epochs;
            var partitions = Enumerable.Range(1, e)
                .Select(epoch => MiniBatchRows(ids.Length, g, settings.MiniBatches, settings.MiniBatches > 1 ? new Random(unchecked(seed * 7_919 + step * 104_729 + epoch * 13)) : null))
                .ToArray();
            if ((buffer is not null && partitions[0].Length > 1) || (buffer is null && settings.RecomputeOld))
            {
                // ℓ^old recomputed with the current weights (ARPO always; others with RecomputeOld, as verl's actor does)
                // per mini-batch of the first epoch (the same shapes as that epoch's forwards), so the first update sees
                // ρ = 1 exactly; one mini-batch is the plain full-batch forward.
                using (no_grad())
                {
                    if (partitions[0].Length == 1) old = SequenceLogProbs.Compute(policy, batch.Prompts, comp);
                    else
                    {
                        var full = zeros(comp.shape[0], comp.shape[1], dtype: old.dtype);
                        foreach (var part in partitions[0])
                        {
                            using var idx = tensor(part.Select(r => (long)r).ToArray());
                            full.index_copy_(0, idx, SequenceLogProbs.Compute(policy, part.Select(r => batch.Prompts[r]).ToArray(), comp.index_select(0, idx)));
                        }
                        old = full;
                    }
                }
            }

            // Once per rollout batch (as verl): advantages, ReMax's greedy baseline, PPO's values and GAE.
            GrpoOptions? grpoOptions = settings.Method switch
            {
                "grpo" => new GrpoOptions { Beta = settings.Beta },
                "dr-grpo" => GrpoOptions.DrGrpo(task.NewTokens),
                "arpo" => GrpoOptions.Arpo,
                _ => null,
            };
            double[]? advantages = grpoOptions is not null ? Grpo.Advantages(rewards, uid, grpoOptions.ScaleByStd, grpoOptions.EpsilonStd)
                : settings.Method == "capo" ? Capo.Advantages(rewards, uid) : null;
            double[]? greedyRewards = null;
            if (settings.Method == "remax")
            {
                using var greedy = sampler.Greedy(prompts, ids.Select(i => (long)i).ToArray());
                greedyRewards = Enumerable.Range(0, ids.Length).Select(j => task.Reward(ids[j], greedy.CompletionOf(j))).ToArray();
                generated += greedy.Lengths.Sum();
            }
            Tensor? oldValues = null, ppoAdvantages = null, returns = null;
            if (critic is not null)
            {
                using (no_grad()) oldValues = critic.Values(batch.Prompts, comp);
                var tokenRewards = Ppo.TokenRewards(rewards, mask, old, SequenceLogProbs.Gather(refDist, comp), PpoDefaults.KlCoefficient);
                (ppoAdvantages, returns) = Ppo.Gae(tokenRewards, oldValues, mask, PpoDefaults);
            }
            var discoOptions = (settings.Disco ?? new DiscoOptions()) with { Robust = settings.Method == "disco" };

            var updates = new List<PolicyUpdateMetrics>();
            var klParts = new List<(double K3, double Exact, double Entropy, double Tokens)>();
            var maskedFractions = new List<double>();
            for (int epoch = 1; epoch <= e; epoch++)
                for (int part = 0; part < partitions[epoch - 1].Length; part++)
                {
                    var rows = partitions[epoch - 1][part];
                    bool all = rows.Length == n;
                    var idx = all ? null : tensor(rows.Select(r => (long)r).ToArray());
                    Tensor Rows(Tensor t) => all ? t : t.index_select(0, idx!);
                    var mbPrompts = all ? batch.Prompts : rows.Select(r => batch.Prompts[r]).ToArray();
                    Tensor mbComp = Rows(comp), mbMask = Rows(mask), mbOld = Rows(old), mbRefDist = Rows(refDist);
                    var mbRewards = rows.Select(r => rewards[r]).ToArray();
                    var mbUid = rows.Select(r => uid[r]).ToArray();
                    var mbAdv = advantages is null ? null : rows.Select(r => advantages[r]).ToArray();
                    var dist = SequenceLogProbs.Distributions(policy, mbPrompts, mbComp);
                    var logp = SequenceLogProbs.Gather(dist, mbComp);
                    Tensor loss;
                    CapoTokenEffects? effects = null;
                    double clip = double.NaN, discoKl = double.NaN;
                    bool penalty = false;
                    switch (settings.Method)
                    {
                        case "grpo":
                        case "dr-grpo":
                        case "arpo":
                            loss = Grpo.LossFromAdvantages(logp, mbOld, settings.Method == "grpo" ? SequenceLogProbs.Gather(mbRefDist, mbComp) : null, mbMask, mbAdv!, grpoOptions);
                            clip = ClipFraction(logp.detach(), mbOld, AdvantageColumn(mbAdv!), mbMask, grpoOptions!.ClipLow, grpoOptions.ClipHigh);
                            break;
                        case "remax":
                            loss = ReMax.Loss(logp, null, mbMask, mbRewards, rows.Select(r => greedyRewards![r / g]).ToArray());
                            break;
                        case "reinforce":
                            loss = Reinforce.Loss(logp, mbMask, mbRewards, ReinforceBaseline.None, aggregation: PolicyLossAggregation.SequenceMean);
                            break;
                        case "rloo":
                            loss = Reinforce.Loss(logp, mbMask, mbRewards, ReinforceBaseline.LeaveOneOut, groupIds: mbUid, aggregation: PolicyLossAggregation.SequenceMean);
                            break;
                        case "disco":
                        case "disco-b":
                        {
                            var result = Disco.Compute(logp, mbOld, mbMask, mbRewards, mbUid, discoOptions);
                            loss = result.Loss;
                            discoKl = result.Kl;
                            penalty = discoOptions.Beta > 0 && result.Kl > discoOptions.Delta;
                            break;
                        }
                        case "capo":
                        {
                            Tensor hidden;
                            using (no_grad()) hidden = Capo.HiddenStates(policy, mbPrompts, mbComp);
                            effects = Capo.TokenEffects(hidden, policy.HeadWeight, mbComp, mbMask, mbAdv!, settings.LearningRate, shadow, capoOptions);
                            loss = Capo.Loss(logp, mbOld, mbMask, effects.Keep, mbAdv!, capoOptions);
                            clip = ClipFraction(logp.detach(), mbOld, AdvantageColumn(mbAdv!), mbMask, capoOptions.Clip, capoOptions.Clip);
                            maskedFractions.Add(effects.MaskedFraction);
                            break;
                        }
                        default:   // ppo
                        {
                            var mbAdvantages = Rows(ppoAdvantages!);
                            loss = Ppo.PolicyLoss(logp, mbOld, mbAdvantages, mbMask, PpoDefaults);
                            clip = ClipFraction(logp.detach(), mbOld, mbAdvantages, mbMask, PpoDefaults.ClipLow, PpoDefaults.ClipHigh);
                            var valueLoss = Ppo.ValueLoss(critic!.Values(mbPrompts, mbComp), Rows(oldValues!), Rows(returns!), mbMask, PpoDefaults);
                            criticOpt!.zero_grad();
                            valueLoss.backward();
                            criticOpt.step();
                            break;
                        }
                    }
                    double deviation = RatioDeviation(logp.detach(), mbOld, mbMask);
                    opt.zero_grad();
                    loss.backward();
                    opt.step();
                    if (effects?.MeanGradient is not null) shadow.Update(effects.MeanGradient);
                    if (epoch == 1)
                    {
                        var (pk3, pexact, pentropy) = KlAndEntropy(dist.detach(), mbRefDist, logp.detach(), SequenceLogProbs.Gather(mbRefDist, mbComp), mbMask);
                        klParts.Add((pk3, pexact, pentropy, mbMask.sum().item<float>()));
                    }
                    updates.Add(new PolicyUpdateMetrics(epoch, part + 1, rows, clip, deviation, discoKl, penalty));
                }
            // Epoch 1's forwards (each at the weights before its own update), token-weighted over the mini-batches; with one
            // mini-batch this is the single forward's value exactly.
            double tokensAll = klParts.Sum(p => p.Tokens);
            double k3 = klParts.Sum(p => p.K3 * p.Tokens) / tokensAll, exact = klParts.Sum(p => p.Exact * p.Tokens) / tokensAll,
                entropy = klParts.Sum(p => p.Entropy * p.Tokens) / tokensAll;
            long trained = e * batch.Prompts.Sum(p => (long)p.Length + task.NewTokens - 1);
            bool isDisco = settings.Method is "disco" or "disco-b";
            bool evaluate = step % settings.EvalEvery == 0 || step == settings.Steps;
            double greedyAcc = evaluate ? GreedyAccuracy(policy, task, task.HeldOutIds) : double.NaN;
            double hardGreedy = evaluate && hasHard ? GreedyAccuracy(policy, task, task.HeldOutHardIds) : double.NaN;
            double hardSampled = evaluate && hasHard ? SampledAccuracy(policy, task, task.HeldOutHardIds, HardSamplesPerPrompt, seed * 7919L + step) : double.NaN;
            double secs = sw.Elapsed.TotalSeconds;
            var m = new PolicyStepMetrics(step, meanReward, greedyAcc, k3, exact, entropy, zeroVar / (double)ids.Length,
                batch.Lengths.Average(), replaced, (generated + trained) / secs, total.Elapsed.TotalSeconds, maskedFractions.Count > 0 ? maskedFractions.Average() : double.NaN,
                lengthWrong, lengthRight, hardReward, hardGreedy, hardSampled,
                updates.Average(u => u.ClipFraction), updates.Average(u => u.RatioDeviation),
                isDisco ? updates.Average(u => u.DiscoKl) : double.NaN, isDisco ? updates.Average(u => u.DiscoPenaltyActive ? 1.0 : 0.0) : double.NaN, updates);
            steps.Add(m);
            progress?.Invoke(m);
        }
        double greedyAfter = steps[^1].GreedyAccuracy;
        double sampledAfter = SampledAccuracy(policy, task, task.HeldOutIds, 4, seed + 1);
        return new PolicyRunResult(settings.Method, seed, steps, greedyBefore, greedyAfter, sampledBefore, sampledAfter, total.Elapsed.TotalSeconds,
            hardGreedyBefore, hardSampledBefore);
    }

    /// <summary>PPO's value model: a copy of <paramref name="sft"/> (the supervised weights) with a value head.</summary>
    public static PpoCritic NewCritic(CharTransformer sft)
    {
        var trunk = new CharTransformer(sft.Vocabulary, sft.BlockSize, sft.Dim, sft.Heads, sft.Layers);
        using (no_grad())
        {
            var src = sft.parameters().ToArray();
            var dst = trunk.parameters().ToArray();
            for (int i = 0; i < src.Length; i++) dst[i].copy_(src[i]);
        }
        return new PpoCritic(trunk);
    }

    /// <summary>Fraction of <paramref name="ids"/> whose greedy completion is exactly right.</summary>
    public static double GreedyAccuracy(CharTransformer model, NoisyAddition task, IReadOnlyList<int> ids)
    {
        var sampler = new RolloutSampler(model, task.EndToken, task.NewTokens);
        using var batch = sampler.Greedy(ids.Select(task.Prompt).ToArray(), ids.Select(i => (long)i).ToArray());
        return Enumerable.Range(0, ids.Count).Average(j => task.Reward(ids[j], batch.CompletionOf(j)));
    }

    /// <summary>Mean exact-answer reward of <paramref name="perPrompt"/> samples (temperature 1) per prompt.</summary>
    public static double SampledAccuracy(CharTransformer model, NoisyAddition task, IReadOnlyList<int> ids, int perPrompt, long seed)
    {
        var sampler = new RolloutSampler(model, task.EndToken, task.NewTokens);
        using var batch = sampler.Sample(ids.Select(task.Prompt).ToArray(), ids.Select(i => (long)i).ToArray(), perPrompt, seed);
        return Enumerable.Range(0, batch.Count).Average(r => task.Reward((int)batch.PromptIds[r], batch.CompletionOf(r)));
    }

    /// <summary>Completions as [N, L_max] tokens (end-token padded) and their float32 mask; L_max =
    /// <paramref name="maxNewTokens"/> (the task's <see cref="NoisyAddition.NewTokens"/>).</summary>
    public static (Tensor Completions, Tensor Mask) Pack(IReadOnlyList<long[]> completions, long endToken, int maxNewTokens = NoisyAddition.MaxNewTokens)
    {
        int n = completions.Count, l = maxNewTokens;
        for (int i = 0; i < n; i++)
            if (completions[i].Length > l) throw new ArgumentException($"completion {i} has {completions[i].Length} tokens; the budget is {l}.", nameof(completions));
        var tokens = new long[n * l];
        var mask = new float[n * l];
        for (int i = 0; i < n; i++)
            for (int t = 0; t < l; t++)
            {
                bool real = t < completions[i].Length;
                tokens[i * l + t] = real ? completions[i][t] : endToken;
                mask[i * l + t] = real ? 1 : 0;
            }
        return (tensor(tokens, dtype: ScalarType.Int64).reshape(n, l), tensor(mask).reshape(n, l));
    }

    /// <summary>Samples per held-out hard prompt for <see cref="PolicyStepMetrics.HardSampledAccuracy"/> (40 prompts × 8 =
    /// 320 completions per evaluation on the standard split).</summary>
    public const int HardSamplesPerPrompt = 8;

    /// <summary>Mean length of the completions with reward 0 and with reward 1 (NaN where none), and the mean reward of the
    /// rows whose prompt is in the task's hard subset (NaN where none): the miniatures' per-step metrics.</summary>
    public static (double LengthWrong, double LengthRight, double HardReward) LengthAndHardMetrics(NoisyAddition task, IReadOnlyList<long> promptIds,
        IReadOnlyList<int> lengths, IReadOnlyList<double> rewards)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (promptIds.Count != lengths.Count || rewards.Count != lengths.Count)
            throw new ArgumentException($"{promptIds.Count} prompt ids, {lengths.Count} lengths and {rewards.Count} rewards: one of each per completion.", nameof(rewards));
        double Mean(IEnumerable<double> v) { var a = v.ToArray(); return a.Length == 0 ? double.NaN : a.Average(); }
        var rows = Enumerable.Range(0, lengths.Count).ToArray();
        return (Mean(rows.Where(r => rewards[r] == 0).Select(r => (double)lengths[r])),
                Mean(rows.Where(r => rewards[r] == 1).Select(r => (double)lengths[r])),
                Mean(rows.Where(r => task.IsHard((int)promptIds[r])).Select(r => rewards[r])));
    }

    /// <summary>The rows of each mini-batch for one epoch: <paramref name="groups"/> groups of <paramref name="groupSize"/>
    /// prompt-major rows (group j = rows j·G … j·G + G − 1) split into <paramref name="miniBatches"/> mini-batches of
    /// whole groups, in the order drawn from <paramref name="order"/> (null: groups in order); each mini-batch lists its
    /// groups ascending, so its rows stay prompt-major. Their union is every row once.</summary>
    public static int[][] MiniBatchRows(int groups, int groupSize, int miniBatches, Random? order)
    {
        if (groups < 1 || groupSize < 1) throw new ArgumentException($"groups = {groups}, group size = {groupSize}: both must be at least 1.", nameof(groups));
        if (miniBatches < 1 || groups % miniBatches != 0)
            throw new ArgumentException($"miniBatches = {miniBatches}; it must be at least 1 and divide the {groups} groups, since a group is never split.", nameof(miniBatches));
        var perm = Enumerable.Range(0, groups).ToArray();
        if (order is not null)
            for (int i = groups - 1; i > 0; i--)
            {
                int j = order.Next(i + 1);
                (perm[i], perm[j]) = (perm[j], perm[i]);
            }
        int per = groups / miniBatches;
        return Enumerable.Range(0, miniBatches)
            .Select(b => perm.Skip(b * per).Take(per).Order().SelectMany(j => Enumerable.Range(j * groupSize, groupSize)).ToArray())
            .ToArray();
    }

    /// <summary>Share of completion tokens (mask 1) where the ratio clip is active: −A·clip(ρ, 1 − ε_low, 1 + ε_high) &gt;
    /// −A·ρ with ρ = exp(ℓ − ℓ^old), i.e. A &gt; 0 and ρ &gt; 1 + ε_high or A &lt; 0 and ρ &lt; 1 − ε_low (verl's
    /// <c>pg_clipfrac</c>). <paramref name="advantages"/> broadcasts to [N, L] (a [N, 1] column or per-token values).</summary>
    public static double ClipFraction(Tensor logProbs, Tensor oldLogProbs, Tensor advantages, Tensor mask, double clipLow, double clipHigh)
    {
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        var ratio = logProbs.sub(oldLogProbs).exp();
        var negA = advantages.neg();
        var active = negA.mul(ratio.clamp(s[1 - clipLow], s[1 + clipHigh])).gt(negA.mul(ratio)).to_type(mask.dtype);
        return active.mul(mask).sum().div(mask.sum()).to_type(ScalarType.Float64).item<double>();
    }

    /// <summary>Token mean (mask 1) of |ρ − 1| with ρ = exp(ℓ − ℓ^old).</summary>
    public static double RatioDeviation(Tensor logProbs, Tensor oldLogProbs, Tensor mask)
    {
        using var s = new ScalarHold();
        using var scope = NewDisposeScope();
        return logProbs.sub(oldLogProbs).exp().sub(s[1]).abs().mul(mask).sum().div(mask.sum()).to_type(ScalarType.Float64).item<double>();
    }

    private static Tensor AdvantageColumn(double[] advantages) => tensor(advantages, dtype: ScalarType.Float64).to_type(ScalarType.Float32).reshape(-1, 1);

    private static (double K3, double Exact, double Entropy) KlAndEntropy(Tensor dist, Tensor refDist, Tensor logp, Tensor refLogp, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var tokens = mask.sum();
        var p = dist.exp();
        var k3 = Grpo.K3(logp, refLogp).mul(mask).sum().div(tokens);
        var exact = p.mul(dist.sub(refDist)).sum(-1).mul(mask).sum().div(tokens);
        var entropy = p.mul(dist).sum(-1).mul(mask).sum().div(tokens).neg();
        return (k3.item<float>(), exact.item<float>(), entropy.item<float>());
    }
}
