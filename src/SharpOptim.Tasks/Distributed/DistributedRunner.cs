using System.Diagnostics;
using System.Globalization;
using SharpOptim.Distributed;

namespace SharpOptim.Tasks.Distributed;

/// <summary>
/// The body every rank of a distributed run executes, whatever the backend: <see cref="RunRank"/> builds the rank's
/// shard and problem, the topology and the algorithm (from <see cref="DistributedAlgorithms"/>), runs the rounds and
/// evaluates the network average x̄ every <see cref="DistributedRunOptions.EvalEvery"/> rounds. The backend only decides
/// where the communicators come from: <see cref="InProcessWorld"/> threads for <c>--backend sim</c>, one MPI process
/// per rank under <c>mpirun</c>.
/// <para>An evaluation is itself collective: one all-reduce of the reported models (→ x̄) and one of
/// [‖x_i − x̄‖², gradient evaluations, bytes]; its traffic, and the initial broadcast of rank 0's weights, are excluded
/// from the bytes reported. Only rank 0 computes the task metrics of x̄ and returns the result; the other ranks return
/// null.</para>
/// <para>Local models (<see cref="DistributedRunOptions.EvaluateLocalModels"/>, off by default): every rank evaluates
/// its own reported model's test accuracy on its own copy of the task model and one all-reduce (excluded from the
/// traffic, like every evaluation) gathers the n values; the final point's metrics then hold
/// <c>local_test_accuracy_mean</c>, <c>_best</c> and <c>_worst</c>. The models are taken at the final point, or, for an
/// algorithm that ends with a global merge (single-merging, through <see cref="DistributedAlgorithmContext.BeforeFinalMerge"/>),
/// right before that merge, i.e. the models the merge combines. The evaluation reads the parameters only, so every
/// number of the run is unchanged (tested); the gathered accuracies travel as float32.</para>
/// <para>Timing: when <c>comm</c> is a <see cref="TimedCommunicator"/>, its recording window is open exactly while
/// the rounds run (evaluations, the stop broadcast and the set-up are outside), for <see cref="TimeBreakdown"/>.</para>
/// </summary>
public static class DistributedRunner
{
    /// <summary>Runs one rank; collective: every rank of <paramref name="comm"/>'s world must call it with the same options.</summary>
    public static DistributedRunResult? RunRank(ICommunicator comm, DistributedRunOptions options)
    {
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentNullException.ThrowIfNull(options);
        if (comm.Size != options.Workers)
            throw new ArgumentException(Inv($"the run expects {options.Workers} workers but the communicator's world has {comm.Size} ranks (mpirun -np must equal --workers)."), nameof(comm));
        if (options.Rounds < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Rounds, "rounds must be at least 1.");
        if (options.EvalEvery < 1) throw new ArgumentOutOfRangeException(nameof(options), options.EvalEvery, "the evaluation interval must be at least 1.");
        var info = DistributedAlgorithms.Get(options.Algorithm);
        DistributedAlgorithms.CheckOptions(info, options.Hyperparameters);
        var topology = comm.Size == 1 ? Topology.FullyConnected(1) : Topology.Create(options.Topology, comm.Size, options.Seed);
        var (problem, nextBatch, _) = options.Task.CreateWorkerWithBatches(comm.Rank, comm.Size, options.Partition, options.Alpha, options.Seed, options.Batch);
        var localModel = options.EvaluateLocalModels ? options.Task.CreateModel() : null;
        float[]? localAccuracies = null;
        var clock = Stopwatch.StartNew();
        // The hook runs only inside Round(), once `gather` (LocalAccuracies below) is set; it stays outside the clock
        // and the timing window like every evaluation.
        Func<float[]>? gather = null;
        Action? beforeFinalMerge = localModel is null ? null : () =>
        {
            clock.Stop();
            (comm as TimedCommunicator)?.StopWindow();
            localAccuracies = gather!();
            (comm as TimedCommunicator)?.StartWindow();
            clock.Start();
        };
        var algorithm = info.Create(new DistributedAlgorithmContext(problem, comm, topology, options.Rounds, options.Seed, options.Task.L1, options.Hyperparameters, nextBatch, beforeFinalMerge));
        long excludedBytes = comm.Stats.BytesSent, excludedMessages = comm.Stats.MessagesSent, excludedSyncs = comm.Stats.GlobalSyncs;
        var evalModel = comm.Rank == 0 ? options.Task.CreateModel() : null;
        var curve = new List<DistributedRunPoint>();
        var reported = new float[problem.Length];
        var mean = new float[problem.Length];
        long evaluations = 0;
        bool diverged = false;

        // Runs communication that is not the algorithm's (evaluation, stopping) and leaves it out of the totals.
        void Excluded(Action action)
        {
            long bytes = comm.Stats.BytesSent, messages = comm.Stats.MessagesSent, syncs = comm.Stats.GlobalSyncs;
            action();
            excludedBytes += comm.Stats.BytesSent - bytes;
            excludedMessages += comm.Stats.MessagesSent - messages;
            excludedSyncs += comm.Stats.GlobalSyncs - syncs;
        }

        // Every rank's test accuracy of its own reported model, gathered on every rank (one all-reduce, excluded).
        float[] LocalAccuracies()
        {
            algorithm.CopyReportedParametersTo(reported);
            var all = new float[comm.Size];
            all[comm.Rank] = (float)options.Task.Evaluate(localModel!, reported)["test_accuracy"];
            Excluded(() => comm.AllReduceSum(all));
            return all;
        }

        gather = LocalAccuracies;

        DistributedRunPoint Evaluate(int round)
        {
            clock.Stop();
            var sums = new float[3];
            long algorithmBytes = comm.Stats.BytesSent - excludedBytes;
            Excluded(() =>
            {
                algorithm.CopyReportedParametersTo(reported);
                reported.CopyTo(mean, 0);
                comm.AllReduceSum(mean);
                for (int i = 0; i < mean.Length; i++) mean[i] /= comm.Size;
                double local = 0;
                for (int i = 0; i < mean.Length; i++) local += (double)(reported[i] - mean[i]) * (reported[i] - mean[i]);
                sums[0] = (float)local;
                sums[1] = evaluations;
                sums[2] = algorithmBytes;
                comm.AllReduceSum(sums);
            });
            var metrics = evalModel is null ? new Dictionary<string, double>() : options.Task.Evaluate(evalModel, mean);
            if (localModel is not null && round == options.Rounds)
            {
                var local = localAccuracies ?? LocalAccuracies();
                metrics = new Dictionary<string, double>(metrics)
                {
                    ["local_test_accuracy_mean"] = local.Average(v => (double)v),
                    ["local_test_accuracy_best"] = local.Max(),
                    ["local_test_accuracy_worst"] = local.Min(),
                };
            }
            var point = new DistributedRunPoint(round, sums[1] / comm.Size, sums[2] / comm.Size, sums[0] / comm.Size, clock.Elapsed.TotalSeconds, metrics);
            if (evalModel is not null && options.Progress is not null)
                options.Progress(Inv($"{options.Algorithm} seed {options.Seed} round {round,5}/{options.Rounds}  grads {point.GradientEvaluations,7:F0}  test acc {Get(metrics, "test_accuracy"):F4}  train loss {Get(metrics, "train_loss"):F4}  consensus {point.ConsensusError:E2}  MB {point.BytesSent / 1e6:F2}  {point.Seconds,6:F1} s"));
            clock.Start();
            return point;
        }

        var timed = comm as TimedCommunicator;
        curve.Add(Evaluate(0));
        timed?.StartWindow();
        for (int round = 1; round <= options.Rounds; round++)
        {
            evaluations += algorithm.Round();
            if (round % options.EvalEvery == 0 || round == options.Rounds)
            {
                timed?.StopWindow();
                var point = Evaluate(round);
                curve.Add(point);
                // Every rank must agree to stop: the loss is known on rank 0 only, so it is broadcast.
                var flag = new[] { evalModel is not null && !double.IsFinite(Get(point.Metrics, "train_loss")) ? 1f : 0f };
                Excluded(() => comm.Broadcast(flag, 0));
                if (flag[0] != 0)
                {
                    diverged = true;
                    break;
                }
                timed?.StartWindow();
            }
        }
        timed?.StopWindow();
        clock.Stop();
        if (evalModel is null) return null;
        return new DistributedRunResult(options.Algorithm, options.Task.Name, comm.Size, topology.Name, options.Partition, options.Alpha,
            options.Seed, options.Rounds, options.Batch, info.Defaults.ToDictionary(kv => kv.Key, kv => options.Hyperparameters.TryGetValue(kv.Key, out var v) ? v : kv.Value),
            curve, comm.Stats.MessagesSent - excludedMessages, comm.Stats.GlobalSyncs - excludedSyncs, comm.Stats.Blocked.TotalSeconds,
            clock.Elapsed.TotalSeconds, diverged);
    }

    private static double Get(IReadOnlyDictionary<string, double> m, string key) => m.TryGetValue(key, out var v) ? v : double.NaN;

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
