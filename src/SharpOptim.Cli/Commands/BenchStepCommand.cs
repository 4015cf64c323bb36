using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using SharpOptim.Kernels;
using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim bench step</c>: times one optimizer step on one flat float32 parameter on three implementations
/// over identical tensors (SharpOptim fused, SharpOptim portable, TorchSharp's built-in where one exists), and
/// measures this machine's memory bandwidth in the same run with a SIMD triad on the same worker threads.
/// Every figure is a median of the timed repeats after warm-up steps.
/// </summary>
public static class BenchStepCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["optimizer"] = true, ["params"] = true, ["threads"] = true, ["warmup"] = true, ["repeats"] = true, ["json"] = true,
        ["rows"] = true,
    };

    public static int Run(Options o, TextWriter stdout)
    {
        string name = o.String("optimizer", "adamw");
        var entry = OptimizerCatalog.Get(name);
        long n = o.Long("params", 16_000_000, 1, 400_000_000);
        int threads = (int)o.Long("threads", Environment.ProcessorCount, 1, 1024);
        int warmup = (int)o.Long("warmup", 3, 0, 1000);
        int repeats = (int)o.Long("repeats", 15, 1, 10_000);
        string? jsonPath = o.String("json");
        if (jsonPath is not null)
        {
            string dir = Path.GetDirectoryName(Path.GetFullPath(jsonPath))!;
            if (!Directory.Exists(dir)) throw new UsageException(FormattableString.Invariant($"--json: directory '{dir}' does not exist."));
        }

        ChunkedParallel.MaxThreads = threads;
        torch.set_num_threads(threads);
        torch.manual_seed(0);
        // Matrix-aware optimizers see the parameter as a [rows, n / rows] matrix (square-ish unless --rows is given).
        long[] shape = new[] { n };
        if (!entry.HasFusedPath)
        {
            long rows = o.Long("rows", LargestDivisorAtMostSqrt(n), 1, n);
            if (n % rows != 0) throw new UsageException(FormattableString.Invariant($"--rows {rows} does not divide --params {n}."));
            shape = new[] { rows, n / rows };
        }
        else if (o.Has("rows")) throw new UsageException(FormattableString.Invariant($"--rows applies to matrix optimizers (muon), not {entry.Name}."));
        using var held = new ScalarHold();
        using var p0 = randn(shape);
        using var g0 = randn(shape).mul_(held[0.01]);

        stdout.WriteLine($"bench step: {entry.Name}, {n:N0} float32 parameters, {threads} threads, {warmup} warm-up + {repeats} timed steps");

        // Optimizers without a fused kernel (Muon: matrix products) report the portable path only.
        double? fusedMs = entry.HasFusedPath ? TimeOurs(entry, p0, g0, ExecutionPath.Fused, warmup, repeats).Ms : null;
        var (portableMs, stateTensors) = TimeOurs(entry, p0, g0, ExecutionPath.Portable, warmup, repeats);
        double? torchSharpMs = TimeTorchSharp(entry.Name, p0, g0, warmup, repeats);
        double triadGbps = MeasureTriad(n, warmup, repeats);
        double? nsMs = entry.Name == "muon" ? Median(warmup, repeats, () => { using var _ = NewtonSchulz.Orthogonalize(g0); }) : null;
        // The rest of a Muon step (momentum, Nesterov mix, decay, update: elementwise), timed the same way, so that the
        // orthogonalization's share is NS / (NS + rest) from two like-for-like medians rather than NS over a
        // separately measured whole step.
        double? restMs = null;
        if (nsMs is not null)
        {
            using var m = zeros_like(g0);
            using var p1 = p0.clone();
            restMs = Median(warmup, repeats, () =>
            {
                using var scope = NewDisposeScope();
                m.lerp_(g0, held.Weight(0.05));
                var u = g0.lerp(m, held.Weight(0.95));
                p1.mul_(held[1.0]);
                p1.add_(u, held[-0.02]);
            });
        }

        // Bytes that must move once per step: param read + write, grad read, each state tensor read + write.
        long bytesPerElement = 4 * (3 + 2 * stateTensors);
        double? fusedGbps = fusedMs is { } fm ? bytesPerElement * (double)n / (fm * 1e-3) / 1e9 : null;
        var result = new Dictionary<string, object?>
        {
            ["optimizer"] = entry.Name,
            ["params"] = n,
            ["threads"] = threads,
            ["warmup"] = warmup,
            ["repeats"] = repeats,
            ["fused_ms"] = Round(fusedMs),
            ["portable_ms"] = Round(portableMs),
            ["torchsharp_ms"] = torchSharpMs is { } t ? Round(t) : null,
            ["triad_gbps"] = Round(triadGbps),
            ["fused_gbps"] = Round(fusedGbps),
            ["bytes_per_element"] = bytesPerElement,
            ["speedup_vs_torchsharp"] = Round(torchSharpMs / fusedMs),
            ["speedup_vs_portable"] = Round(portableMs / fusedMs),
            ["bandwidth_fraction"] = Round(fusedGbps / triadGbps),
            ["shape"] = shape,
            ["orthogonalization_ms"] = nsMs is { } ns ? Round(ns) : null,
            ["elementwise_ms"] = restMs is { } rm ? Round(rm) : null,
            ["orthogonalization_fraction"] = nsMs is { } ns2 && restMs is { } rm2 ? Round(ns2 / (ns2 + rm2)) : null,
            ["nonfinite_check"] = "included (default policy Throw: one extra read of the gradient, not counted in bytes_per_element)",
            ["simd_floats"] = System.Numerics.Vector<float>.Count,
            ["machine"] = new Dictionary<string, object>
            {
                ["cores"] = Environment.ProcessorCount,
                ["os"] = RuntimeInformation.OSDescription,
                ["arch"] = RuntimeInformation.ProcessArchitecture.ToString(),
                ["dotnet"] = RuntimeInformation.FrameworkDescription,
            },
        };

        var speed = fusedMs ?? portableMs;
        stdout.WriteLine(fusedMs is { } f
            ? $"  fused       {f,10:F2} ms  {fusedGbps,7:F1} GB/s  ({bytesPerElement} B/param)"
            : "  fused       (no fused kernel)");
        string vs = fusedMs is null ? "portable" : "fused";
        stdout.WriteLine(fusedMs is null ? $"  portable    {portableMs,10:F2} ms" : $"  portable    {portableMs,10:F2} ms  ({portableMs / speed:F1}x fused)");
        stdout.WriteLine(torchSharpMs is { } ts
            ? $"  torchsharp  {ts,10:F2} ms  ({ts / speed:F1}x {vs})"
            : "  torchsharp  (no built-in equivalent)");
        stdout.WriteLine(fusedGbps is { } fg
            ? $"  triad       {triadGbps,10:F1} GB/s  (fused reaches {fg / triadGbps:P0} of it)"
            : $"  triad       {triadGbps,10:F1} GB/s");
        if (nsMs is { } nsT && restMs is { } rest)
            stdout.WriteLine($"  newton-schulz {nsT,8:F2} ms, the rest of the step {rest:F2} ms: orthogonalization is {nsT / (nsT + rest):P1} of a Muon step on [{string.Join(" x ", shape)}]");

        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }) + "\n");
            stdout.WriteLine($"  wrote {jsonPath}");
        }
        return 0;
    }

    private static long LargestDivisorAtMostSqrt(long n)
    {
        for (long r = (long)Math.Floor(Math.Sqrt(n)); r > 1; r--)
            if (n % r == 0) return r;
        return 1;
    }

    private static double? Round(double? v) => v is { } x ? Math.Round(x, 3) : null;

    private static (double Ms, int StateTensors) TimeOurs(OptimizerCatalog.Entry entry, Tensor p0, Tensor g0,
        ExecutionPath path, int warmup, int repeats)
    {
        using var p = new Parameter(p0.clone());
        p.grad = g0.clone();
        using var opt = entry.Create(new[] { p }, new Dictionary<string, double>());
        opt.Path = path;
        double ms = Median(warmup, repeats, () => opt.step());
        int tensors = opt.States.Single().Tensors.Count;
        return (ms, tensors);
    }

    private static double? TimeTorchSharp(string name, Tensor p0, Tensor g0, int warmup, int repeats)
    {
        using var p = new Parameter(p0.clone());
        p.grad = g0.clone();
        var ps = new[] { p };
        // The same hyperparameters as the catalog's defaults.
        optim.Optimizer? opt = name switch
        {
            "sgd" => optim.SGD(ps, 0.01, momentum: 0.9),
            "adam" => optim.Adam(ps, 1e-3),
            "adamw" => optim.AdamW(ps, 1e-3, weight_decay: 1e-2),
            "adagrad" => optim.Adagrad(ps, 1e-2),
            "rmsprop" => optim.RMSProp(ps, 1e-2),
            _ => null,
        };
        if (opt is null) return null;
        using (opt) return Median(warmup, repeats, () => opt.step());
    }

    private static unsafe double MeasureTriad(long n, int warmup, int repeats)
    {
        nuint bytes = (nuint)(n * sizeof(float));
        float* a = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        float* b = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        float* c = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        try
        {
            new Span<float>(b, (int)n).Fill(1f);
            new Span<float>(c, (int)n).Fill(2f);
            new Span<float>(a, (int)n).Clear();
            var job = new TriadJob();
            double ms = Median(warmup, repeats, () => job.Run(a, b, c, 0.5f, n));
            if (a[n - 1] != 2f) throw new InvalidOperationException("Triad produced a wrong result.");
            return 12.0 * n / (ms * 1e-3) / 1e9;
        }
        finally
        {
            NativeMemory.AlignedFree(a);
            NativeMemory.AlignedFree(b);
            NativeMemory.AlignedFree(c);
        }
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
}
