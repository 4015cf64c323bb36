namespace SharpOptim.Cli.Compare;

/// <summary>
/// The hyperparameters <c>sharpoptim compare</c> uses unless <c>--opt</c> overrides them: the catalog's defaults
/// with learning rates set for training small models from scratch (the catalog keeps the papers' defaults, some of
/// which are for fine-tuning, e.g. MoFO's 1e-5). Chosen once on digits, not tuned per task.
/// </summary>
public static class CompareDefaults
{
    /// <summary>The optimizers compared when --optimizers is not given.</summary>
    public const string Optimizers = "adamw,adam-mini,lion,sgd,muon,sophia";

    private static readonly Dictionary<string, Dictionary<string, double>> Table = new(StringComparer.OrdinalIgnoreCase)
    {
        ["sgd"] = new() { ["lr"] = 0.05 },
        ["adam"] = new() { ["lr"] = 2e-3 },
        ["adamw"] = new() { ["lr"] = 2e-3 },
        ["adagrad"] = new() { ["lr"] = 0.05 },
        ["rmsprop"] = new() { ["lr"] = 1e-3 },
        ["diffgrad"] = new() { ["lr"] = 2e-3 },
        ["lion"] = new() { ["lr"] = 1e-3 },
        ["signsgd"] = new() { ["lr"] = 1e-3 },
        ["signum"] = new() { ["lr"] = 1e-3 },
        ["sophia"] = new() { ["lr"] = 1e-3, ["rho"] = 0.05, ["weight_decay"] = 0.01 },
        ["mofo"] = new() { ["lr"] = 2e-3, ["fraction"] = 0.1, ["weight_decay"] = 0.01 },
        ["muon"] = new() { ["lr"] = 0.02, ["adam_lr"] = 2e-3 },
        ["drop-muon"] = new() { ["lr"] = 0.02, ["adam_lr"] = 2e-3 },
        ["lanton"] = new() { ["lr"] = 0.05, ["sign_lr"] = 3e-3, ["adam_lr"] = 2e-3 },
        ["adam-mini"] = new() { ["lr"] = 2e-3 },
        ["galore"] = new() { ["lr"] = 4e-3, ["rank"] = 16, ["update_proj_gap"] = 50 },
        ["frugal"] = new() { ["lr"] = 2e-3, ["update_gap"] = 50, ["free_lr_scale"] = 0.5 },
        ["sgd-adaptive-momentum"] = new() { ["lr"] = 0.05 },
        ["adamw-adaptive-momentum"] = new() { ["lr"] = 2e-3 },
        ["auon"] = new() { ["lr"] = 0.05 },
        ["hybrid-auon"] = new() { ["lr"] = 0.05 },
    };

    /// <summary>
    /// <see cref="For"/> plus what the task tells the optimizer: Sophia's loss terms per batch, Adam-mini's model
    /// dimension and heads (unless the overrides set them).
    /// </summary>
    public static Dictionary<string, double> ForTask(string optimizer, SharpOptim.Tasks.TrainingTask task, IReadOnlyDictionary<string, double>? overrides = null)
    {
        var h = For(optimizer, overrides);
        if (optimizer.Equals("sophia", StringComparison.OrdinalIgnoreCase)) h.TryAdd("batch_size", task.LossTermsPerBatch);
        if (optimizer.Equals("adam-mini", StringComparison.OrdinalIgnoreCase))
            foreach (var (k, v) in task.ArchitectureHints) h.TryAdd(k, v);
        return h;
    }

    /// <summary>The defaults for <paramref name="optimizer"/> (empty: the catalog's own), with <paramref name="overrides"/> applied.</summary>
    public static Dictionary<string, double> For(string optimizer, IReadOnlyDictionary<string, double>? overrides = null)
    {
        var h = Table.TryGetValue(optimizer, out var d) ? new Dictionary<string, double>(d) : new Dictionary<string, double>();
        if (overrides is not null) foreach (var (k, v) in overrides) h[k] = v;
        return h;
    }
}
