using System.Reflection;
using System.Text.RegularExpressions;
using SharpOptim.GradientFree;
using SharpOptim.Layers;
using SharpOptim.MultiTask;
using SharpOptim.Tasks.MultiTask;
using SharpOptim.Optimizers;
using SharpOptim.Policy;
using SharpOptim.Tasks.Models;
using SharpOptim.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// The rule "no unreferenced tensor temporaries across native calls outside a dispose scope" (README, Compatibility:
/// "TorchSharp's tensor-temporary race"), checked with an exact count. TorchSharp 0.107 passes a tensor's raw handle to
/// libtorch and does not keep the wrapper reachable during the call, so a wrapper that is neither disposed nor owned by
/// a dispose scope can be finalized — its at::Tensor deleted — by a garbage collection that another thread starts while
/// libtorch still reads it (the segmentation fault of multi-threaded <c>dist</c> runs, see
/// <see cref="Distributed.NativeCrashTests"/>). Library code that is called outside a dispose scope must therefore
/// dispose every tensor it creates there or create it inside its own scope; what it returns is the caller's to dispose.
/// The count is TorchSharp's per-thread statistics: tensors created outside a scope or detached from one, less those
/// attached to a scope or disposed outside one (a finalizer runs on its own thread, so it never lowers this count).
/// After the checked code ran and the test disposed what it owns, the count must be back where it started: 0 tensors
/// left to the finalizer.
/// </summary>
public class NativeTemporaryTests
{
    /// <summary>Tensors of this thread that live outside every dispose scope (or were left to the finalizer).</summary>
    internal static long LiveOutsideScopes()
    {
        var t = DisposeScopeManager.Statistics.TensorStatistics;
        return t.CreatedOutsideScopeCount + t.DetachedFromScopeCount - t.AttachedToScopeCount - t.DisposedOutsideScopeCount;
    }

    public static IEnumerable<object[]> OptimizerPaths() =>
        OptimizerCatalog.All.SelectMany(e => new[] { new object[] { e.Name, false }, new object[] { e.Name, true } });

    /// <summary>
    /// The README's loop without a dispose scope around it (<c>zero_grad()</c>, backward, <c>step()</c>), twice, on a
    /// hidden matrix, a conv kernel, an embedding, a head and a bias (every routing rule): construction, both steps
    /// (the first creates the state) and <c>Dispose</c> leave no tensor outside a scope. The loss is computed by the
    /// test inside its own scope, so only the optimizer's tensors are counted.
    /// </summary>
    [Theory]
    [MemberData(nameof(OptimizerPaths))]
    public void OptimizerStepsLeaveNoTensorToTheFinalizer(string name, bool portable)
    {
        var entry = OptimizerCatalog.Get(name);
        var generator = new Generator(11);
        var named = new List<(string Name, Parameter Parameter)>
        {
            ("fc0.weight", new Parameter(randn(new long[] { 12, 8 }, generator: generator))),
            ("conv.weight", new Parameter(randn(new long[] { 4, 2, 3, 3 }, generator: generator))),
            ("wte.weight", new Parameter(randn(new long[] { 10, 8 }, generator: generator))),
            ("head.weight", new Parameter(randn(new long[] { 5, 12 }, generator: generator))),
            ("fc0.bias", new Parameter(randn(new long[] { 12 }, generator: generator))),
        };
        var targets = named.Select(x => randn(x.Parameter.shape, generator: generator)).ToList();
        try
        {
            long before = LiveOutsideScopes();
            var opt = entry.Create(named, new Dictionary<string, double>());
            if (portable) opt.Path = ExecutionPath.Portable;
            long constructed = LiveOutsideScopes() - before;
            var afterStep = new long[2];
            for (int i = 0; i < 2; i++)
            {
                opt.zero_grad();
                using (NewDisposeScope())
                {
                    using var s = new ScalarHold();
                    Tensor loss = zeros(1);
                    for (int k = 0; k < named.Count; k++)
                        loss = loss.add(named[k].Parameter.tanh().mul(targets[k]).sum(), s[1]);
                    loss.backward();
                }
                opt.step();
                afterStep[i] = LiveOutsideScopes() - before;
            }
            opt.Dispose();
            long left = LiveOutsideScopes() - before;
            Assert.True(left == 0,
                $"{name} ({(portable ? "portable" : "auto")} path): {left} tensor(s) left to the finalizer; outside scopes after construction {constructed}, after step 1 {afterStep[0]}, after step 2 {afterStep[1]}");
        }
        finally
        {
            foreach (var t in targets) t.Dispose();
            foreach (var (_, p) in named) p.Dispose();
        }
    }

    /// <summary>Every model of SharpOptim.Tasks (and the library's PCLinear layer) called outside any dispose scope:
    /// its forward keeps its intermediates in its own scope, so disposing the output leaves nothing behind.</summary>
    [Fact]
    public void TaskModelsForwardLeavesNoTensorToTheFinalizer()
    {
        var findings = new List<string>();
        manual_seed(5);
        using (var mlp = new Mlp(6, 8, 8, 3))
        using (var x = randn(4, 6))
            Check(findings, "Mlp.forward", () => mlp.forward(x));
        using (var cnn = new SmallCnn(10))
        using (var x = randn(2, 784))
            Check(findings, "SmallCnn.forward", () => cnn.forward(x));
        using (var lm = new CharTransformer(vocabulary: 11, blockSize: 8, dim: 16, heads: 2, layers: 2))
        using (var tokens = randint(0, 11, new long[] { 3, 6 }))
        using (var positions = randint(0, 8, new long[] { 6 }))
        {
            Check(findings, "CharTransformer.forward", () => lm.forward(tokens));
            Check(findings, "CharTransformer.Forward", () => lm.Forward(tokens, positions, CausalAttention.Instance));
            Check(findings, "CharTransformer.Hidden", () => lm.Hidden(tokens, positions, CausalAttention.Instance));
        }
        using (var pc = new PCLinear(6, 5, level: 2))
        using (var x = randn(4, 6))
        {
            Check(findings, "PCLinear.forward", () => pc.forward(x));
            Check(findings, "PCLinear.EffectiveWeight", () => pc.EffectiveWeight());
        }
        Assert.True(findings.Count == 0, "Tensors left to the finalizer:\n" + string.Join("\n", findings));
    }

    /// <summary>The training utilities called outside any dispose scope on a model with gradients.</summary>
    [Fact]
    public void TrainingUtilitiesLeaveNoTensorToTheFinalizer()
    {
        var findings = new List<string>();
        var model = TestModels.Regression(3);
        var batch = TestModels.Batch();
        void Backward()
        {
            using var scope = NewDisposeScope();
            TestModels.Loss(model, batch).backward();
        }
        Backward();
        Check(findings, "GradientClipping.ClipByGlobalNorm", () => GradientClipping.ClipByGlobalNorm(model.parameters(), 0.5));
        Check(findings, "GradientClipping.ClipByValue", () => GradientClipping.ClipByValue(model.parameters(), 0.1));
        using (var sgd = new Optimizers.SGD(model.parameters(), lr: 1e-3))
            Check(findings, "TensorBoardLog.GradientNorm", () => TensorBoardLog.GradientNorm(sgd));
        Check(findings, "Lookahead + SGD (2 steps) + GradientAccumulation", () =>
        {
            using var inner = new Optimizers.SGD(model.parameters(), lr: 1e-3, momentum: 0.9);
            using var lookahead = new Lookahead(inner, k: 2, alpha: 0.5);
            var accumulation = new GradientAccumulation(lookahead, 2);
            for (int i = 0; i < 4; i++)
            {
                using var scope = NewDisposeScope();
                accumulation.Backward(TestModels.Loss(model, batch));
            }
        });
        Check(findings, "ExponentialMovingAverage", () =>
        {
            using var ema = new ExponentialMovingAverage(model.named_parameters(), decay: 0.9);
            ema.Update();
            using (ema.SwapIn()) { }
        });
        model.Dispose();
        batch.X.Dispose();
        batch.Y.Dispose();
        Assert.True(findings.Count == 0, "Tensors left to the finalizer:\n" + string.Join("\n", findings));
    }

    /// <summary>Every balancer of the multi-task benchmark (and fixed weights), in each mode it supports, called
    /// outside any dispose scope on losses the test built: <c>Backward</c> leaves no tensor outside a scope.</summary>
    [Fact]
    public void GradientBalancersLeaveNoTensorToTheFinalizer()
    {
        var findings = new List<string>();
        manual_seed(8);
        using var trunk = nn.Linear(4, 6);
        using var head0 = nn.Linear(6, 1);
        using var head1 = nn.Linear(6, 1);
        using var x = randn(5, 4);
        IReadOnlyList<Tensor> Heads(Tensor z)
        {
            using var s = new ScalarHold();
            using var o0 = head0.forward(z);
            using var o1 = head1.forward(z);
            using var squared = o0.pow(s[2]);
            using var bounded = o1.tanh();
            return new[] { squared.mean(), bounded.mean() };
        }
        var shared = trunk.parameters().Cast<Tensor>().ToList();
        foreach (var name in MultiTaskBalancers.Names.Append("fixed"))
        {
            var balancer = name == "fixed" ? new FixedWeights(new[] { 0.3, 0.7 }) : MultiTaskBalancers.Create(name, 2);
            foreach (var mode in new[] { BalancingMode.SharedParameters, BalancingMode.SharedRepresentation })
            {
                if (mode == BalancingMode.SharedParameters ? !balancer.SupportsSharedParameters : !balancer.SupportsSharedRepresentation) continue;
                trunk.zero_grad();
                // The test's own forward, outside any scope (so that Backward runs outside one too), held and disposed.
                using var linear = trunk.forward(x);
                using var z = nn.functional.relu(linear);
                var losses = Heads(z);
                long before = LiveOutsideScopes();
                if (mode == BalancingMode.SharedParameters) balancer.Backward(losses, shared);
                else balancer.Backward(z, Heads);
                long left = LiveOutsideScopes() - before;
                foreach (var l in losses) l.Dispose();
                if (left != 0) findings.Add($"{name} ({mode}): {left}");
            }
        }
        Assert.True(findings.Count == 0, "Tensors left to the finalizer:\n" + string.Join("\n", findings));
    }

    /// <summary>
    /// The gradient-free steppers called outside any dispose scope, with fitness and loss closures that hold their own
    /// tensors: after a first step (which may create state kept for the run), one more step leaves no tensor outside a
    /// scope beyond what it returns (disposed here). MeZO, OpenAI-ES and CBO keep their state between steps, so the
    /// count is taken over the second step.
    /// </summary>
    [Fact]
    public void GradientFreeStepsLeaveNoTensorToTheFinalizer()
    {
        var findings = new List<string>();
        manual_seed(21);
        using var model = new Mlp(5, 7, 3);
        using var x = randn(9, 5);
        using var y = randint(0, 3, new long[] { 9 });
        Tensor Loss()
        {
            using var logits = model.forward(x);
            return nn.functional.cross_entropy(logits, y);
        }
        double Fitness(int member)
        {
            using var scope = NewDisposeScope();
            return -Loss().item<float>();
        }
        using (var mezo = new MeZO(model.named_parameters(), lr: 0.01, epsilon: 1e-3, seed: 4))
        {
            using (mezo.step(Loss)) { }
            Check(findings, "MeZO.step", () => mezo.step(Loss));
        }
        using (var inner = new Optimizers.SGD(model.named_parameters(), 0.1))
        {
            var es = new OpenAIES(model.named_parameters(), inner, 4, 0.05, seed: 6);
            es.Step(Fitness);
            Check(findings, "OpenAIES.Step", () => { es.Step(Fitness); });
        }
        var cbo = new ConsensusBasedOptimization(dimension: 3, particles: 8, particleBatch: 4, seed: 2);
        Tensor Sphere(Tensor particles)
        {
            using var squares = particles.mul(particles);
            return squares.sum(1);
        }
        using (cbo.Step(Sphere)) { }
        Check(findings, "ConsensusBasedOptimization.Step", () => cbo.Step(Sphere));
        Assert.True(findings.Count == 0, "Tensors left to the finalizer:\n" + string.Join("\n", findings));
    }

    private static readonly string[] ShippedAssemblies = { "SharpOptim", "SharpOptim.Tasks", "SharpOptim.Cli" };

    /// <summary>
    /// Reads of <c>.grad</c> used unstored outside a dispose scope (see <see cref="GradWrapperScanner"/>) that are safe,
    /// each with the reason. Keys are "Type.Method" with the compiler's closure and lambda numbers removed.
    /// </summary>
    private static readonly Dictionary<string, string> AllowedGradReads = new()
    {
        ["SharpOptim.Optimizers.AdaGradNorm.BeforeUpdates"] =
            "a protected hook that only OptimizerBase.step calls, inside its dispose scope",
        ["SharpOptim.Optimizers.Lanton.UpdateRates"] =
            "private; called only from Lanton.BeforeUpdates, inside OptimizerBase.step's dispose scope (and only tests .grad for null)",
        ["SharpOptim.MultiTask.TaskGradientBalancer.BackwardSharedParameters"] =
            "a protected hook that only GradientBalancer.Backward calls, inside its dispose scope",
        ["SharpOptim.MultiTask.TaskGradientBalancer+<>c.<BackwardSharedParameters>b__"] =
            "a lambda enumerated (ToArray) inside BackwardSharedParameters, inside GradientBalancer.Backward's dispose scope",
        ["SharpOptim.MultiTask.TaskGradientBalancer.BackwardSharedRepresentation"] =
            "a protected hook that only GradientBalancer.Backward calls, inside its dispose scope",
        ["SharpOptim.MultiTask.TaskGradientBalancer.Restore"] =
            "private; called only from BackwardSharedParameters, inside GradientBalancer.Backward's dispose scope",
        ["SharpOptim.Training.GradientClipping+<>c.<ClipByGlobalNorm>b__"] =
            "a lambda enumerated (ToList) inside ClipByGlobalNorm's dispose scope",
        ["SharpOptim.Distributed.WorkerProblem+<>c.<CopyGradientsTo>b__"] =
            "a lambda enumerated by Flatten inside CopyGradientsTo's dispose scope",
        ["SharpOptim.Tasks.TaskTrainer+<>c.<Train>b__"] =
            "a lambda enumerated (ToList) inside Train's per-step dispose scope",
        ["SharpOptim.Tasks.TaskTrainer+<>c__DisplayClass.<Train>b__"] =
            "a lambda enumerated (ToList) inside Train's per-step dispose scope",
    };

    /// <summary>Every read of <c>.grad</c> in the three shipped assemblies is stored (and disposed) or inside a
    /// dispose scope, or is on the allow-list with its reason; an allow-list entry that no longer occurs fails too.</summary>
    [Fact]
    public void NoShippedCodeUsesAnUnheldGradWrapper()
    {
        var findings = ShippedAssemblies.SelectMany(n => GradWrapperScanner.Scan(Assembly.Load(n).GetTypes())).Select(Normalize).ToList();
        var unexplained = findings.Where(f => !AllowedGradReads.ContainsKey(f)).Distinct().ToList();
        var stale = AllowedGradReads.Keys.Where(k => !findings.Contains(k)).ToList();
        Assert.True(unexplained.Count == 0, "Unheld .grad wrappers outside a dispose scope (hold them with using, or open a scope; README, Compatibility):\n" + string.Join("\n", unexplained));
        Assert.True(stale.Count == 0, "Allow-list entries that no longer occur:\n" + string.Join("\n", stale));
    }

    [Fact]
    public void TheGradScannerFindsEachUnheldForm()
    {
        var findings = GradWrapperScanner.Scan(new[] { typeof(GradViolations) });
        Assert.Contains(findings, f => f.EndsWith(".NullConditional", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.EndsWith(".Receiver", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.EndsWith(".Argument", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.EndsWith(".Coalesce", StringComparison.Ordinal));
        Assert.DoesNotContain(findings, f => f.Contains("Held", StringComparison.Ordinal));
        Assert.Equal(4, findings.Count);
    }

    private static string Normalize(string finding) =>
        Regex.Replace(Regex.Replace(finding, @"<>c__DisplayClass\d+_\d+", "<>c__DisplayClass"), @"b__\d+(_\d+)?", "b__");

    /// <summary>One method per form the scanner reports, and the held forms that must pass.</summary>
    private static class GradViolations
    {
        public static void NullConditional(Tensor p) => p.grad?.zero_();
        public static Tensor Receiver(Tensor p) => p.grad!.reshape(-1);
        public static Tensor Argument(Tensor a, Tensor p) => a.copy_(p.grad!);
        public static Tensor Coalesce(Tensor p, Tensor x) => p.grad ?? x;
        public static void HeldInLocal(Tensor p)
        {
            using var g = p.grad;
            g?.clamp_(GradViolationScalars.Low, GradViolationScalars.High);
        }
        public static void HeldByScope(Tensor p)
        {
            using var scope = NewDisposeScope();
            p.grad?.zero_();
        }
    }

    private static class GradViolationScalars
    {
        public static readonly Scalar Low = (-1.0).ToScalar();
        public static readonly Scalar High = 1.0.ToScalar();
    }

    /// <summary>Runs <paramref name="run"/> outside any scope, disposes what it returns, and records a count above 0.</summary>
    private static void Check(List<string> findings, string what, Func<Tensor> run) => Check(findings, what, () =>
    {
        using var result = run();
    });

    private static void Check<T>(List<string> findings, string what, Func<T> run) where T : struct => Check(findings, what, () => { run(); });

    private static void Check(List<string> findings, string what, Action run)
    {
        long before = LiveOutsideScopes();
        run();
        long left = LiveOutsideScopes() - before;
        if (left != 0) findings.Add($"{what}: {left}");
    }
}
