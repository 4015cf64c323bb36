using SharpOptim.Optimizers;
using SharpOptim.Tasks.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Policy;

/// <summary>
/// Supervised next-character training of the policy on the noisy-addition corpus (brief §0.2: AdamW lr 3e-3, batch 64
/// windows of 16 characters, ~600 steps), the "π_ref" every RL run starts from. <see cref="LoadOrTrain"/> caches the
/// weights in a directory, keyed by every setting, written through a temporary file and a move.
/// </summary>
public static class AdditionPretraining
{
    /// <summary>A fresh model of <paramref name="settings"/>' shape, seeded by its seed.</summary>
    public static CharTransformer NewModel(NoisyAddition task, AdditionModelSettings settings)
    {
        settings.Validate();
        if (task.MaxPromptLength + task.NewTokens - 1 > settings.BlockSize)
            throw new ArgumentException($"BlockSize = {settings.BlockSize}; prompts (≤ {task.MaxPromptLength}) plus {task.NewTokens} new tokens need at least {task.MaxPromptLength + task.NewTokens - 1}.", nameof(settings));
        torch.manual_seed(settings.Seed);
        return new CharTransformer(task.Vocabulary, settings.BlockSize, settings.Dim, settings.Heads, settings.Layers);
    }

    /// <summary>Trains a fresh model; returns it with the mean loss of the last 50 steps.</summary>
    public static (CharTransformer Model, double FinalLoss) Train(NoisyAddition task, AdditionModelSettings settings)
    {
        var model = NewModel(task, settings);
        using var opt = OptimizerCatalog.Get("adamw").Create(model.named_parameters(), new Dictionary<string, double> { ["lr"] = settings.LearningRate });
        var rng = new Random(settings.Seed);
        var tokens = task.SftTokens;
        int w = settings.Window;
        var last = new List<double>();
        for (int step = 0; step < settings.Steps; step++)
        {
            using var scope = NewDisposeScope();
            var batch = new long[settings.Batch * (w + 1)];
            for (int i = 0; i < settings.Batch; i++)
                Array.Copy(tokens, rng.Next(tokens.Length - w - 1), batch, i * (w + 1), w + 1);
            var t = tensor(batch, dtype: ScalarType.Int64).reshape(settings.Batch, w + 1);
            var logits = model.forward(t.narrow(1, 0, w));
            var loss = nn.functional.cross_entropy(logits.reshape(-1, task.Vocabulary), t.narrow(1, 1, w).reshape(-1));
            opt.zero_grad();
            loss.backward();
            opt.step();
            if (step >= settings.Steps - 50) last.Add(loss.item<float>());
        }
        return (model, last.Count > 0 ? last.Average() : double.NaN);
    }

    /// <summary>Loads the cached pre-trained weights of <paramref name="settings"/> from <paramref name="cacheDirectory"/>
    /// (null: no cache), or trains and stores them. Returns the file that holds them (null without a cache) and whether
    /// they came from the cache.</summary>
    public static (CharTransformer Model, string? File, bool Cached) LoadOrTrain(NoisyAddition task, AdditionModelSettings settings, string? cacheDirectory)
    {
        if (cacheDirectory is null) return (Train(task, settings).Model, null, false);
        string file = Path.Combine(cacheDirectory, "policy", settings.Key(task) + ".dat");
        if (File.Exists(file))
        {
            var model = NewModel(task, settings);
            model.load(file);
            return (model, file, true);
        }
        var trained = Train(task, settings).Model;
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        string tmp = file + ".tmp-" + Environment.ProcessId;
        trained.save(tmp);
        File.Move(tmp, file, overwrite: true);
        return (trained, file, false);
    }

    /// <summary>A copy of <paramref name="model"/> (same settings, same weights), e.g. the frozen reference.</summary>
    public static CharTransformer Copy(CharTransformer model, NoisyAddition task, AdditionModelSettings settings)
    {
        var copy = NewModel(task, settings);
        using (no_grad())
        {
            var src = model.parameters().ToArray();
            var dst = copy.parameters().ToArray();
            for (int i = 0; i < src.Length; i++) dst[i].copy_(src[i]);
        }
        return copy;
    }
}
