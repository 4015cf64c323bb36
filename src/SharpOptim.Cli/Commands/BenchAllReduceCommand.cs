using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SharpOptim.Cli.Compare;
using SharpOptim.Distributed;
using SharpOptim.Distributed.Mpi;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim bench allreduce</c>: the Open MPI backend's own cost. For each rank count it starts one
/// <c>mpirun</c> job (<see cref="MpiJob"/>, the one-machine settings) whose ranks time, on the same pinned buffer and
/// alternating call by call, <see cref="MpiCommunicator.AllReduceSum"/> (what the algorithms call) and Open MPI's raw
/// <c>MPI_Allreduce(MPI_IN_PLACE, …, MPI_FLOAT, MPI_SUM)</c> through the same P/Invoke entry point, over buffer sizes
/// from 1 KB to 64 MB. Each timed call starts after a barrier; its time is the slowest rank's (an
/// <c>MPI_Allreduce(MAX)</c> of the per-rank times outside the timed region); medians are reported with the algorithm
/// bandwidth (bytes / time) and the bus bandwidth (bytes·2(n−1)/n / time, the ring all-reduce's traffic per rank, as
/// NCCL's tests report it). Writes results.json, results.csv, bandwidth.png and report.md through a staging folder.
/// </summary>
public static class BenchAllReduceCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["ranks"] = true, ["sizes"] = true, ["seconds"] = true, ["timeout"] = true, ["out"] = true, ["force"] = false, ["worker"] = false,
    };

    /// <summary>Default buffer sizes in bytes: 1 KB to 64 MB in steps of 4.</summary>
    public static readonly long[] DefaultSizes = [1L << 10, 1L << 12, 1L << 14, 1L << 16, 1L << 18, 1L << 20, 1L << 22, 1L << 24, 1L << 26];

    private const int MinIterations = 10, MaxIterations = 2000, Warmup = 2;
    private const string StagingPrefix = ".sharpoptim-writing-";
    private static readonly string[] Files = ["results.json", "results.csv", "bandwidth.png", "report.md"];

    /// <summary>One measured configuration.</summary>
    /// <param name="Ranks">MPI processes.</param>
    /// <param name="Bytes">Buffer size in bytes (float32 elements × 4).</param>
    /// <param name="Method">"communicator" (MpiCommunicator.AllReduceSum) or "raw" (MPI_Allreduce).</param>
    /// <param name="Iterations">Timed calls.</param>
    /// <param name="MedianSeconds">Median over timed calls of the slowest rank's time.</param>
    /// <param name="MinSeconds">Fastest timed call (slowest rank).</param>
    /// <param name="PairedRatio">Median over iterations of (communicator time / raw time) within one iteration.</param>
    public sealed record Row(int Ranks, long Bytes, string Method, int Iterations, double MedianSeconds, double MinSeconds, double PairedRatio)
    {
        /// <summary>Algorithm bandwidth in GB/s (10^9 bytes): buffer bytes over the median time.</summary>
        public double AlgorithmGBps => Bytes / MedianSeconds / 1e9;

        /// <summary>Bus bandwidth in GB/s: algorithm bandwidth × 2(n−1)/n.</summary>
        public double BusGBps => AlgorithmGBps * 2.0 * (Ranks - 1) / Ranks;
    }

    public static int Run(Options o, TextWriter stdout)
    {
        var sizes = ParseSizes(o.String("sizes"));
        double seconds = o.Double("seconds", 1.0, 0.01, 600);
        if (o.Has("worker")) return Worker(sizes, seconds, stdout);

        var ranks = ParseRanks(o.String("ranks", "2,4"));
        double timeout = o.Double("timeout", 600, 10, 86_400);
        string outDir = Path.GetFullPath(o.String("out", "allreduce-results"));
        if (File.Exists(Path.Combine(outDir, "results.json")) && !o.Has("force"))
            throw new UsageException($"bench allreduce: '{outDir}' already holds results; use --force to replace them or --out DIR.");
        if (MpiRuntime.UnavailableReason is { } reason) throw new InvalidOperationException($"bench allreduce: {reason}.");

        stdout.WriteLine(FormattableString.Invariant($"bench allreduce: {MpiRuntime.LibraryVersion}; {Environment.ProcessorCount} cores; ranks {string.Join(",", ranks)}; sizes {string.Join(",", sizes.Select(FormatBytes))}; {seconds} s per size and method"));
        stdout.WriteLine(FormattableString.Invariant($"  load average at the start (other processes on this machine): {MachineLoad.Averages()}"));
        var rows = new List<Row>();
        var clock = Stopwatch.StartNew();
        foreach (int n in ranks)
        {
            var command = new List<string>(RankCommand()) { "bench", "allreduce", "--worker", "--seconds", seconds.ToString("R", CultureInfo.InvariantCulture), "--sizes", string.Join(",", sizes) };
            stdout.WriteLine(FormattableString.Invariant($"  mpirun -np {n} ..."));
            var job = MpiJob.Run(n, command, TimeSpan.FromSeconds(timeout));
            if (job.TimedOut || job.ExitCode != 0)
                throw new InvalidOperationException($"bench allreduce: the {n}-rank job failed.\n{job.Describe()}");
            var got = ParseRows(n, job.RankStdout[0]);
            if (got.Count != 2 * sizes.Length)
                throw new InvalidDataException($"bench allreduce: the {n}-rank job reported {got.Count} rows, expected {2 * sizes.Length}.\n{job.Describe()}");
            foreach (var row in got)
                stdout.WriteLine(FormattableString.Invariant($"    {FormatBytes(row.Bytes),6} {row.Method,-12} median {row.MedianSeconds * 1e6,10:F1} us  {row.BusGBps,7:F3} GB/s bus  ({row.Iterations} calls)"));
            rows.AddRange(got);
        }
        stdout.WriteLine();
        stdout.Write(Table(rows));
        Write(outDir, rows, sizes, seconds, clock.Elapsed);
        stdout.WriteLine(FormattableString.Invariant($"wrote {outDir} ({string.Join(", ", Files)}); total {clock.Elapsed.TotalSeconds:F0} s"));
        return 0;
    }

    /// <summary>What each rank runs: this same CLI (its apphost, or <c>dotnet SharpOptim.Cli.dll</c>).</summary>
    private static IReadOnlyList<string> RankCommand()
    {
        var info = CliProcess.StartInfo([]);
        return [info.FileName, .. info.ArgumentList];
    }

    private static unsafe int Worker(long[] sizes, double seconds, TextWriter stdout) => MpiCommunicator.RunWorld(world =>
    {
        IntPtr maxOp = MpiNative.Predefined("ompi_mpi_op_max"), dbl = MpiNative.Predefined("ompi_mpi_double");
        double SlowestRank(double t)
        {
            MpiNative.Check(MpiNative.MPI_Allreduce((void*)MpiNative.InPlace, &t, 1, dbl, maxOp, world.Handle), "MPI_Allreduce");
            return t;
        }
        foreach (long bytes in sizes)
        {
            var buffer = new PinnedBuffer(checked((int)(bytes / sizeof(float))));
            // Correctness once (ones sum to n), then zeros: the sums stay finite however many calls are timed.
            buffer.Span.Fill(1f);
            world.AllReduceSum(buffer.Span);
            if (buffer.Array[0] != world.Size || buffer.Array[^1] != world.Size)
                throw new InvalidDataException(FormattableString.Invariant($"all-reduce of ones gave {buffer.Array[0]}, expected {world.Size}."));
            buffer.Span.Clear();
            float* p = (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref buffer.Array[0]);
            int count = buffer.Length;
            var times = new[] { new List<double>(), new List<double>() };
            double spent = 0;
            for (int it = 0; it < Warmup + MaxIterations; it++)
            {
                // Order alternates (communicator first on even calls, raw first on odd ones), so neither method
                // always follows the other.
                foreach (int m in it % 2 == 0 ? [0, 1] : new[] { 1, 0 })
                {
                    MpiNative.Check(MpiNative.MPI_Barrier(world.Handle), "MPI_Barrier");
                    double t0 = MpiNative.MPI_Wtime();
                    if (m == 0) world.AllReduceSum(buffer.Span);
                    else MpiNative.Check(MpiNative.MPI_Allreduce((void*)MpiNative.InPlace, p, count, world.FloatType, world.SumOp, world.Handle), "MPI_Allreduce");
                    double t = SlowestRank(MpiNative.MPI_Wtime() - t0);
                    if (it >= Warmup) times[m].Add(t);
                    spent += t;
                }
                // Every rank sees the same slowest-rank times, so every rank takes the same decision.
                if (it >= Warmup + MinIterations - 1 && spent >= 2 * seconds) break;
            }
            if (world.Rank == 0)
                for (int m = 0; m < 2; m++)
                {
                    var sorted = times[m].Order().ToArray();
                    // The median over iterations of communicator time / raw time in the same iteration: robust to
                    // the machine's load drifting during the run (the same figure on both rows).
                    var paired = times[0].Zip(times[1], (c, raw) => c / raw).Order().ToArray();
                    stdout.WriteLine(FormattableString.Invariant($"ROW {bytes} {(m == 0 ? "communicator" : "raw")} {sorted.Length} {Median(sorted):R} {sorted[0]:R} {Median(paired):R}"));
                }
            GC.KeepAlive(buffer);
        }
        return 0;
    }, Console.Error);

    private static double Median(double[] sorted) => sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);

    internal static List<Row> ParseRows(int ranks, string text) =>
        text.Split('\n').Where(l => l.StartsWith("ROW ", StringComparison.Ordinal)).Select(l =>
        {
            var f = l.Split(' ');
            return new Row(ranks, long.Parse(f[1], CultureInfo.InvariantCulture), f[2], int.Parse(f[3], CultureInfo.InvariantCulture),
                double.Parse(f[4], CultureInfo.InvariantCulture), double.Parse(f[5], CultureInfo.InvariantCulture), double.Parse(f[6], CultureInfo.InvariantCulture));
        }).ToList();

    /// <summary>Parses "1K,64K,1M" (bytes; K = 1024, M = 1024²); each a positive multiple of 4 up to 1 GB.</summary>
    public static long[] ParseSizes(string? text)
    {
        if (text is null) return DefaultSizes;
        var sizes = new List<long>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            long scale = part.EndsWith('K') || part.EndsWith('k') ? 1L << 10 : part.EndsWith('M') || part.EndsWith('m') ? 1L << 20 : 1;
            string digits = scale == 1 ? part : part[..^1];
            if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long v) || v <= 0 || v > (1L << 30) / scale || v * scale % 4 != 0)
                throw new UsageException($"--sizes: '{part}' is not a positive size in bytes, a multiple of 4 up to 1024M (e.g. 1K,64K,1M).");
            sizes.Add(v * scale);
        }
        if (sizes.Count == 0) throw new UsageException("--sizes: give at least one size.");
        return [.. sizes.Distinct().Order()];
    }

    /// <summary>Parses "2,4": rank counts between 2 and 64.</summary>
    public static int[] ParseRanks(string text)
    {
        var ranks = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < 2 || v > 64)
                throw new UsageException($"--ranks: '{part}' is not a rank count between 2 and 64.");
            ranks.Add(v);
        }
        if (ranks.Count == 0) throw new UsageException("--ranks: give at least one rank count.");
        return [.. ranks.Distinct().Order()];
    }

    private static string FormatBytes(long b) => b >= 1L << 20 && b % (1L << 20) == 0 ? FormattableString.Invariant($"{b >> 20}M")
        : b >= 1L << 10 && b % (1L << 10) == 0 ? FormattableString.Invariant($"{b >> 10}K") : b.ToString(CultureInfo.InvariantCulture);

    private static string Table(List<Row> rows)
    {
        var b = new StringBuilder();
        b.AppendLine("| ranks | size | calls | MpiCommunicator median (us) | raw MPI_Allreduce median (us) | ratio of medians | paired ratio | bus bandwidth, communicator (GB/s) | bus bandwidth, raw (GB/s) | fastest call, raw (us) |");
        b.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var g in rows.GroupBy(r => (r.Ranks, r.Bytes)).OrderBy(g => g.Key.Ranks).ThenBy(g => g.Key.Bytes))
        {
            var c = g.Single(r => r.Method == "communicator");
            var raw = g.Single(r => r.Method == "raw");
            b.AppendLine(FormattableString.Invariant($"| {g.Key.Ranks} | {FormatBytes(g.Key.Bytes)} | {c.Iterations} | {c.MedianSeconds * 1e6:F1} | {raw.MedianSeconds * 1e6:F1} | {c.MedianSeconds / raw.MedianSeconds:F3} | {c.PairedRatio:F3} | {c.BusGBps:F3} | {raw.BusGBps:F3} | {raw.MinSeconds * 1e6:F1} |"));
        }
        return b.ToString();
    }

    private static void Write(string dir, List<Row> rows, long[] sizes, double seconds, TimeSpan elapsed)
    {
        Directory.CreateDirectory(dir);
        string staging = Path.Combine(dir, StagingPrefix + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            var doc = new Dictionary<string, object?>
            {
                ["library"] = MpiRuntime.LibraryVersion, ["cores"] = Environment.ProcessorCount, ["seconds_per_size"] = seconds,
                ["launcher"] = string.Join(' ', MpiJob.LauncherArguments(2).Skip(2)), ["load_average_at_end"] = MachineLoad.Averages(),
                ["total_seconds"] = elapsed.TotalSeconds,
                ["rows"] = rows.Select(r => new Dictionary<string, object?>
                {
                    ["ranks"] = r.Ranks, ["bytes"] = r.Bytes, ["method"] = r.Method, ["iterations"] = r.Iterations,
                    ["median_seconds"] = r.MedianSeconds, ["min_seconds"] = r.MinSeconds, ["paired_ratio"] = r.PairedRatio, ["algorithm_gbps"] = r.AlgorithmGBps, ["bus_gbps"] = r.BusGBps,
                }).ToList(),
            };
            File.WriteAllText(Path.Combine(staging, "results.json"), JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
            var csv = new StringBuilder("ranks,bytes,method,iterations,median_seconds,min_seconds,paired_ratio,algorithm_gbps,bus_gbps\n");
            foreach (var r in rows)
                csv.AppendLine(FormattableString.Invariant($"{r.Ranks},{r.Bytes},{r.Method},{r.Iterations},{r.MedianSeconds:R},{r.MinSeconds:R},{r.PairedRatio:R},{r.AlgorithmGBps:R},{r.BusGBps:R}"));
            File.WriteAllText(Path.Combine(staging, "results.csv"), csv.ToString());
            Plot(rows, Path.Combine(staging, "bandwidth.png"));
            File.WriteAllText(Path.Combine(staging, "report.md"), Report(rows, sizes, seconds, elapsed));
            foreach (var f in Files) File.Move(Path.Combine(staging, f), Path.Combine(dir, f), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static void Plot(List<Row> rows, string path)
    {
        var plt = new ScottPlot.Plot();
        var series = rows.GroupBy(r => (r.Ranks, r.Method)).OrderBy(g => g.Key.Ranks).ThenBy(g => g.Key.Method).ToList();
        var colors = PlotStyle.Colors(series.Count);
        for (int i = 0; i < series.Count; i++)
        {
            var pts = series[i].OrderBy(r => r.Bytes).ToArray();
            // Log axis: on a loaded machine the bandwidths span several decades.
            var line = plt.Add.Scatter(pts.Select(r => Math.Log2(r.Bytes)).ToArray(), PlotStyle.Log10(pts.Select(r => r.BusGBps).ToArray(), 1e-6), colors[i]);
            line.LegendText = FormattableString.Invariant($"{series[i].Key.Ranks} ranks, {(series[i].Key.Method == "raw" ? "raw MPI_Allreduce" : "MpiCommunicator")}");
            if (series[i].Key.Method == "raw") line.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            rows.Select(r => r.Bytes).Distinct().Order().Select(b => new ScottPlot.Tick(Math.Log2(b), FormatBytes(b))).ToArray());
        PlotStyle.LogAxis(plt);
        plt.Title("all-reduce bus bandwidth under mpirun (one machine, shared memory; median call)");
        plt.XLabel("buffer size");
        plt.YLabel("bus bandwidth (GB/s, log scale)");
        plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
        plt.SavePng(path, 900, 520);
    }

    private static string Report(List<Row> rows, long[] sizes, double seconds, TimeSpan elapsed)
    {
        var b = new StringBuilder();
        b.AppendLine("# All-reduce throughput: MpiCommunicator vs raw MPI_Allreduce");
        b.AppendLine();
        b.AppendLine(FormattableString.Invariant($"Open MPI: {MpiRuntime.LibraryVersion}. Machine: {Environment.ProcessorCount} cores; load average at the end {MachineLoad.Averages()}. One run, {elapsed.TotalSeconds:F0} s in all."));
        b.AppendLine(FormattableString.Invariant($"Launcher: `mpirun {string.Join(' ', MpiJob.LauncherArguments(2).Skip(2))}` with `{string.Join(' ', MpiJob.JobEnvironment.Select(kv => kv.Key + "=" + kv.Value))}`."));
        b.AppendLine();
        b.AppendLine("Each rank holds one pinned float32 buffer per size and alternates, call by call, `MpiCommunicator.AllReduceSum` "
            + "(span → `fixed` → `MPI_Allreduce(MPI_IN_PLACE, …, MPI_FLOAT, MPI_SUM)`, plus the thread check, a stopwatch and the "
            + "traffic counters) and the raw `MPI_Allreduce` on the same buffer. Every call starts after an `MPI_Barrier`; its time "
            + "is the slowest rank's. The two methods alternate which goes first from one iteration to the next. "
            + FormattableString.Invariant($"At least {MinIterations} timed calls per method after {Warmup} warm-up calls, more until about {seconds} s per method have been timed. ")
            + "Bus bandwidth = size · 2(n−1)/n / median time. The paired ratio is the median over iterations of the "
            + "communicator's time over the raw call's time in the same iteration, the figure least disturbed by other load.");
        b.AppendLine();
        b.Append(Table(rows));
        b.AppendLine();
        var ratios = rows.Where(r => r.Method == "communicator").Select(r => r.PairedRatio).Order().ToArray();
        b.AppendLine(FormattableString.Invariant($"Paired ratio (median over calls of communicator time / raw time in the same iteration) over all {ratios.Length} configurations: median {Median(ratios):F3}, range {ratios[0]:F3} – {ratios[^1]:F3}."));
        b.AppendLine();
        b.AppendLine("![bus bandwidth](bandwidth.png)");
        b.AppendLine();
        b.AppendLine("Caveats: all ranks run on one machine over shared memory (`btl self,vader`, single-copy off), more ranks than cores "
            + "are oversubscribed, and other processes may share the cores, so the absolute figures measure this machine's memory "
            + "system and scheduler, not a network; the ratio of the two methods, measured call by call on the same buffers, is the "
            + "portable number.");
        b.AppendLine();
        b.AppendLine(FormattableString.Invariant($"Command: `sharpoptim bench allreduce --ranks {string.Join(",", rows.Select(r => r.Ranks).Distinct())} --sizes {string.Join(",", sizes.Select(FormatBytes))} --seconds {seconds.ToString(CultureInfo.InvariantCulture)}`"));
        return b.ToString();
    }

}
