using System.Diagnostics;
using System.Reflection;
using SharpOptim.Layers;
using SharpOptim.Optimizers;
using SharpOptim.Tasks.Models;
using SharpOptim.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// TorchSharp 0.107 lets the finalizer free a Scalar that was created implicitly for a native call while libtorch still
/// reads it ("Expected false to be true", "Unknown scalar type", "INTERNAL ASSERT FAILED at c10/core/Scalar.h").
/// The library passes only held scalars; these tests keep it that way.
/// </summary>
public class ScalarRaceTests(ITestOutputHelper output)
{
    /// <summary>Seconds per optimizer for the stress run (SHARPOPTIM_GC_STRESS_SECONDS overrides, for longer runs by hand).</summary>
    private static readonly double Budget =
        double.TryParse(Environment.GetEnvironmentVariable("SHARPOPTIM_GC_STRESS_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var b) && b > 0 ? b : 0.4;

    private static readonly string[] ShippedAssemblies = { "SharpOptim", "SharpOptim.Tasks", "SharpOptim.Cli" };

    [Fact]
    public void NoShippedCodeCreatesAnUnheldScalar()
    {
        var findings = new List<string>();
        foreach (var name in ShippedAssemblies)
            findings.AddRange(ImplicitScalarScanner.Scan(Assembly.Load(name).GetTypes()));
        Assert.True(findings.Count == 0, "Unheld TorchSharp scalars (use ScalarHold, see README 'TorchSharp's scalar race'):\n" + string.Join("\n", findings));
    }

    [Fact]
    public void TheScannerFindsEachKindOfUnheldScalar()
    {
        var findings = ImplicitScalarScanner.Scan(new[] { typeof(Violations) });
        Assert.Contains(findings, f => f.Contains("Implicit") && f.Contains("op_Implicit(Double)") && f.Contains("Scalar"));
        Assert.Contains(findings, f => f.Contains("OneArgumentAdd") && f.Contains("Tensor.add(Tensor)"));
        Assert.Contains(findings, f => f.Contains("Square") && f.Contains("Tensor.square()"));
        Assert.Contains(findings, f => f.Contains("Operator") && f.Contains("op_Multiply(Tensor, Double)"));
        Assert.Contains(findings, f => f.Contains("LerpWeight") && f.Contains("Tensor.op_Implicit(Double)"));
        Assert.Contains(findings, f => f.Contains("LooseToScalar") && f.Contains("ToScalar"));
        Assert.DoesNotContain(findings, f => f.Contains("Held"));
        Assert.Equal(6, findings.Count);
    }

    /// <summary>One method per kind of finding, and the held forms that must pass.</summary>
    private static class Violations
    {
        public static void Implicit(Tensor t) => t.mul_(2.0);
        public static Tensor OneArgumentAdd(Tensor a, Tensor b) => a.add(b);
        public static Tensor Square(Tensor t) => t.square();
        public static Tensor Operator(Tensor t) => t * 2.0;
        public static void LerpWeight(Tensor m, Tensor g) => m.lerp_(g, 0.1);
        public static Tensor LooseToScalar(Tensor t) => t.mul(3.0.ToScalar());
        private static readonly Scalar Field = 1.0.ToScalar();
        public static Tensor Held(Tensor a, Tensor b)
        {
            using var s = new ScalarHold();
            return a.add(b, s[1]).pow(s[2]).mul(Field).lerp(b, s.Weight(0.5));
        }
    }

    /// <summary>
    /// Runs every optimizer's portable path and the training utilities while another thread forces garbage
    /// collections and runs finalizers without pause, the condition under which an unheld scalar is freed mid-call.
    /// Bounded: about 0.4 s per optimizer. Every step must succeed.
    /// </summary>
    [Fact]
    public void PortablePathsAndUtilitiesSurviveConstantCollections()
    {
        var failures = new List<string>();
        long steps = 0;
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            // Young collections: the scalars at risk are new objects, and gen-0 collections are cheap enough to come
            // thousands of times a second, so that some land inside a native call.
            while (!stop.IsCancellationRequested)
            {
                GC.Collect(0, GCCollectionMode.Forced, blocking: true);
                GC.WaitForPendingFinalizers();
            }
        }) { IsBackground = true };
        collector.Start();
        try
        {
            foreach (var entry in OptimizerCatalog.All)
            {
                steps += Repeat(TimeSpan.FromSeconds(Budget), failures, entry.Name, OptimizerRun(entry));
            }
            steps += Repeat(TimeSpan.FromSeconds(Budget), failures, "utilities", UtilitiesRun());
            steps += Repeat(TimeSpan.FromSeconds(1.5 * Budget), failures, "char transformer + pc layer", ModelRun());
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
        output.WriteLine($"{steps} steps, {failures.Count} failures, {OptimizerCatalog.All.Count} optimizers x {Budget} s");
        Assert.True(failures.Count == 0, $"{failures.Count} failures in {steps} steps under constant collections:\n" + string.Join("\n", failures.Take(20)));
        Assert.True(steps >= OptimizerCatalog.All.Count * 5, $"only {steps} steps ran");
    }

    private static long Repeat(TimeSpan budget, List<string> failures, string name, (Action Step, IDisposable Owner) run)
    {
        using var owner = run.Owner;
        var clock = Stopwatch.StartNew();
        long n = 0;
        while (clock.Elapsed < budget)
        {
            try
            {
                run.Step();
            }
            catch (Exception e)
            {
                failures.Add($"{name}: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            }
            n++;
        }
        return n;
    }

    private sealed class Owner(params IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var d in items) d.Dispose();
        }
    }

    /// <summary>A hidden matrix, a conv kernel, an embedding, a head and a bias, so that every routing rule is used.</summary>
    private static (Action, IDisposable) OptimizerRun(OptimizerCatalog.Entry entry)
    {
        var named = new List<(string, Parameter)>
        {
            ("fc0.weight", new Parameter(randn(24, 16))),
            ("conv.weight", new Parameter(randn(8, 3, 3, 3))),
            ("wte.weight", new Parameter(randn(20, 16))),
            ("head.weight", new Parameter(randn(10, 24))),
            ("fc0.bias", new Parameter(randn(24))),
        };
        var opt = entry.Create(named, new Dictionary<string, double>());
        opt.Path = ExecutionPath.Portable;
        var generator = new Generator(7);
        void Step()
        {
            using var scope = NewDisposeScope();
            foreach (var (_, p) in named) p.grad = randn(p.shape, generator: generator);
            opt.step();
        }
        return (Step, new Owner(new IDisposable[] { opt }.Concat(named.Select(x => (IDisposable)x.Item2)).ToArray()));
    }

    private static (Action, IDisposable) UtilitiesRun()
    {
        var model = TestModels.Regression(3);
        var inner = new Optimizers.SGD(model.parameters(), lr: 1e-3, momentum: 0.9);
        var lookahead = new Lookahead(inner, k: 2, alpha: 0.5);
        var ema = new ExponentialMovingAverage(model.named_parameters(), decay: 0.9);
        var accumulation = new GradientAccumulation(lookahead, 2);
        var batch = TestModels.Batch();
        void Step()
        {
            using var scope = NewDisposeScope();
            accumulation.Backward(TestModels.Loss(model, batch));
            accumulation.Backward(TestModels.Loss(model, batch));
            model.zero_grad();
            TestModels.Loss(model, batch).backward();
            GradientClipping.ClipByGlobalNorm(model.parameters(), 0.5);
            GradientClipping.ClipByValue(model.parameters(), 0.1);
            ema.Update();
            var perSample = PerSampleGradients.LinearSoftmax(batch.X, randint(0, 3, batch.X.shape[0]), randn(3, batch.X.shape[1]), randn(3));
            BatchGradientStatistics.FromPerSampleGradients(perSample);
        }
        return (Step, new Owner(ema, lookahead, inner, model));
    }

    private static (Action, IDisposable) ModelRun()
    {
        var lm = new CharTransformer(vocabulary: 12, blockSize: 8, dim: 16, heads: 2, layers: 1);
        var pc = new PCLinear(16, 12, level: 2);
        var tokens = randint(0, 12, new long[] { 4, 8 });
        var hold = new ScalarHold();
        var two = hold[2];
        void Step()
        {
            using var scope = NewDisposeScope();
            var logits = lm.forward(tokens);
            var loss = pc.forward(logits.reshape(-1, 12).matmul(ones(12, 16))).pow(two).mean();
            loss.backward();
            pc.UpdateSpectralState();
        }
        return (Step, new Owner(lm, pc, tokens, hold));
    }
}
