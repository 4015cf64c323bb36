using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using SharpOptim.Analysis;
using SharpOptim.Optimizers;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim bench rxtx</c>: X·Xᵀ by RXTX (<see cref="Rxtx"/>, arXiv:2505.09814) against libtorch's matmul on the
/// shapes Muon's Newton–Schulz iteration sees (the wide orientation, rows ≤ columns), in one run: medians of the
/// timed repeats after warm-up, ratios matmul / RXTX (above 1: RXTX faster), and the error of each against the
/// float64 product. libtorch exposes no symmetric rank-k update (BLAS syrk) to TorchSharp, so the symmetric baseline
/// is the one a torch user can write: one 2 × 2 block split computing only C₁₁, C₁₂, C₂₂ (3 of the 4 block products)
/// and mirroring C₂₁ = C₁₂ᵀ.
/// </summary>
public static class BenchRxtxCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["shapes"] = true, ["dtype"] = true, ["threads"] = true, ["warmup"] = true, ["repeats"] = true, ["out"] = true,
    };

    /// <summary>The default shapes: square and 1:4 matrices from 64 to 1024 rows (a transformer's attention and MLP
    /// weights at the widths Muon is used with, in the wide orientation Newton–Schulz works on).</summary>
    public const string DefaultShapes = "64x64,128x128,256x256,512x512,1024x1024,128x512,256x1024,512x2048,1024x4096";

    public static int Run(Options o, string[] args, TextWriter stdout)
    {
        var shapes = ParseShapes(o.String("shapes", DefaultShapes));
        var dtype = o.String("dtype", "float32") switch
        {
            "float32" => ScalarType.Float32,
            "float64" => ScalarType.Float64,
            var d => throw new UsageException($"--dtype must be float32 or float64, not '{d}'."),
        };
        int warmup = (int)o.Long("warmup", 1, 0, 1000);
        int repeats = (int)o.Long("repeats", 5, 1, 10_000);
        string? outDir = o.String("out");
        using var threads = ThreadsOption.Apply(o, Environment.ProcessorCount);
        using var held = new ScalarHold();
        Scalar minusOne = held[-1];

        stdout.WriteLine(FormattableString.Invariant($"bench rxtx: {shapes.Count} shapes, {dtype}, {warmup} warm-up + {repeats} timed repeats (medians); {threads.Describe()}"));
        stdout.WriteLine("  shape        matmul ms   sym-2x2 ms   rxtx-1 ms   rxtx-2 ms   matmul/rxtx-1  matmul/rxtx-2  matmul/sym   err matmul   err rxtx-1   err rxtx-2");
        var rows = new List<Dictionary<string, object>>();
        foreach (var (n, m) in shapes)
        {
            using var x = randn(new[] { n, m }, dtype: dtype, generator: new Generator(0));
            // One RXTX level: recurse at n (and m) but not at n/4; two levels: cutoff n/4 (when n/4 ≥ 4).
            long depth1 = Math.Min(n, m);
            long? depth2 = Math.Min(n, m) / 4 >= 4 ? Math.Min(n, m) / 4 : null;
            double matmulMs = Median(warmup, repeats, () => { using var _ = x.matmul(x.mT); });
            double symMs = Median(warmup, repeats, () => { using var _ = SymmetricTwoByTwo(x); });
            double rxtx1Ms = Median(warmup, repeats, () => { using var _ = Rxtx.Gram(x, depth1); });
            double? rxtx2Ms = depth2 is { } c2 ? Median(warmup, repeats, () => { using var _ = Rxtx.Gram(x, c2); }) : null;

            using var x64 = x.to_type(ScalarType.Float64);
            using var exact = x64.matmul(x64.mT);
            double scale = exact.abs().max().item<double>();
            double Error(Tensor c) { using var d = c.to_type(ScalarType.Float64).add(exact, minusOne).abs().max(); return d.item<double>() / scale; }
            double errMatmul, errRxtx1;
            double? errRxtx2 = null;
            using (var c = x.matmul(x.mT)) errMatmul = Error(c);
            using (var c = Rxtx.Gram(x, depth1)) errRxtx1 = Error(c);
            if (depth2 is { } d2) using (var c = Rxtx.Gram(x, d2)) errRxtx2 = Error(c);

            stdout.WriteLine(FormattableString.Invariant(
                $"  {n + "x" + m,-11} {matmulMs,10:F3} {symMs,12:F3} {rxtx1Ms,11:F3} {Fmt(rxtx2Ms, "F3"),11} {matmulMs / rxtx1Ms,14:F3} {Fmt(matmulMs / rxtx2Ms, "F3"),14} {matmulMs / symMs,11:F3} {errMatmul,12:E2} {errRxtx1,12:E2} {Fmt(errRxtx2, "E2"),12}"));
            rows.Add(new Dictionary<string, object>
            {
                ["rows"] = n, ["cols"] = m,
                ["matmul_ms"] = matmulMs, ["symmetric_2x2_ms"] = symMs, ["rxtx_1_level_ms"] = rxtx1Ms,
                ["rxtx_2_levels_ms"] = (object?)rxtx2Ms ?? "n/a",
                ["matmul_over_rxtx_1"] = matmulMs / rxtx1Ms,
                ["matmul_over_rxtx_2"] = rxtx2Ms is { } r2 ? matmulMs / r2 : "n/a",
                ["matmul_over_symmetric_2x2"] = matmulMs / symMs,
                ["relative_error_matmul"] = errMatmul, ["relative_error_rxtx_1"] = errRxtx1,
                ["relative_error_rxtx_2"] = (object?)errRxtx2 ?? "n/a",
            });
        }
        if (outDir is not null) Write(outDir, args, dtype, warmup, repeats, threads.Describe(), rows, stdout);
        return 0;
    }

    private static string Fmt(double? v, string format) => v is { } d ? d.ToString(format, CultureInfo.InvariantCulture) : "n/a";

    /// <summary>X·Xᵀ from a 2 × 2 row/column split computing the three upper block products only.</summary>
    internal static Tensor SymmetricTwoByTwo(Tensor x)
    {
        long n = x.shape[0], h = n / 2;
        using var scope = NewDisposeScope();
        var top = x.narrow(0, 0, h);
        var bottom = x.narrow(0, h, n - h);
        var result = empty(new[] { n, n }, dtype: x.dtype, device: x.device);
        result.narrow(0, 0, h).narrow(1, 0, h).copy_(top.matmul(top.mT));
        var c12 = top.matmul(bottom.mT);
        result.narrow(0, 0, h).narrow(1, h, n - h).copy_(c12);
        result.narrow(0, h, n - h).narrow(1, 0, h).copy_(c12.mT);
        result.narrow(0, h, n - h).narrow(1, h, n - h).copy_(bottom.matmul(bottom.mT));
        return result.MoveToOuterDisposeScope();
    }

    internal static List<(long Rows, long Cols)> ParseShapes(string text)
    {
        var shapes = new List<(long, long)>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dims = part.Split('x');
            if (dims.Length != 2 || !long.TryParse(dims[0], NumberStyles.None, CultureInfo.InvariantCulture, out long r)
                || !long.TryParse(dims[1], NumberStyles.None, CultureInfo.InvariantCulture, out long c) || r < 4 || c < 4 || r > 16384 || c > 65536)
                throw new UsageException($"--shapes: '{part}' is not ROWSxCOLS with 4 <= ROWS <= 16384 and 4 <= COLS <= 65536 (e.g. 256x1024).");
            shapes.Add((r, c));
        }
        if (shapes.Count == 0) throw new UsageException("--shapes: no shapes given.");
        return shapes;
    }

    private static double Median(int warmup, int repeats, Action action)
    {
        for (int i = 0; i < warmup; i++) action();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(times);
        return repeats % 2 == 1 ? times[repeats / 2] : (times[repeats / 2 - 1] + times[repeats / 2]) / 2;
    }

    private static void Write(string outDir, string[] args, ScalarType dtype, int warmup, int repeats, string threads, List<Dictionary<string, object>> rows, TextWriter stdout)
    {
        Directory.CreateDirectory(outDir);
        string staging = Path.Combine(outDir, ".sharpoptim-writing-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        try
        {
            var json = new Dictionary<string, object>
            {
                ["command"] = "sharpoptim " + string.Join(' ', args),
                ["dtype"] = dtype.ToString(), ["warmup"] = warmup, ["repeats"] = repeats, ["threads"] = threads,
                ["machine"] = new Dictionary<string, object>
                {
                    ["cores"] = Environment.ProcessorCount, ["os"] = RuntimeInformation.OSDescription,
                    ["arch"] = RuntimeInformation.ProcessArchitecture.ToString(), ["dotnet"] = RuntimeInformation.FrameworkDescription,
                },
                ["results"] = rows,
            };
            File.WriteAllText(Path.Combine(staging, "results.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }) + "\n");
            var md = new StringBuilder();
            md.AppendLine("# RXTX (X·Xᵀ) against libtorch's matmul");
            md.AppendLine();
            md.AppendLine($"Command: `sharpoptim {string.Join(' ', args)}`");
            md.AppendLine();
            md.AppendLine(FormattableString.Invariant($"{dtype}, {warmup} warm-up + {repeats} timed repeats per entry (medians), {threads}, {Environment.ProcessorCount} cores. One run; ratios above 1 mean the alternative is faster than matmul."));
            md.AppendLine();
            md.AppendLine("| shape | matmul ms | symmetric 2x2 ms | RXTX 1 level ms | RXTX 2 levels ms | matmul / RXTX-1 | matmul / RXTX-2 | matmul / sym-2x2 | rel. error matmul | rel. error RXTX-1 | rel. error RXTX-2 |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in rows)
            {
                string F(string key, string fmt) => r[key] is double d ? d.ToString(fmt, CultureInfo.InvariantCulture) : r[key].ToString()!;
                md.AppendLine($"| {r["rows"]}x{r["cols"]} | {F("matmul_ms", "F3")} | {F("symmetric_2x2_ms", "F3")} | {F("rxtx_1_level_ms", "F3")} | {F("rxtx_2_levels_ms", "F3")} | {F("matmul_over_rxtx_1", "F2")} | {F("matmul_over_rxtx_2", "F2")} | {F("matmul_over_symmetric_2x2", "F2")} | {F("relative_error_matmul", "E1")} | {F("relative_error_rxtx_1", "E1")} | {F("relative_error_rxtx_2", "E1")} |");
            }
            md.AppendLine();
            md.AppendLine("Relative error: max |C − X·Xᵀ (float64)| / max |X·Xᵀ|. Symmetric 2x2: C₁₁, C₁₂, C₂₂ by matmul, C₂₁ = C₁₂ᵀ (libtorch exposes no syrk).");
            File.WriteAllText(Path.Combine(staging, "report.md"), md.ToString());
            foreach (var f in Directory.GetFiles(staging))
                File.Move(f, Path.Combine(outDir, Path.GetFileName(f)), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        stdout.WriteLine($"wrote {outDir}/results.json, report.md");
    }
}
