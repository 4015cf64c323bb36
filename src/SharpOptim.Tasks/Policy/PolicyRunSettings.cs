namespace SharpOptim.Tasks.Policy;

/// <summary>
/// One RL run on <see cref="NoisyAddition"/> (brief §0.2): per step <see cref="PromptsPerStep"/> training prompts ×
/// <see cref="GroupSize"/> completions at <see cref="Temperature"/>, <see cref="Epochs"/> × <see cref="MiniBatches"/> optimizer steps (default one) of
/// <see cref="Optimizer"/> (any SharpOptim catalog name) at <see cref="LearningRate"/> per rollout batch; greedy accuracy on the held-out
/// prompts every <see cref="EvalEvery"/> steps. <see cref="Beta"/> is GRPO's k3 weight (other methods use their own
/// defaults, see <see cref="PolicyTraining"/>). <see cref="Capo"/> overrides CAPO's thresholds (null =
/// <see cref="PolicyTraining.CapoDefaults"/>); <see cref="Disco"/> overrides DisCO's settings (null = the official
/// log-L script values of <see cref="SharpOptim.Policy.DiscoOptions"/>; <c>Robust</c> is set by the method name).
/// <see cref="TrainPrompts"/> &gt; 0 restricts the training prompts to the first that many of the task's training split (so
/// each prompt recurs more often, as ARPO's per-task replay assumes); 0 uses all 800.
/// <para><see cref="Epochs"/> E and <see cref="MiniBatches"/> M: after sampling, ℓ^old and ℓ^ref are fixed and the
/// batch is split into M mini-batches of whole groups (prompt-major rows, a group is never split; a seeded group order
/// per epoch when M &gt; 1), each taking one optimizer step, for E epochs (verl's <c>ppo_mini_batch_size</c> /
/// <c>ppo_epochs</c> order): E·M optimizer steps per rollout batch. E = M = 1 is the single-update setting (ρ = 1 at the
/// step) and reproduces the earlier runs bit for bit. M must divide <see cref="PromptsPerStep"/>. <see cref="RecomputeOld"/>: ℓ^old is recomputed by the policy's
/// full forward before the first update (per mini-batch of the first epoch, so the first update sees ρ = 1 exactly), as
/// verl's actor recomputes <c>old_log_prob</c>; false (default) keeps the sampler's incremental (key/value cache)
/// log-probabilities, which differ from the full forward by float rounding (about 1e-7). ARPO always recomputes.</para>
/// </summary>
public sealed record PolicyRunSettings(string Method, int Steps = 150, int PromptsPerStep = 8, int GroupSize = 8, double Temperature = 1,
    string Optimizer = "adam", double LearningRate = 1e-3, double Beta = 0.04, int EvalEvery = 10, bool UseCache = true,
    SharpOptim.Policy.CapoOptions? Capo = null, SharpOptim.Policy.DiscoOptions? Disco = null, int TrainPrompts = 0,
    int Epochs = 1, int MiniBatches = 1, bool RecomputeOld = false)
{
    /// <summary>The method names <see cref="PolicyTraining"/> runs.</summary>
    public static IReadOnlyList<string> Methods { get; } = new[] { "grpo", "dr-grpo", "remax", "reinforce", "rloo", "disco", "disco-b", "arpo", "capo", "ppo" };

    internal void Validate()
    {
        if (!Methods.Contains(Method)) throw new ArgumentException($"unknown method '{Method}'; known: {string.Join(", ", Methods)}.", nameof(Method));
        if (Steps < 1 || PromptsPerStep < 1 || GroupSize < 2 || EvalEvery < 1)
            throw new ArgumentException(FormattableString.Invariant($"steps {Steps}, prompts per step {PromptsPerStep}, G {GroupSize}, eval every {EvalEvery}: steps, prompts, eval ≥ 1 and G ≥ 2."), nameof(GroupSize));
        if (TrainPrompts != 0 && TrainPrompts < PromptsPerStep)
            throw new ArgumentException($"TrainPrompts = {TrainPrompts}; it must be 0 (all) or at least the {PromptsPerStep} prompts per step.", nameof(TrainPrompts));
        if (!(Temperature > 0) || !(LearningRate > 0) || !(Beta >= 0))
            throw new ArgumentException(FormattableString.Invariant($"temperature {Temperature}, lr {LearningRate}, beta {Beta}: temperature and lr > 0, beta ≥ 0."), nameof(LearningRate));
        if (Epochs < 1) throw new ArgumentException($"Epochs = {Epochs}; it must be at least 1.", nameof(Epochs));
        if (MiniBatches < 1 || PromptsPerStep % MiniBatches != 0)
            throw new ArgumentException($"MiniBatches = {MiniBatches}; it must be at least 1 and divide the {PromptsPerStep} groups (prompts) per step, since a group is never split.", nameof(MiniBatches));
    }
}
