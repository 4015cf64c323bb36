using System.Globalization;
using SharpOptim.Cli.Distributed;
using SharpOptim.Distributed;
using SharpOptim.Distributed.Mpi;
using SharpOptim.Tasks.Distributed;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim dist --algorithm A[,B] --workers N --backend sim|mpi --task T [--topology ring] [--partition iid|dirichlet|pathological]
/// [--alpha a] [--rounds N] [--seeds S] [--opt NAME:k=v,...] [--baselines] --out DIR</c>: runs distributed algorithms on
/// a real task over seeds, prints progress and a table, and writes results.json/csv, plots and report.md atomically
/// (<see cref="DistReport"/>). Every rank runs <see cref="DistributedRunner.RunRank"/>; the backend only decides where
/// the communicators come from (<see cref="InProcessWorld"/> threads for sim; one process per rank under <c>mpirun</c> for mpi, through
/// <see cref="MpiCommunicator"/>: rank 0 prints and writes the report).
/// </summary>
public static class DistCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["algorithm"] = true, ["workers"] = true, ["backend"] = true, ["task"] = true, ["topology"] = true, ["partition"] = true,
        ["alpha"] = true, ["rounds"] = true, ["seeds"] = true, ["eval-every"] = true, ["batch"] = true, ["opt"] = true,
        ["baselines"] = false, ["local-eval"] = false, ["out"] = true, ["force"] = false, ["cache"] = true, ["threads"] = true, ["no-progress"] = false,
        ["mus"] = true, ["alphas"] = true, ["target"] = true, ["step-scale"] = true, // event-driven runs (DistEventCommand)
    };

    public static int Run(Options o, IReadOnlyList<string> args, TextWriter stdout)
    {
        if (DistEventCommand.Handles(o)) return DistEventCommand.Run(o, args, stdout); // dadao, sa-srrw: event-driven, simulator only
        if (o.String("backend", "sim") != "mpi") return RunOn(null, o, args, stdout);
        // One process per rank under mpirun: every rank runs the same runs on the world communicator; rank 0 prints
        // and writes the report. A failure on any rank aborts the whole job instead of leaving the others blocked.
        var world = MpiCommunicator.InitializeWorld((int)o.Long("workers", 4, 1, 1024));
        try
        {
            int code = RunOn(world, o, args, world.Rank == 0 ? stdout : TextWriter.Null);
            world.Dispose();
            return code;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"dist: rank {world.Rank} of {world.Size} failed: {e.GetType().Name}: {e.Message}");
            Console.Error.Flush();
            world.Abort(1);
            throw;
        }
    }

    private static int RunOn(MpiCommunicator? world, Options o, IReadOnlyList<string> args, TextWriter stdout)
    {
        var algorithms = o.String("algorithm", "diloco").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (algorithms.Length == 0) throw new UsageException("dist: --algorithm is empty.");
        var infos = algorithms.Select(DistributedAlgorithms.Get).ToList();
        int workers = (int)o.Long("workers", 4, 1, 1024);
        string backend = o.String("backend", "sim");
        if (backend is not ("sim" or "mpi")) throw new UsageException($"dist: unknown backend '{backend}'; valid: sim, mpi.");
        string taskName = o.String("task", "digits");
        if (!DistributedTask.Names.Contains(taskName)) throw new UsageException($"dist: unknown task '{taskName}'; valid: {string.Join(", ", DistributedTask.Names)}.");
        string topologyName = o.String("topology", "ring");
        if (workers > 1) Topology.Create(topologyName, workers); // fails here, before any run, on a bad name or size
        string partition = o.String("partition", "iid");
        if (!DataPartition.Schemes.Contains(partition)) throw new UsageException($"dist: unknown partition '{partition}'; valid: {string.Join(", ", DataPartition.Schemes)}.");
        double alpha = o.Double("alpha", 0.1, 1e-6, 1e6);
        int seeds = (int)o.Long("seeds", 3, 1, 100);
        int batch = (int)o.Long("batch", 32, 1, 100_000);
        long? roundsOption = o.Has("rounds") ? o.Long("rounds", 1, 1, 10_000_000) : null;
        var hyper = ParseOpt(o.All("opt"), algorithms);
        foreach (var info in infos) DistributedAlgorithms.CheckOptions(info, hyper[info.Name]);
        string dir = o.String("out", Path.Combine("dist-results", taskName));
        if (File.Exists(Path.Combine(dir, "results.json")) && !o.Has("force"))
            throw new UsageException($"dist: '{dir}' already holds results; pass --force to replace them or --out to choose another folder.");
        using var threads = ThreadsOption.Apply(o, 1);
        stdout.WriteLine(threads.Describe());
        using var task = new DistributedTask(taskName, o.String("cache"));
        stdout.WriteLine(Inv($"task {taskName}: {task.Description}; {workers} workers, backend {backend}, topology {topologyName}, partition {partition}{(partition == "dirichlet" ? Inv($"({alpha})") : "")}, batch {batch}"));
        bool progress = !o.Has("no-progress");
        var runs = new List<DistRunRecord>();

        DistributedRunResult? RunSim(string algorithm, int n, int rounds, int seed, IReadOnlyDictionary<string, double> h, string label)
        {
            int evalEvery = (int)o.Long("eval-every", Math.Max(1, rounds / 20), 1, 10_000_000);
            var options = new DistributedRunOptions(algorithm, task, n, topologyName, partition, alpha, rounds, evalEvery, batch, seed, h,
                progress ? (Action<string>)(line => stdout.WriteLine(label == algorithm ? line : label + ": " + line)) : null,
                EvaluateLocalModels: o.Has("local-eval"));
            if (world is not null && n == world.Size) return DistributedRunner.RunRank(world, options);
            // Single-worker baselines under MPI run in-process on each rank (no communication, same numbers).
            DistributedRunResult? result = null;
            InProcessWorld.Run(n, comm =>
            {
                var r = DistributedRunner.RunRank(comm, options);
                if (comm.Rank == 0) result = r;
            }, TimeSpan.FromMinutes(5));
            return result!;
        }

        for (int seed = 0; seed < seeds; seed++)
        {
            foreach (var info in infos)
            {
                int rounds = (int)(roundsOption ?? info.DefaultRounds);
                var result = RunSim(info.Name, workers, rounds, seed, hyper[info.Name], info.Name);
                if (result is null) continue; // ranks other than 0 under mpirun evaluate nothing
                runs.Add(new DistRunRecord(info.Name, result));
                stdout.WriteLine(Summary(info.Name, result));
            }
            if (o.Has("baselines") && (world is null || world.Rank == 0))
            {
                // Single-worker references over the whole training set with as many gradient steps as the longest
                // distributed run's per-worker count: plain SGD (D-SGD on one worker) and AdamW (DiLoCo on one worker
                // with outer lr 1 and no momentum, which leaves the inner AdamW trajectory unchanged).
                int steps = (int)Math.Round(runs.Where(r => r.Result.Seed == seed).Max(r => r.Result.Final.GradientEvaluations));
                int every = Math.Max(1, steps / 20);
                double sgdLr = hyper.TryGetValue("dsgd", out var dh) && dh.TryGetValue("lr", out var l) ? l : 0.1;
                var sgd = RunSim("dsgd", 1, steps, seed, new Dictionary<string, double> { ["lr"] = sgdLr }, "single-worker sgd")!;
                runs.Add(new DistRunRecord("single-worker sgd", sgd));
                stdout.WriteLine(Summary("single-worker sgd", sgd));
                var dl = hyper.TryGetValue("diloco", out var d) ? d : new Dictionary<string, double>();
                var adamwOptions = new Dictionary<string, double>
                {
                    ["inner_steps"] = every, ["outer_lr"] = 1, ["outer_momentum"] = 0, ["nesterov"] = 0,
                    ["inner_lr"] = dl.TryGetValue("inner_lr", out var il) ? il : 1e-3,
                    ["inner_weight_decay"] = dl.TryGetValue("inner_weight_decay", out var iw) ? iw : 0.1,
                };
                var adamw = RunSim("diloco", 1, Math.Max(1, steps / every), seed, adamwOptions, "single-worker adamw")!;
                runs.Add(new DistRunRecord("single-worker adamw", adamw));
                stdout.WriteLine(Summary("single-worker adamw", adamw));
            }
        }
        var results = new DistResults(taskName, task.Description, "sharpoptim " + string.Join(' ', args), workers, backend, topologyName, partition, alpha, batch, seeds,
            runs, Inv($"Machine: {Environment.ProcessorCount} logical CPU cores, {threads.Describe()}; shared with other jobs, so timings are noisy."));
        stdout.WriteLine();
        stdout.Write(DistReport.Table(results));
        if (world is null || world.Rank == 0)
        {
            DistReport.Write(results, dir);
            stdout.WriteLine($"wrote {Path.Combine(dir, "report.md")}");
        }
        return 0;
    }

    // --opt NAME:k=v,k=v (repeatable); NAME may be omitted when one algorithm runs.
    private static Dictionary<string, IReadOnlyDictionary<string, double>> ParseOpt(IReadOnlyList<string> values, IReadOnlyList<string> algorithms)
    {
        var result = algorithms.ToDictionary(a => a, _ => (IReadOnlyDictionary<string, double>)new Dictionary<string, double>());
        foreach (var v in values)
        {
            int colon = v.IndexOf(':');
            string name = colon >= 0 ? v[..colon] : algorithms.Count == 1 ? algorithms[0] : throw new UsageException($"dist: --opt '{v}' must name its algorithm (NAME:k=v,...) when several run.");
            if (!result.TryGetValue(name, out var existing)) throw new UsageException($"dist: --opt names '{name}', which is not among --algorithm {string.Join(",", algorithms)}.");
            var map = new Dictionary<string, double>(existing);
            foreach (var pair in v[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                int eq = pair.IndexOf('=');
                if (eq <= 0) throw new UsageException($"dist: --opt entry '{pair}' is not k=v.");
                string key = pair[..eq], text = pair[(eq + 1)..];
                double value = text switch
                {
                    "true" => 1,
                    "false" => 0,
                    _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d) ? d
                        : throw new UsageException($"dist: --opt {key}={text}: not a number."),
                };
                map[key] = value;
            }
            result[name] = map;
        }
        return result;
    }

    private static string Summary(string label, DistributedRunResult r) =>
        Inv($"{label} seed {r.Seed}: test accuracy {Metric(r, "test_accuracy"):F4}, train loss {Metric(r, "train_loss"):F4}, consensus {r.Final.ConsensusError:E2}, {r.Final.BytesSent / 1e6:F3} MB sent per worker, {r.Final.GradientEvaluations:F0} gradients per worker, {r.Seconds:F1} s{(r.Final.Metrics.ContainsKey("local_test_accuracy_mean") ? Inv($"; local models' test accuracy mean {Metric(r, "local_test_accuracy_mean"):F4}, best {Metric(r, "local_test_accuracy_best"):F4}, worst {Metric(r, "local_test_accuracy_worst"):F4}") : "")}{(r.Diverged ? ", DIVERGED" : "")}");

    private static double Metric(DistributedRunResult r, string key) => r.Final.Metrics.TryGetValue(key, out var v) ? v : double.NaN;

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
