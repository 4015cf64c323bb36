using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Cli.Compare;
using SharpOptim.Distributed;
using SharpOptim.Distributed.Mpi;
using SharpOptim.Tasks.Distributed;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim bench distributed</c>: the distributed family's benchmark (../shared/papers/distributed.md §17,
/// "Benchmarks"), in parts that can be run alone (<c>--part</c>):
/// <list type="bullet">
/// <item><c>breakdown</c>: wall time per round split into compute, communication and blocked-in-wait
/// (<see cref="TimedCommunicator"/> + <see cref="TimeBreakdown"/>, nothing added to the runs) and global
/// synchronisations, for D-SGD, gradient tracking, DiLoCo and Streaming DiLoCo on digits, on the simulator and under
/// <c>mpirun -np 2, 4</c> (<see cref="MpiJob"/>'s one-machine flags).</item>
/// <item><c>speedup</c>: time to a target training loss with 1, 2, 4 ranks under mpirun (D-SGD on the complete graph =
/// data-parallel SGD, per-worker batch 32, learning rate scaled with the ranks).</item>
/// <item><c>topology</c>: consensus error Ξ of D-SGD over rounds on ring, torus, exponential and complete graphs
/// (simulator, 16 workers), next to each graph's spectral gap.</item>
/// <item><c>gt-floor</c>: the gradient-tracking miniature of §3 (<see cref="RidgeLogisticShards"/>): ‖x̄ − x*‖ of GT
/// and D-SGD with full local gradients and a constant step, x* from a float64 Newton solve.</item>
/// <item><c>prox-dasa</c>: the Prox-DASA miniature of §4: composite stationarity against iterations for n = 2, 4, 8
/// (batch 4, Dirichlet(0.3)), Prox-DASA against prox-D-SGD (<see cref="DecentralizedSgd"/> with the ℓ1 prox).</item>
/// </list>
/// Writes report.md, results.json and PNG plots through a staging folder (moved into place at the end).
/// </summary>
public static class BenchDistributedCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["part"] = true, ["ranks"] = true, ["seeds"] = true, ["out"] = true, ["force"] = false, ["timeout"] = true, ["threads"] = true,
        ["worker"] = true, ["rounds-scale"] = true, ["no-mpi"] = false, ["l1"] = true, ["yield"] = true,
    };

    /// <summary>Part names in the order they run.</summary>
    public static readonly string[] Parts = ["breakdown", "speedup", "topology", "gt-floor", "prox-dasa"];

    private const string StagingPrefix = ".sharpoptim-writing-";

    // The breakdown's algorithms and rounds: 200 gradient steps per worker each (DiLoCo-style rounds are 20 inner steps).
    private static readonly (string Name, int Rounds)[] BreakdownAlgorithms = [("dsgd", 200), ("gt", 200), ("diloco", 10), ("streaming-diloco", 10)];

    private const double SpeedupBaseLr = 0.1, SpeedupTarget = 0.15;
    private const int SpeedupBaseRounds = 1200, SpeedupEvalEvery = 10;

    public static int Run(Options o, TextWriter stdout)
    {
        if (o.Has("worker")) return Worker(o, stdout);
        var parts = ParseParts(o.String("part", "all"));
        var ranks = BenchAllReduceCommand.ParseRanks(o.String("ranks", "2,4"));
        int seeds = (int)o.Long("seeds", 3, 1, 20);
        double scale = o.Double("rounds-scale", 1, 0.01, 100);
        double timeout = o.Double("timeout", 300, 10, 86_400);
        double l1 = o.Double("l1", 1e-4, 1e-12, 1);
        var yieldSettings = ParseYield(o.String("yield", "0,1"));
        string outDir = Path.GetFullPath(o.String("out", "bench-results/distributed"));
        if (File.Exists(Path.Combine(outDir, "report.md")) && !o.Has("force"))
            throw new UsageException($"bench distributed: '{outDir}' already holds results; use --force to replace them or --out DIR.");
        bool mpi = !o.Has("no-mpi") && MpiRuntime.UnavailableReason is null;
        string mpiNote = o.Has("no-mpi") ? "--no-mpi was given" : MpiRuntime.UnavailableReason ?? "";
        using var threads = ThreadsOption.Apply(o, 1);
        stdout.WriteLine(threads.Describe());
        string loadAtStart = MachineLoad.Averages();
        stdout.WriteLine(Inv($"bench distributed: parts {string.Join(",", parts)}; {Environment.ProcessorCount} cores; load average {loadAtStart}; MPI {(mpi ? MpiRuntime.LibraryVersion : "not used: " + mpiNote)}"));

        Directory.CreateDirectory(outDir);
        string staging = Path.Combine(outDir, StagingPrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        var clock = Stopwatch.StartNew();
        var json = new Dictionary<string, object?>
        {
            ["cores"] = Environment.ProcessorCount, ["load_average_at_start"] = loadAtStart, ["threads_per_rank"] = threads.Threads,
            ["mpi"] = mpi ? MpiRuntime.LibraryVersion : null, ["launcher"] = mpi ? "mpirun " + string.Join(' ', MpiJob.LauncherArguments(2).Skip(2)) : null,
        };
        var report = new StringBuilder();
        report.AppendLine("# Distributed benchmark");
        report.AppendLine();
        report.AppendLine(Inv($"Machine: {Environment.ProcessorCount} cores, shared with other jobs (load average {loadAtStart} at the start), so seconds are noisy; ratios and fractions from one run. ")
            + Inv($"libtorch threads per rank: {threads.Threads}. Open MPI: {(mpi ? MpiRuntime.LibraryVersion : "not used (" + mpiNote + ")")}."));
        if (mpi) report.AppendLine(Inv($"Launcher: `mpirun {string.Join(' ', MpiJob.LauncherArguments(2).Skip(2))}` with `{string.Join(' ', MpiJob.JobEnvironment.Select(kv => kv.Key + "=" + kv.Value))}`."));
        report.AppendLine();
        var files = new List<string>();
        try
        {
            using var task = new DistributedTask("digits");
            foreach (var part in parts)
            {
                stdout.WriteLine($"== {part}");
                var section = part switch
                {
                    "breakdown" => Breakdown(task, ranks, mpi, timeout, scale, staging, stdout),
                    "speedup" => mpi ? Speedup(timeout, scale, yieldSettings, staging, stdout) : Skipped("Speed-up under mpirun", mpiNote),
                    "topology" => TopologyPart(task, seeds, scale, staging, stdout),
                    "gt-floor" => GtFloor(scale, staging, stdout),
                    _ => ProxDasaScaling(seeds, scale, l1, staging, stdout),
                };
                json[part] = section.Json;
                report.Append(section.Markdown);
                report.AppendLine();
                files.AddRange(section.Files);
            }
            json["total_seconds"] = clock.Elapsed.TotalSeconds;
            json["load_average_at_end"] = MachineLoad.Averages();
            report.AppendLine(Inv($"Total {clock.Elapsed.TotalSeconds:F0} s; load average at the end {MachineLoad.Averages()}."));
            report.AppendLine();
            report.AppendLine(Inv($"Command: `sharpoptim bench distributed --part {string.Join(",", parts)} --ranks {string.Join(",", ranks)} --seeds {seeds}{(scale != 1 ? Inv($" --rounds-scale {scale}") : "")}{(parts.Contains("prox-dasa") ? Inv($" --l1 {l1:G}") : "")}{(parts.Contains("speedup") ? " --yield " + string.Join(",", yieldSettings) : "")}`"));
            File.WriteAllText(Path.Combine(staging, "results.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
            File.WriteAllText(Path.Combine(staging, "report.md"), report.ToString());
            files.Add("results.json");
            files.Add("report.md");
            foreach (var f in files) File.Move(Path.Combine(staging, f), Path.Combine(outDir, f), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        stdout.WriteLine(Inv($"wrote {outDir} ({string.Join(", ", files)}); total {clock.Elapsed.TotalSeconds:F0} s"));
        return 0;
    }

    private sealed record Section(string Markdown, object? Json, IReadOnlyList<string> Files);

    private static Section Skipped(string title, string why) =>
        new(Inv($"## {title}\n\nNot run: {why}.\n"), new Dictionary<string, object?> { ["skipped"] = why }, []);

    /// <summary>Parses "all" or a comma list of <see cref="Parts"/>.</summary>
    public static string[] ParseParts(string text)
    {
        if (text == "all") return Parts;
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var p in parts)
            if (!Parts.Contains(p)) throw new UsageException($"bench distributed: unknown part '{p}'; valid: all, {string.Join(", ", Parts)}.");
        if (parts.Length == 0) throw new UsageException("bench distributed: --part is empty.");
        return Parts.Where(parts.Contains).ToArray();
    }

    // ---------------------------------------------------------------- breakdown

    /// <summary>One measured run of the breakdown: per-round means over ranks.</summary>
    public sealed record BreakdownRow(string Backend, int Ranks, string Algorithm, int Rounds, double WallMsPerRound, double ComputeMsPerRound,
        double CommunicationMsPerRound, double WaitMsPerRound, double CommunicationFraction, double GlobalSyncsPerRound, double MegabytesPerWorker,
        double FinalTrainLoss);

    private static DistributedRunOptions BreakdownOptions(DistributedTask task, string algorithm, int n, int rounds) =>
        new(algorithm, task, n, n >= 3 ? "ring" : "fully-connected", "iid", 0.1, rounds, rounds, 32, 0, new Dictionary<string, double>());

    private static int Scaled(int rounds, double scale) => Math.Max(1, (int)Math.Round(rounds * scale));

    private static Section Breakdown(DistributedTask task, int[] ranks, bool mpi, double timeout, double scale, string staging, TextWriter stdout)
    {
        var rows = new List<BreakdownRow>();
        foreach (int n in ranks)
        {
            foreach (var (name, rounds0) in BreakdownAlgorithms)
            {
                int rounds = Scaled(rounds0, scale);
                var timed = new TimedCommunicator[n];
                DistributedRunResult? result = null;
                InProcessWorld.Run(n, comm =>
                {
                    var t = new TimedCommunicator(comm);
                    var r = DistributedRunner.RunRank(t, BreakdownOptions(task, name, n, rounds));
                    timed[comm.Rank] = t;
                    if (comm.Rank == 0) result = r;
                }, TimeSpan.FromMinutes(5));
                var b = TimeBreakdown.Analyze(timed.Select(t => t.Calls).ToArray(), timed.Select(t => t.WindowTicks).ToArray());
                rows.Add(Row("sim", n, name, rounds, b, result!));
                stdout.WriteLine(Describe(rows[^1]));
            }
            if (!mpi) continue;
            var job = MpiJob.Run(n, [.. RankCommand(), "bench", "distributed", "--worker", "breakdown", "--rounds-scale", scale.ToString("R", CultureInfo.InvariantCulture), "--threads", "1"],
                TimeSpan.FromSeconds(timeout));
            if (job.TimedOut || job.ExitCode != 0) throw new InvalidOperationException($"bench distributed: the {n}-rank breakdown job failed.\n{job.Describe()}");
            foreach (var (name, rounds0) in BreakdownAlgorithms)
            {
                var (calls, windows) = ParseTimeline(job.RankStdout, name);
                var b = TimeBreakdown.Analyze(calls, windows);
                var res = ParseResult(job.RankStdout[0], name);
                var row = Row("mpi", n, name, Scaled(rounds0, scale), b, null) with
                {
                    GlobalSyncsPerRound = res.Syncs / (double)Scaled(rounds0, scale), MegabytesPerWorker = res.Bytes / 1e6, FinalTrainLoss = res.TrainLoss,
                };
                rows.Add(row);
                stdout.WriteLine(Describe(row));
            }
        }

        var md = new StringBuilder();
        md.AppendLine("## Time breakdown per round");
        md.AppendLine();
        md.AppendLine("digits (MLP 64-64-10), iid shards, batch 32, ring for n ≥ 3 and the complete graph for n = 2 (a ring needs 3), seed 0; "
            + Inv($"{string.Join(", ", BreakdownAlgorithms.Select(a => Inv($"{a.Name} {Scaled(a.Rounds, scale)} rounds")))} (DiLoCo-style rounds are 20 inner AdamW steps, so every run takes ")
            + Inv($"{Scaled(200, scale)} gradient steps per worker). Evaluations are outside the measured window. Each rank's wall time is split by ")
            + "`TimeBreakdown` from `TimedCommunicator`'s call log: *wait* is the part of a communicator call before the last partner entered "
            + "its matching call (the collective's other ranks, or the in-neighbours whose messages it receives), *communication* the rest of "
            + "the call, *compute* everything outside calls (gradients, optimizer, vector arithmetic). Per-round means over ranks; "
            + "the communication fraction is (communication + wait) / wall. Global syncs are the algorithm's all-reduces/broadcasts/barriers "
            + "per round (evaluation traffic excluded).");
        md.AppendLine();
        md.AppendLine("| backend | ranks | algorithm | wall ms/round | compute | communication | wait | comm. fraction | global syncs/round | MB sent/worker | final train loss |");
        md.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows.OrderBy(r => r.Ranks).ThenBy(r => r.Backend).ThenBy(r => Array.FindIndex(BreakdownAlgorithms, a => a.Name == r.Algorithm)))
            md.AppendLine(Inv($"| {r.Backend} | {r.Ranks} | {r.Algorithm} | {r.WallMsPerRound:F3} | {r.ComputeMsPerRound:F3} | {r.CommunicationMsPerRound:F3} | {r.WaitMsPerRound:F3} | {r.CommunicationFraction:P1} | {r.GlobalSyncsPerRound:F2} | {r.MegabytesPerWorker:F3} | {r.FinalTrainLoss:F4} |"));
        md.AppendLine();
        if (!mpi) md.AppendLine("MPI rows: not run (Open MPI unavailable or --no-mpi).\n");
        PlotBreakdown(rows, Path.Combine(staging, "breakdown.png"));
        md.AppendLine("![communication fraction](breakdown.png)");
        md.AppendLine();
        md.AppendLine(ReadingBreakdown);
        return new Section(md.ToString(), rows, ["breakdown.png"]);
    }

    /// <summary>The interpretation printed under the breakdown table (also what README quotes).</summary>
    internal const string ReadingBreakdown = "Reading: on a small shared machine these figures are dominated by scheduling, not by bytes. The simulator's "
        + "ranks are threads that exchange by copying under one lock and sleep while they wait; mpirun's ranks are processes whose MPI "
        + "calls poll while they wait (Open MPI's default). With 2 cores shared with other jobs, and 4 ranks oversubscribed "
        + "(`--oversubscribe --bind-to none`), a call lasts until its partners have been scheduled again, whatever the message size "
        + "(a D-SGD message is 19 KB). *Wait* counts only the time before the last partner entered its call; a partner that entered "
        + "and was then descheduled before its data moved shows up as communication. Timestamps of ranks are compared on the "
        + "machine-wide monotonic clock, valid on one machine only. Bytes and global syncs per round are exact and portable.";

    private static BreakdownRow Row(string backend, int n, string algorithm, int rounds, IReadOnlyList<RankTimeBreakdown> b, DistributedRunResult? result)
    {
        double Mean(Func<RankTimeBreakdown, double> f) => b.Average(f) * 1000 / rounds;
        double wall = b.Average(x => x.WallSeconds), comm = b.Average(x => x.CommunicationSeconds + x.WaitSeconds);
        return new BreakdownRow(backend, n, algorithm, rounds, Mean(x => x.WallSeconds), Mean(x => x.ComputeSeconds), Mean(x => x.CommunicationSeconds),
            Mean(x => x.WaitSeconds), wall > 0 ? comm / wall : 0, result is null ? 0 : result.GlobalSyncs / (double)rounds,
            result is null ? 0 : result.Final.BytesSent / 1e6, result is null ? double.NaN : result.Final.Metrics["train_loss"]);
    }

    private static string Describe(BreakdownRow r) =>
        Inv($"  {r.Backend} n={r.Ranks} {r.Algorithm,-17} wall {r.WallMsPerRound,8:F3} ms/round = compute {r.ComputeMsPerRound:F3} + comm {r.CommunicationMsPerRound:F3} + wait {r.WaitMsPerRound:F3}  ({r.CommunicationFraction:P1} communicating)  syncs/round {r.GlobalSyncsPerRound:F2}  MB {r.MegabytesPerWorker:F3}  loss {r.FinalTrainLoss:F4}");

    private static void PlotBreakdown(List<BreakdownRow> rows, string path)
    {
        var plt = new ScottPlot.Plot();
        var configs = rows.Select(r => (r.Backend, r.Ranks)).Distinct().OrderBy(c => c.Ranks).ThenBy(c => c.Backend).ToList();
        var colors = PlotStyle.Colors(BreakdownAlgorithms.Length);
        for (int a = 0; a < BreakdownAlgorithms.Length; a++)
        {
            var pts = configs.Select((c, i) => (i, row: rows.FirstOrDefault(r => r.Backend == c.Backend && r.Ranks == c.Ranks && r.Algorithm == BreakdownAlgorithms[a].Name)))
                .Where(p => p.row is not null).ToArray();
            if (pts.Length == 0) continue;
            var line = plt.Add.Scatter(pts.Select(p => (double)p.i).ToArray(), pts.Select(p => 100 * p.row!.CommunicationFraction).ToArray(), colors[a]);
            line.LegendText = BreakdownAlgorithms[a].Name;
        }
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(configs.Select((c, i) => new ScottPlot.Tick(i, Inv($"{c.Backend} n={c.Ranks}"))).ToArray());
        plt.Title("share of wall time in communicator calls (communication + wait)");
        plt.YLabel("% of wall time");
        plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
        plt.SavePng(path, 800, 480);
    }

    // ---------------------------------------------------------------- speed-up

    /// <summary>The interpretation printed under the speed-up table.</summary>
    internal const string ReadingSpeedup = "Speed-up = seconds to the target with 1 rank / with n ranks (1 rank makes no MPI call). Rounds to the "
        + "target fall with n (an n× larger batch with an n× larger step); whether time does depends on what a round's exchange with "
        + "every other rank costs next to its 32-row gradient, which on a loaded 2-core machine is set by scheduling (see the "
        + "communication fraction and the breakdown above).";

    /// <summary>Parses <c>--yield</c>: a comma list of 0/1 settings of <see cref="MpiJob.YieldWhenIdleVariable"/> to run side by side.</summary>
    public static int[] ParseYield(string text)
    {
        var items = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0) throw new UsageException("bench distributed: --yield is empty; give 0, 1 or 0,1.");
        var values = new List<int>();
        foreach (var item in items)
        {
            if (item is not ("0" or "1")) throw new UsageException($"bench distributed: --yield takes 0, 1 or 0,1; got '{item}'.");
            int v = item == "1" ? 1 : 0;
            if (!values.Contains(v)) values.Add(v);
        }
        return values.ToArray();
    }

    private static Section Speedup(double timeout, double scale, int[] yieldSettings, string staging, TextWriter stdout)
    {
        var rows = new List<Dictionary<string, object?>>();
        var curves = new List<(string Label, List<(int Round, double Seconds, double Loss)> Curve)>();
        // 1 rank makes no MPI call, so it runs once (with the first setting) and is every setting's reference.
        var configs = new List<(int N, int Yield)> { (1, yieldSettings[0]) };
        foreach (int y in yieldSettings)
            foreach (int n in new[] { 2, 4 }) configs.Add((n, y));
        foreach (var (n, y) in configs)
        {
            var env = new Dictionary<string, string?> { [MpiJob.YieldWhenIdleVariable] = y.ToString(CultureInfo.InvariantCulture) };
            var job = MpiJob.Run(n, [.. RankCommand(), "bench", "distributed", "--worker", "speedup", "--rounds-scale", scale.ToString("R", CultureInfo.InvariantCulture), "--threads", "1"],
                TimeSpan.FromSeconds(timeout), env);
            if (job.TimedOut || job.ExitCode != 0) throw new InvalidOperationException($"bench distributed: the {n}-rank speed-up job ({MpiJob.YieldWhenIdleVariable}={y}) failed.\n{job.Describe()}");
            var (calls, windows) = ParseTimeline(job.RankStdout, "dsgd");
            var b = TimeBreakdown.Analyze(calls, windows);
            var curve = job.RankStdout[0].Split('\n').Where(l => l.StartsWith("CURVE dsgd ", StringComparison.Ordinal)).Select(l =>
            {
                var f = l.Split(' ');
                return (int.Parse(f[2], CultureInfo.InvariantCulture), double.Parse(f[3], CultureInfo.InvariantCulture), double.Parse(f[4], CultureInfo.InvariantCulture));
            }).ToList();
            curves.Add((n == 1 ? "1 rank" : Inv($"{n} ranks, yield {y}"), curve));
            var hit = curve.FirstOrDefault(p => p.Item3 <= SpeedupTarget && p.Item1 > 0);
            int threadsPerRank = int.Parse(job.RankStdout[0].Split('\n').First(l => l.StartsWith("THREADS ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);
            double wall = b.Average(x => x.WallSeconds), commFraction = wall > 0 ? b.Average(x => x.CommunicationSeconds + x.WaitSeconds) / wall : 0;
            double Per(Func<RankTimeBreakdown, double> f) => b.Average(f) * 1000 / curve[^1].Item1;
            var row = new Dictionary<string, object?>
            {
                ["ranks"] = n, ["yield_when_idle"] = n == 1 ? null : y, ["lr"] = SpeedupBaseLr * n, ["rounds"] = curve[^1].Item1, ["threads_per_rank"] = threadsPerRank,
                ["rounds_to_target"] = hit.Item1 > 0 ? hit.Item1 : null, ["seconds_to_target"] = hit.Item1 > 0 ? hit.Item2 : null,
                ["final_train_loss"] = curve[^1].Item3, ["seconds_per_round"] = wall / curve[^1].Item1, ["communication_fraction"] = commFraction,
                ["wait_fraction"] = wall > 0 ? b.Average(x => x.WaitSeconds) / wall : 0,
                ["compute_ms_per_round"] = Per(x => x.ComputeSeconds), ["communication_ms_per_round"] = Per(x => x.CommunicationSeconds), ["wait_ms_per_round"] = Per(x => x.WaitSeconds),
            };
            rows.Add(row);
            stdout.WriteLine(Inv($"  mpirun -np {n}, {MpiJob.YieldWhenIdleVariable}={(n == 1 ? "-" : y.ToString(CultureInfo.InvariantCulture))}: lr {SpeedupBaseLr * n}, rounds to loss {SpeedupTarget}: {row["rounds_to_target"] ?? "not reached"}, seconds {row["seconds_to_target"] ?? "-"}, {(double)row["seconds_per_round"]! * 1000:F3} ms/round, comm fraction {commFraction:P1}, threads/rank {threadsPerRank}"));
        }
        double? t1 = (double?)rows[0]["seconds_to_target"];
        var md = new StringBuilder();
        md.AppendLine("## Speed-up under mpirun, busy-polling against yielding ranks");
        md.AppendLine();
        md.AppendLine(Inv($"D-SGD on the complete graph (= data-parallel mini-batch SGD: every rank averages with all others each step), digits, iid shards, per-rank batch 32, learning rate {SpeedupBaseLr}·n (the linear scaling rule: n ranks see an n× larger batch), seed 0, `mpirun -np 1, 2, 4`. ")
            + Inv($"Time to a training loss of x̄ ≤ {SpeedupTarget} (evaluated every {SpeedupEvalEvery} rounds; evaluation time excluded). The machine has {Environment.ProcessorCount} cores, so the speed-up is capped at {Environment.ProcessorCount}×, and 4 ranks are oversubscribed (two ranks per core); one libtorch thread per rank. ")
            + Inv($"Each multi-rank job runs once with `{MpiJob.YieldWhenIdleVariable}=0` (ranks spin while they wait in an MPI call) and once with `=1` (they call sched_yield between polls), set in the job's environment; the 1-rank run makes no MPI call and is the reference of both. Per-round compute / communication / wait as in the breakdown above (means over ranks)."));
        md.AppendLine();
        md.AppendLine("| ranks | yield_when_idle | lr | rounds to target | seconds to target | speed-up | ms/round | compute | communication | wait | comm. fraction | final train loss |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            double? s = (double?)r["seconds_to_target"];
            string speed = s is { } sv && t1 is { } t ? Inv($"{t / sv:F2}×") : "–";
            r["speedup"] = s is { } sv2 && t1 is { } t2 ? t2 / sv2 : null;
            md.AppendLine(Inv($"| {r["ranks"]} | {(r["yield_when_idle"] is int y ? y.ToString(CultureInfo.InvariantCulture) : "–")} | {r["lr"]} | {r["rounds_to_target"] ?? "not reached"} | {(s is { } x ? x.ToString("F2", CultureInfo.InvariantCulture) : "–")} | {speed} | {(double)r["seconds_per_round"]! * 1000:F3} | {(double)r["compute_ms_per_round"]!:F3} | {(double)r["communication_ms_per_round"]!:F3} | {(double)r["wait_ms_per_round"]!:F3} | {(double)r["communication_fraction"]!:P1} | {(double)r["final_train_loss"]!:F4} |"));
        }
        md.AppendLine();
        md.AppendLine(ReadingSpeedup);
        md.AppendLine();
        var plt = new ScottPlot.Plot();
        var colors = PlotStyle.Colors(curves.Count);
        int k = 0;
        foreach (var (label, curve) in curves)
        {
            var line = plt.Add.Scatter(curve.Select(p => p.Seconds).ToArray(), PlotStyle.Log10(curve.Select(p => p.Loss).ToArray(), 1e-6), colors[k++]);
            line.LegendText = label;
            if (label.EndsWith("yield 1", StringComparison.Ordinal)) line.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        var target = plt.Add.HorizontalLine(Math.Log10(SpeedupTarget));
        target.LinePattern = ScottPlot.LinePattern.Dotted;
        PlotStyle.LogAxis(plt);
        plt.Title("data-parallel SGD under mpirun: training loss of x̄ against wall time");
        plt.XLabel("seconds (evaluation excluded)");
        plt.YLabel("training loss (log scale)");
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        plt.SavePng(Path.Combine(staging, "speedup.png"), 800, 480);
        md.AppendLine("![speed-up](speedup.png)");
        return new Section(md.ToString(), rows, ["speedup.png"]);
    }

    // ---------------------------------------------------------------- worker (one rank under mpirun)

    private static int Worker(Options o, TextWriter stdout)
    {
        string what = o.String("worker", "breakdown");
        double scale = o.Double("rounds-scale", 1, 0.01, 100);
        using var threads = ThreadsOption.Apply(o, 1);
        using var task = new DistributedTask("digits");
        return MpiCommunicator.RunWorld(world =>
        {
            var runs = what switch
            {
                "breakdown" => BreakdownAlgorithms.Select(a => BreakdownOptions(task, a.Name, world.Size, Scaled(a.Rounds, scale))).ToList(),
                "speedup" => [SpeedupOptions(task, world.Size, scale)],
                _ => throw new UsageException($"bench distributed: unknown --worker '{what}'; valid: breakdown, speedup."),
            };
            foreach (var options in runs)
            {
                var t = new TimedCommunicator(world);
                var result = DistributedRunner.RunRank(t, options);
                var text = new StringBuilder();
                text.Append(Inv($"THREADS {TorchSharp.torch.get_num_threads()}\n"));
                text.Append(Inv($"WINDOW {options.Algorithm} {t.WindowTicks}\n"));
                foreach (var c in t.Calls)
                    text.Append(Inv($"CALL {options.Algorithm} {(int)c.Kind} {c.Collective} {c.Tag} {string.Join(';', c.Sources)} {string.Join(';', c.Destinations)} {c.EntryTicks} {c.ExitTicks} {(c.InWindow ? 1 : 0)}\n"));
                if (result is not null)
                {
                    text.Append(Inv($"RESULT {options.Algorithm} {result.GlobalSyncs} {result.Final.BytesSent:R} {result.Final.Metrics["train_loss"]:R}\n"));
                    foreach (var p in result.Curve)
                        text.Append(Inv($"CURVE {options.Algorithm} {p.Round} {p.Seconds:R} {p.Metrics["train_loss"]:R}\n"));
                }
                stdout.Write(text.ToString());
                stdout.Flush();
            }
            return 0;
        }, Console.Error);
    }

    private static DistributedRunOptions SpeedupOptions(DistributedTask task, int n, double scale) =>
        new("dsgd", task, n, "fully-connected", "iid", 0.1, Scaled(SpeedupBaseRounds / n, scale), SpeedupEvalEvery, 32, 0,
            new Dictionary<string, double> { ["lr"] = SpeedupBaseLr * n });

    private static IReadOnlyList<string> RankCommand()
    {
        var info = CliProcess.StartInfo([]);
        return [info.FileName, .. info.ArgumentList];
    }

    /// <summary>Every rank's call log and window length of one algorithm from the ranks' CALL/WINDOW lines.</summary>
    internal static (IReadOnlyList<TimedCall>[] Calls, long[] Windows) ParseTimeline(IReadOnlyList<string> rankStdout, string algorithm)
    {
        int n = rankStdout.Count;
        var calls = new IReadOnlyList<TimedCall>[n];
        var windows = new long[n];
        for (int r = 0; r < n; r++)
        {
            var list = new List<TimedCall>();
            bool window = false;
            foreach (var line in rankStdout[r].Split('\n'))
            {
                var f = line.TrimEnd('\r').Split(' ');
                if (f.Length < 2 || f[1] != algorithm) continue;
                if (f[0] == "WINDOW")
                {
                    windows[r] = long.Parse(f[2], CultureInfo.InvariantCulture);
                    window = true;
                }
                else if (f[0] == "CALL")
                {
                    static int[] Ranks(string s) => s.Length == 0 ? [] : s.Split(';').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
                    list.Add(new TimedCall((TimedCallKind)int.Parse(f[2], CultureInfo.InvariantCulture), long.Parse(f[3], CultureInfo.InvariantCulture),
                        int.Parse(f[4], CultureInfo.InvariantCulture), Ranks(f[5]), Ranks(f[6]), long.Parse(f[7], CultureInfo.InvariantCulture),
                        long.Parse(f[8], CultureInfo.InvariantCulture), f[9] == "1"));
                }
            }
            if (!window) throw new InvalidDataException(Inv($"bench distributed: rank {r} reported no timing for {algorithm}."));
            calls[r] = list;
        }
        return (calls, windows);
    }

    private static (long Syncs, double Bytes, double TrainLoss) ParseResult(string rank0, string algorithm)
    {
        var f = rank0.Split('\n').First(l => l.StartsWith("RESULT " + algorithm + " ", StringComparison.Ordinal)).TrimEnd('\r').Split(' ');
        return (long.Parse(f[2], CultureInfo.InvariantCulture), double.Parse(f[3], CultureInfo.InvariantCulture), double.Parse(f[4], CultureInfo.InvariantCulture));
    }

    // ---------------------------------------------------------------- topology

    private static Section TopologyPart(DistributedTask task, int seeds, double scale, string staging, TextWriter stdout)
    {
        const int n = 16;
        int rounds = Scaled(200, scale);
        string[] names = ["ring", "torus", "exponential", "fully-connected"];
        var rows = new List<Dictionary<string, object?>>();
        var plt = new ScottPlot.Plot();
        var colors = PlotStyle.Colors(names.Length);
        for (int t = 0; t < names.Length; t++)
        {
            var topology = Topology.Create(names[t], n);
            var runs = new List<DistributedRunResult>();
            for (int seed = 0; seed < seeds; seed++)
            {
                var options = new DistributedRunOptions("dsgd", task, n, names[t], "dirichlet", 0.3, rounds, 10, 32, seed, new Dictionary<string, double> { ["lr"] = 0.1 });
                DistributedRunResult? result = null;
                InProcessWorld.Run(n, comm =>
                {
                    var r = DistributedRunner.RunRank(comm, options);
                    if (comm.Rank == 0) result = r;
                }, TimeSpan.FromMinutes(5));
                runs.Add(result!);
            }
            var roundsAxis = runs[0].Curve.Select(p => (double)p.Round).ToArray();
            var xi = Enumerable.Range(0, roundsAxis.Length).Select(i => runs.Average(r => r.Curve[i].ConsensusError)).ToArray();
            // The level after the transient: mean of Ξ over the second half of the run.
            double plateau = xi.Skip(xi.Length / 2).Average();
            double loss = runs.Average(r => r.Final.Metrics["train_loss"]);
            double acc = runs.Average(r => r.Final.Metrics["test_accuracy"]);
            var line = plt.Add.Scatter(roundsAxis.Skip(1).ToArray(), PlotStyle.Log10(xi.Skip(1).ToArray(), 1e-12), colors[t]);
            line.LegendText = Inv($"{names[t]} (gap {topology.SpectralGap:F3})");
            rows.Add(new Dictionary<string, object?>
            {
                ["topology"] = names[t], ["spectral_gap"] = topology.SpectralGap, ["degree"] = topology.Neighbours(0).Out.Count,
                ["consensus_error_second_half"] = plateau, ["final_train_loss"] = loss, ["final_test_accuracy"] = acc,
                ["megabytes_per_worker"] = runs.Average(r => r.Final.BytesSent) / 1e6, ["rounds"] = roundsAxis, ["consensus_error"] = xi,
            });
            stdout.WriteLine(Inv($"  {names[t],-16} gap {topology.SpectralGap:F4}  Ξ (second half) {plateau:E3}  train loss {loss:F4}  test acc {acc:F4}"));
        }
        PlotStyle.LogAxis(plt);
        plt.Title(Inv($"D-SGD, {n} workers: consensus error Ξ = (1/n) Σ ‖x_i − x̄‖²"));
        plt.XLabel("round");
        plt.YLabel("Ξ (log scale)");
        plt.ShowLegend(ScottPlot.Alignment.LowerRight);
        plt.SavePng(Path.Combine(staging, "topology-consensus.png"), 800, 480);
        var md = new StringBuilder();
        md.AppendLine("## Consensus error per topology");
        md.AppendLine();
        md.AppendLine(Inv($"D-SGD (adapt-then-combine, lr 0.1, batch 32) on digits with {n} workers, Dirichlet(0.3) label shards, {rounds} rounds, {seeds} seeds (simulator); Ξ = (1/n) Σ_i ‖x_i − x̄‖² of the workers' models every 10 rounds, mean over seeds. Spectral gap 1 − ρ of each mixing matrix (`Topology.SpectralGap`; of WᵀW for the directed exponential graph)."));
        md.AppendLine();
        md.AppendLine("| topology | out-degree | spectral gap | Ξ, mean over the second half | MB sent/worker | final train loss | final test accuracy |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            md.AppendLine(Inv($"| {r["topology"]} | {r["degree"]} | {(double)r["spectral_gap"]!:F4} | {(double)r["consensus_error_second_half"]!:E3} | {(double)r["megabytes_per_worker"]!:F2} | {(double)r["final_train_loss"]!:F4} | {(double)r["final_test_accuracy"]!:F4} |"));
        md.AppendLine();
        md.AppendLine("![consensus error](topology-consensus.png)");
        return new Section(md.ToString(), rows, ["topology-consensus.png"]);
    }

    // ---------------------------------------------------------------- gradient tracking bias floor

    private static Section GtFloor(double scale, string staging, TextWriter stdout)
    {
        // The brief's ℓ2 = 1e-3 makes f so ill-conditioned (μ ≈ ℓ2) that GT's linear phase needs ~2·10⁴ steps to reach
        // 1e-6; ℓ2 = 1e-2 shows the whole claim within the time budget, ℓ2 = 1e-3 is run as well and its rate reported.
        var md = new StringBuilder();
        md.AppendLine("## Gradient tracking removes D-SGD's heterogeneity floor (§3 miniature)");
        md.AppendLine();
        var parts = new List<object?>();
        var files = new List<string>();
        foreach (var (l2, steps0) in new[] { (1e-2, 4000), (1e-3, 4000) })
        {
            var (text, json, file) = GtFloorAt(l2, Scaled(steps0, scale), staging, stdout);
            md.Append(text);
            parts.Add(json);
            files.Add(file);
        }
        return new Section(md.ToString(), parts, files);
    }

    private static (string Markdown, object Json, string File) GtFloorAt(double l2, int steps, string staging, TextWriter stdout)
    {
        const int n = 8;
        const double eta = 0.5;
        int every = Math.Max(1, steps / 100);
        using var problem = new RidgeLogisticShards(n, l2, seed: 0);
        var solveClock = Stopwatch.StartNew();
        var (xStar, gradNorm) = problem.Solve();
        double starNorm = Math.Sqrt(xStar.Sum(v => v * v));
        // Float32 stagnation: x_e stops moving once |η·y_e| is below half an ulp of x_e, so a float32 iterate can rest
        // where the gradient is as large as ulp(x*_e)/(2η) per entry; with curvature ≥ ℓ2 that is a distance of up to
        // ‖(ulp(x*_e)/(2η))_e‖ / ℓ2 from x*.
        double stagnation = Math.Sqrt(xStar.Sum(v =>
        {
            float a = Math.Abs((float)v);
            double half = (MathF.BitIncrement(a) - a) / (2 * eta);
            return half * half;
        })) / l2;
        string classes = string.Join(" ", Enumerable.Range(0, n).Select(r => "{" + string.Join(",", problem.LabelsOf(r)) + "}"));
        stdout.WriteLine(Inv($"  ℓ2 = {l2}: x* by float64 Newton, ‖∇f(x*)‖ = {gradNorm:E2}, ‖x*‖ = {starNorm:F4} ({solveClock.Elapsed.TotalSeconds:F1} s); classes per worker: {classes}"));
        var ring = Topology.Ring(n);
        var runs = new List<(string Label, string Method, double Lr)> { ("GT, η", "gt", eta), ("D-SGD, η", "dsgd", eta), ("D-SGD, η/4", "dsgd", eta / 4) };
        var curves = new List<(string Label, double[] Steps, double[] Distance, double[] Xi, double[] Drift)>();
        foreach (var (label, method, lr) in runs)
        {
            var stepList = new List<double>();
            var dist = new List<double>();
            var xis = new List<double>();
            var drifts = new List<double>();
            var clock = Stopwatch.StartNew();
            InProcessWorld.Run(n, comm =>
            {
                var worker = problem.CreateWorker(comm.Rank);
                IDistributedAlgorithm algorithm = method == "gt" ? new GradientTracking(worker, comm, ring, lr) : new DecentralizedSgd(worker, comm, ring, lr);
                var x = new float[worker.Length];
                var mean = new float[worker.Length];
                for (int k = 0; k <= steps; k++)
                {
                    if (k > 0) algorithm.Round();
                    if (k % every != 0 && k != steps) continue;
                    algorithm.CopyReportedParametersTo(x);
                    x.CopyTo(mean, 0);
                    comm.AllReduceSum(mean);
                    double local = 0;
                    for (int i = 0; i < x.Length; i++)
                    {
                        double m = mean[i] / (double)n;
                        local += (x[i] - m) * (x[i] - m);
                    }
                    var xiBuf = new[] { (float)local };
                    comm.AllReduceSum(xiBuf);
                    // GT's invariant mean(y) = mean(g): float32 rounding of the tracker makes it drift, which sets
                    // GT's floor (the drift divided by the curvature) — measured, not assumed.
                    double drift = double.NaN;
                    if (algorithm is GradientTracking tracking)
                    {
                        var diff = new float[worker.Length];
                        for (int i = 0; i < diff.Length; i++) diff[i] = (float)((double)tracking.Tracker[i] - tracking.LastGradient[i]);
                        comm.AllReduceSum(diff);
                        drift = Math.Sqrt(diff.Sum(v => (double)v * v)) / n;
                    }
                    if (comm.Rank != 0) continue;
                    drifts.Add(drift);
                    double d2 = 0;
                    for (int i = 0; i < x.Length; i++)
                    {
                        double e = mean[i] / (double)n - xStar[i];
                        d2 += e * e;
                    }
                    stepList.Add(k);
                    dist.Add(Math.Sqrt(d2));
                    xis.Add(xiBuf[0] / n);
                }
            }, TimeSpan.FromMinutes(5));
            curves.Add((label, stepList.ToArray(), dist.ToArray(), xis.ToArray(), drifts.ToArray()));
            stdout.WriteLine(Inv($"    {label,-11} ‖x̄ − x*‖: step {stepList[dist.Count / 4]} {dist[dist.Count / 4]:E3}, step {stepList[dist.Count / 2]} {dist[dist.Count / 2]:E3}, step {steps} {dist[^1]:E3}; Ξ {xis[^1]:E3}; tracker drift {drifts[^1]:E3} ({clock.Elapsed.TotalSeconds:F1} s)"));
        }
        string tag = l2.ToString("0e0", CultureInfo.InvariantCulture);
        string file = $"gt-bias-floor-l2-{tag}.png";
        var plt = new ScottPlot.Plot();
        var colors = PlotStyle.Colors(curves.Count);
        for (int c = 0; c < curves.Count; c++)
        {
            var line = plt.Add.Scatter(curves[c].Steps, PlotStyle.Log10(curves[c].Distance, 1e-12), colors[c]);
            line.LegendText = curves[c].Label;
        }
        PlotStyle.LogAxis(plt);
        plt.Title(Inv($"digits, {n} workers on a ring, sorted-label shards, full gradients, l2 = {l2}, η = {eta}"));
        plt.XLabel("step");
        plt.YLabel("‖x̄ − x*‖ (log scale)");
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        plt.SavePng(Path.Combine(staging, file), 800, 480);

        double Final(int i) => curves[i].Distance[^1];
        double AtHalf(int i) => curves[i].Distance[curves[i].Distance.Length / 2];
        // A floor: over the second half the distance moved by less than 5 %.
        bool dsgdFlat = Math.Abs(Final(1) - AtHalf(1)) <= 0.05 * Final(1) && Math.Abs(Final(2) - AtHalf(2)) <= 0.05 * Final(2);
        bool floorShrinks = Final(2) < Final(1);
        bool gtBelow = Final(0) < 0.01 * Final(1);
        bool gtReaches = Final(0) <= 1e-5;
        // GT's rate over the second half: the factor by which the distance falls per 1,000 steps.
        double perThousand = Math.Pow(AtHalf(0) / Final(0), 1000.0 / (curves[0].Steps[^1] - curves[0].Steps[curves[0].Steps.Length / 2]));
        double stepsTo1e6 = Final(0) <= 1e-6 ? 0 : 1000 * Math.Log(Final(0) / 1e-6) / Math.Log(perThousand);
        var md = new StringBuilder();
        md.AppendLine(Inv($"### ℓ2 = {l2}"));
        md.AppendLine();
        md.AppendLine(Inv($"digits, n = {n} on a ring (spectral gap {ring.SpectralGap:F4}), sorted-label shards (one label-sorted shard per worker; classes per worker: {classes}), multinomial logistic regression (650 parameters) with ℓ2 = {l2}, ")
            + Inv($"full local gradients, zero start, the same constant step η = {eta} for both methods, {steps} steps. x* minimises f = (1/n) Σ_i f_i, found by float64 Newton (‖∇f(x*)‖ = {gradNorm:E2}, ‖x*‖ = {starNorm:F3}); the iterates are the library's float32 `GradientTracking` and `DecentralizedSgd` on the simulator, so float32 arithmetic bounds how close they can get: an entry stops moving once its step η·y is below half a float32 ulp, which allows ‖x̄ − x*‖ up to ‖(ulp(x*_e)/2η)_e‖/ℓ2 = {stagnation:E2} (the float32 stagnation bound)."));
        md.AppendLine();
        md.AppendLine(Inv($"| run | ‖x̄ − x*‖ at step {curves[0].Steps[curves[0].Steps.Length / 4]} | at step {curves[0].Steps[curves[0].Steps.Length / 2]} | at step {steps} | Ξ at step {steps} | tracker drift ‖mean y − mean g‖ at step {steps} |"));
        md.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var c in curves)
            md.AppendLine(Inv($"| {c.Label} | {c.Distance[c.Distance.Length / 4]:E3} | {c.Distance[c.Distance.Length / 2]:E3} | {c.Distance[^1]:E3} | {c.Xi[^1]:E3} | {(double.IsNaN(c.Drift[^1]) ? "–" : c.Drift[^1].ToString("E3", CultureInfo.InvariantCulture))} |"));
        md.AppendLine();
        md.AppendLine(Inv($"![GT vs D-SGD, ℓ2 = {l2}]({file})"));
        md.AppendLine();
        md.AppendLine("Claim (brief §3): GT decreases linearly to ~1e-6 while D-SGD stalls at a floor that shrinks with the step size.");
        md.AppendLine(Inv($"- D-SGD stalls at a floor (moves < 5 % over the second half, both steps): **{(dsgdFlat ? "confirmed" : "NOT confirmed")}** (η: {AtHalf(1):E3} → {Final(1):E3}; η/4: {AtHalf(2):E3} → {Final(2):E3})."));
        md.AppendLine(Inv($"- the floor shrinks with the step size: **{(floorShrinks ? "confirmed" : "NOT confirmed")}** ({Final(1):E3} at η, {Final(2):E3} at η/4, ratio {Final(1) / Final(2):F2})."));
        md.AppendLine(Inv($"- GT ends far below D-SGD at the same step (< 1 %): **{(gtBelow ? "confirmed" : "NOT confirmed")}** ({Final(0):E3} against {Final(1):E3})."));
        md.AppendLine(Inv($"- GT reaches ~1e-6 (≤ 1e-5) within {steps} steps: **{(gtReaches ? "confirmed" : "NOT confirmed")}** ({Final(0):E3}; over the second half it fell {perThousand:F2}× per 1,000 steps{(stepsTo1e6 > 0 && Final(0) > 2 * stagnation ? Inv($", so 1e-6 would take about {stepsTo1e6:F0} more steps at that rate") : "")}; float32 stagnation bound {stagnation:E2}; tracker drift ‖mean y − mean g‖ = {curves[0].Drift[^1]:E2}, so the tracker's invariant holds to float32 rounding)."));
        md.AppendLine();
        var json = new Dictionary<string, object?>
        {
            ["workers"] = n, ["l2"] = l2, ["eta"] = eta, ["steps"] = steps, ["x_star_gradient_norm"] = gradNorm, ["x_star_norm"] = starNorm, ["spectral_gap"] = ring.SpectralGap,
            ["dsgd_floor"] = dsgdFlat, ["floor_shrinks"] = floorShrinks, ["gt_below_floor"] = gtBelow, ["gt_reaches_1e-5"] = gtReaches, ["gt_fall_per_1000_steps"] = perThousand, ["float32_stagnation_bound"] = stagnation,
            ["curves"] = curves.Select(c => new Dictionary<string, object?> { ["label"] = c.Label, ["steps"] = c.Steps, ["distance"] = c.Distance, ["consensus_error"] = c.Xi,
                ["tracker_drift"] = c.Drift.All(double.IsNaN) ? null : c.Drift }).ToList(),
        };
        return (md.ToString(), json, file);
    }

    // ---------------------------------------------------------------- Prox-DASA scaling

    /// <summary>The Prox-DASA miniature's methods: (dist entry, label). prox-D-SGD and prox-DSGT are the "dsgd" and "gt"
    /// entries, which apply the task's ℓ1 prox after their step (<see cref="DecentralizedSgd"/>,
    /// <see cref="GradientTracking"/>).</summary>
    internal static readonly (string Entry, string Label)[] ProxDasaMethods =
        [("prox-dasa", "Prox-DASA"), ("prox-dasa-gt", "Prox-DASA-GT"), ("dsgd", "prox-D-SGD"), ("gt", "prox-DSGT")];

    private static Section ProxDasaScaling(int seeds, double scale, double l1, string staging, TextWriter stdout)
    {
        int rounds = Scaled(2000, scale), every = Math.Max(1, rounds / 40);
        int[] sizes = [2, 4, 8];
        using var task = new DistributedTask("digits-l1", l1: l1);
        var results = new List<(string Method, int N, double[] Rounds, double[] Stationarity, double[] Xi)>();
        var clock = Stopwatch.StartNew();
        foreach (int n in sizes)
            foreach (var (entry, label) in ProxDasaMethods)
            {
                var runs = new List<DistributedRunResult>();
                for (int seed = 0; seed < seeds; seed++)
                {
                    var options = new DistributedRunOptions(entry, task, n, n >= 3 ? "ring" : "fully-connected", "dirichlet", 0.3, rounds, every, 4, seed, new Dictionary<string, double>());
                    DistributedRunResult? result = null;
                    InProcessWorld.Run(n, comm =>
                    {
                        var r = DistributedRunner.RunRank(comm, options);
                        if (comm.Rank == 0) result = r;
                    }, TimeSpan.FromMinutes(5));
                    runs.Add(result!);
                }
                var axis = runs[0].Curve.Select(p => (double)p.Round).ToArray();
                var st = Enumerable.Range(0, axis.Length).Select(i => runs.Average(r => r.Curve[i].Metrics["stationarity"])).ToArray();
                var xi = Enumerable.Range(0, axis.Length).Select(i => runs.Average(r => r.Curve[i].ConsensusError)).ToArray();
                results.Add((label, n, axis, st, xi));
                stdout.WriteLine(Inv($"  {label,-13} n={n}: stationarity at {axis[axis.Length / 4]:F0} {st[st.Length / 4]:E3}, at {axis[axis.Length / 2]:F0} {st[st.Length / 2]:E3}, at {axis[^1]:F0} {st[^1]:E3}; Ξ {xi[^1]:E3} ({clock.Elapsed.TotalSeconds:F0} s)"));
            }
        // Iterations to a fixed level: the level Prox-DASA with n = 2 reaches at the end of its run.
        var reference = results.First(r => r.Method == "Prox-DASA" && r.N == 2);
        double level = reference.Stationarity[^1];
        double? FirstBelow((string Method, int N, double[] Rounds, double[] Stationarity, double[] Xi) r)
        {
            for (int i = 1; i < r.Rounds.Length; i++)
                if (r.Stationarity[i] <= level) return r.Rounds[i];
            return null;
        }
        var colors = PlotStyle.Colors(ProxDasaMethods.Length);
        var patterns = new[] { ScottPlot.LinePattern.Dotted, ScottPlot.LinePattern.Dashed, ScottPlot.LinePattern.Solid };
        void Plot(Func<(string Method, int N, double[] Rounds, double[] Stationarity, double[] Xi), double[]> y, string title, string yLabel, string file)
        {
            var plt = new ScottPlot.Plot();
            foreach (var r in results)
            {
                var line = plt.Add.Scatter(r.Rounds.Skip(1).ToArray(), PlotStyle.Log10(y(r).Skip(1).ToArray(), 1e-12), colors[Array.FindIndex(ProxDasaMethods, m => m.Label == r.Method)]);
                line.LegendText = Inv($"{r.Method}, n = {r.N}");
                line.LinePattern = patterns[Array.IndexOf(sizes, r.N)];
            }
            PlotStyle.LogAxis(plt);
            plt.Title(title);
            plt.XLabel("iteration");
            plt.YLabel(yLabel);
            plt.ShowLegend(ScottPlot.Alignment.UpperRight);
            plt.SavePng(Path.Combine(staging, file), 900, 560);
        }
        Plot(r => r.Stationarity, Inv($"digits-l1, l1 = {l1:G}, batch 4: stationarity of x̄ (dotted n=2, dashed n=4, solid n=8)"),
            "‖x̄ − prox(x̄ − ∇f(x̄))‖² (log scale)", "prox-dasa-scaling.png");
        Plot(r => r.Xi, "consensus error (1/n) Σ‖x_i − x̄‖² (dotted n=2, dashed n=4, solid n=8)", "consensus error (log scale; 0 drawn at 1e-12)", "prox-dasa-consensus.png");

        var md = new StringBuilder();
        md.AppendLine("## Prox-DASA: stationarity and consensus against iterations for n = 2, 4, 8 (§4 miniature)");
        md.AppendLine();
        md.AppendLine(Inv($"digits-l1 (multinomial logistic regression, mean cross-entropy + {l1:G}·‖x‖₁), Dirichlet(0.3) label shards, batch 4 per worker for every method, {rounds} iterations, ring for n = 4, 8 and the complete graph for n = 2, {seeds} seeds (mean), simulator. ")
            + "Prox-DASA and Prox-DASA-GT (the recommended, bug-fixed tracking form, `prox-dasa-gt`) with the `dist` defaults (lr 5, α_base 0.3, diminishing α_k = min(α_base·√(n/(k+1)), 1)); "
            + "prox-D-SGD (`DecentralizedSgd` with the ℓ1 prox, the `dsgd` entry) and prox-DSGT (`GradientTracking` with the ℓ1 prox, the `gt` entry) with lr 0.1. "
            + "Stationarity ‖x̄ − prox_Ψ(x̄ − ∇f(x̄))‖² with the full training gradient (brief §1.2); Ξ = (1/n) Σ_i ‖x_i − x̄‖² of the reported models.");
        md.AppendLine();
        md.AppendLine(Inv($"| method | n | stationarity at {rounds / 4} | at {rounds / 2} | at {rounds} | Ξ at {rounds / 2} | Ξ at {rounds} | iterations to {level:E2} |"));
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results.OrderBy(r => Array.FindIndex(ProxDasaMethods, m => m.Label == r.Method)).ThenBy(r => r.N))
        {
            int q = Array.FindIndex(r.Rounds, x => x >= rounds / 4), h = Array.FindIndex(r.Rounds, x => x >= rounds / 2);
            md.AppendLine(Inv($"| {r.Method} | {r.N} | {r.Stationarity[q]:E3} | {r.Stationarity[h]:E3} | {r.Stationarity[^1]:E3} | {r.Xi[h]:E3} | {r.Xi[^1]:E3} | {(FirstBelow(r) is { } it ? it.ToString("F0", CultureInfo.InvariantCulture) : "not reached")} |"));
        }
        md.AppendLine();
        md.AppendLine("![Prox-DASA scaling](prox-dasa-scaling.png)");
        md.AppendLine();
        md.AppendLine("![consensus error](prox-dasa-consensus.png)");
        md.AppendLine();
        (string Method, int N, double[] Rounds, double[] Stationarity, double[] Xi) Of(string m, int n) => results.First(r => r.Method == m && r.N == n);
        bool Decreasing(string m) => sizes.All(n => Of(m, n).Stationarity[^1] < 0.7 * Of(m, n).Stationarity[Of(m, n).Stationarity.Length / 2]);
        bool Plateaus(string m) => sizes.All(n => Of(m, n).Stationarity[^1] >= 0.7 * Of(m, n).Stationarity[Of(m, n).Stationarity.Length / 2]);
        bool Below(string a, string b) => sizes.All(n => Of(a, n).Stationarity[^1] < Of(b, n).Stationarity[^1]);
        string Finals(string m) => string.Join(", ", sizes.Select(n => Of(m, n).Stationarity[^1].ToString("E2", CultureInfo.InvariantCulture)));
        bool keepsDecreasing = Decreasing("Prox-DASA"), gtKeepsDecreasing = Decreasing("Prox-DASA-GT");
        bool dsgdPlateaus = Plateaus("prox-D-SGD"), dsgtPlateaus = Plateaus("prox-DSGT");
        bool dasaBetter = Below("Prox-DASA", "prox-D-SGD"), dasaBelowDsgt = Below("Prox-DASA", "prox-DSGT"), dasaGtBelowDsgt = Below("Prox-DASA-GT", "prox-DSGT");
        var its = sizes.Select(n => FirstBelow(Of("Prox-DASA", n))).ToArray();
        var itsGt = sizes.Select(n => FirstBelow(Of("Prox-DASA-GT", n))).ToArray();
        static bool Falls(double?[] x) => x.All(v => v is not null) && x[1] < x[0] && x[2] < x[1];
        static string Its(double?[] x) => string.Join(", ", x.Select(v => v is { } w ? w.ToString("F0", CultureInfo.InvariantCulture) : "not reached"));
        bool scales = Falls(its), scalesGt = Falls(itsGt);
        md.AppendLine("Claim (brief §4): Prox-DASA keeps decreasing with batch 4 while prox-D-SGD plateaus, and the iterations to a fixed stationarity level fall roughly like 1/n. "
            + "The checks below are read off the table above (final values listed for n = 2, 4, 8).");
        md.AppendLine(Inv($"- Prox-DASA still decreasing over the second half (last value < 0.7 × the value at half the run, every n): **{(keepsDecreasing ? "confirmed" : "NOT confirmed")}**; Prox-DASA-GT: **{(gtKeepsDecreasing ? "confirmed" : "NOT confirmed")}**."));
        md.AppendLine(Inv($"- prox-D-SGD plateaus (last value ≥ 0.7 × the value at half the run, every n): **{(dsgdPlateaus ? "confirmed" : "NOT confirmed")}**; prox-DSGT: **{(dsgtPlateaus ? "confirmed" : "NOT confirmed")}**."));
        md.AppendLine(Inv($"- Prox-DASA ends below prox-D-SGD for every n: **{(dasaBetter ? "confirmed" : "NOT confirmed")}** ({Finals("Prox-DASA")} against {Finals("prox-D-SGD")})."));
        md.AppendLine(Inv($"- Prox-DASA ends below prox-DSGT for every n: **{(dasaBelowDsgt ? "confirmed" : "NOT confirmed")}** ({Finals("prox-DSGT")}); Prox-DASA-GT ends below prox-DSGT for every n: **{(dasaGtBelowDsgt ? "confirmed" : "NOT confirmed")}** ({Finals("Prox-DASA-GT")})."));
        md.AppendLine(Inv($"- iterations to {level:E2} (Prox-DASA n = 2's final level) fall with n: Prox-DASA **{(scales ? "confirmed" : "NOT confirmed")}** (n = 2, 4, 8: {Its(its)}), Prox-DASA-GT **{(scalesGt ? "confirmed" : "NOT confirmed")}** ({Its(itsGt)}); 1/n scaling would give ratios 1 : 0.5 : 0.25."));
        var json = new Dictionary<string, object?>
        {
            ["rounds"] = rounds, ["seeds"] = seeds, ["l1"] = l1, ["batch"] = 4, ["level"] = level, ["iterations_to_level"] = its, ["iterations_to_level_gt"] = itsGt,
            ["prox_dasa_keeps_decreasing"] = keepsDecreasing, ["prox_dasa_gt_keeps_decreasing"] = gtKeepsDecreasing,
            ["prox_dsgd_plateaus"] = dsgdPlateaus, ["prox_dsgt_plateaus"] = dsgtPlateaus, ["prox_dasa_below_prox_dsgd"] = dasaBetter,
            ["prox_dasa_below_prox_dsgt"] = dasaBelowDsgt, ["prox_dasa_gt_below_prox_dsgt"] = dasaGtBelowDsgt, ["iterations_fall_with_n"] = scales, ["iterations_fall_with_n_gt"] = scalesGt,
            ["curves"] = results.Select(r => new Dictionary<string, object?> { ["method"] = r.Method, ["workers"] = r.N, ["iterations"] = r.Rounds, ["stationarity"] = r.Stationarity, ["consensus_error"] = r.Xi }).ToList(),
        };
        return new Section(md.ToString(), json, ["prox-dasa-scaling.png", "prox-dasa-consensus.png"]);
    }


    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
