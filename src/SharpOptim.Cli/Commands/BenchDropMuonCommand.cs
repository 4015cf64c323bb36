using SharpOptim.Optimizers;
using SharpOptim.Tasks;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim bench drop-muon [--task T] [--steps N] [--seeds N]</c>: Muon and Drop-Muon (uniform start index) on
/// the same task, seeds and batches; reports training wall-clock, held-out accuracy, and the wall-clock each needed
/// to first reach the accuracy Muon ends with (within 0.5 points), i.e. the paper's "same accuracy, less time".
/// </summary>
public static class BenchDropMuonCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["task"] = true, ["steps"] = true, ["seeds"] = true, ["cache"] = true, ["lr"] = true, ["adam-lr"] = true, ["threads"] = true,
    };

    public static int Run(Options o, TextWriter stdout)
    {
        string taskName = o.String("task", "digits");
        if (!TaskCatalog.Names.Contains(taskName) || taskName == "charlm")
            throw new UsageException(FormattableString.Invariant($"bench drop-muon: unknown or unsupported task '{taskName}'; valid: digits, logreg, mnist10k, mnist10k-cnn."));
        int steps = (int)o.Long("steps", 600, 10, 1_000_000);
        int seeds = (int)o.Long("seeds", 3, 1, 100);
        double lr = o.Double("lr", 0.02, 1e-8, 10), adamLr = o.Double("adam-lr", 2e-3, 1e-8, 10);
        ThreadsOption.Requested(o);   // a bad --threads fails here, with the other options
        using var task = TaskCatalog.Create(taskName, o.String("cache"));
        long parameterCount;
        using (var probe = task.Start(0)) parameterCount = probe.NamedParameters.Sum(p => p.Parameter.NumberOfElements);
        using var threads = ThreadsOption.ForModel(o, parameterCount);
        stdout.WriteLine(threads.Describe());
        var rows = new List<(string Name, int Seed, RunResult R)>();
        foreach (var name in new[] { "muon", "drop-muon" })
            for (int seed = 0; seed < seeds; seed++)
            {
                manual_seed(1000 + seed);
                using var run = task.Start(seed);
                optim.Optimizer opt = name == "muon"
                    ? new Muon(run.NamedParameters.Select(p => (p.Name, p.Parameter)), lr: lr, adam_lr: adamLr)
                    : new DropMuon(DropMuon.ByModule(run.NamedParameters.Select(p => (p.Name, p.Parameter))), lr: lr, adam_lr: adamLr, seed: seed);
                using (opt)
                {
                    var r = TaskTrainer.Train(run, opt, steps, evalEvery: Math.Max(1, steps / 20));
                    rows.Add((name, seed, r));
                    stdout.WriteLine(FormattableString.Invariant($"{name,-10} seed {seed}: {r.WallSeconds:F2} s, median step {r.MedianStepMs:F2} ms, test accuracy {100 * r.TestAccuracy:F1}%"));
                }
            }
        double target = rows.Where(x => x.Name == "muon").Average(x => x.R.TestAccuracy) - 0.005;
        stdout.WriteLine(FormattableString.Invariant($"target accuracy (Muon's final mean - 0.5 points): {100 * target:F1}%"));
        foreach (var name in new[] { "muon", "drop-muon" })
        {
            var mine = rows.Where(x => x.Name == name).Select(x => x.R).ToList();
            var reach = mine.Select(r => r.Evaluations.FirstOrDefault(e => e.Accuracy >= target) is { Step: > 0 } e ? r.Seconds[e.Step - 1] : double.NaN).ToList();
            stdout.WriteLine(FormattableString.Invariant($"{name,-10} wall {mine.Average(r => r.WallSeconds):F2} s, median step {mine.Average(r => r.MedianStepMs):F2} ms, accuracy {100 * mine.Average(r => r.TestAccuracy):F1}%, time to target {(reach.Any(double.IsNaN) ? "not reached by every seed" : FormattableString.Invariant($"{reach.Average():F2} s"))}"));
        }
        return 0;
    }
}
