using SharpOptim.Optimizers;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// A step that throws during its updates changes nothing (OptimizerBase's transaction): every parameter and state
/// tensor is bit-identical to before, the step counts are unchanged, and the next step gives exactly what it would
/// have given had the failed step never run.
/// </summary>
public class TransactionalStepTests
{
    /// <summary>Muon (and its auxiliary Adam) with a failure injected after the k-th parameter's real update.</summary>
    private sealed class FailingMuon(IEnumerable<(string name, Parameter parameter)> ps) : Muon(ps, lr: 0.05, adam_lr: 0.01)
    {
        private int _calls;
        public int FailAfter { get; set; } = -1;

        protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
        {
            base.PortableUpdate(options, p, g, state);
            if (_calls++ == FailAfter) throw new InvalidOperationException($"injected failure after updating '{state.Name}'");
        }

        public void ResetCalls() => _calls = 0;
    }

    private static List<(string, Parameter)> Model(int seed)
    {
        manual_seed(seed);
        return new() { ("w0", new Parameter(randn(6, 4))), ("b0", new Parameter(randn(6))), ("w1", new Parameter(randn(3, 6))), ("b1", new Parameter(randn(3))) };
    }

    private static void Grads(List<(string, Parameter)> ps, int seed)
    {
        var gen = new Generator((ulong)seed);
        foreach (var (_, p) in ps) p.grad = randn(p.shape, generator: gen);
    }

    [Theory]
    [InlineData(0)]   // after the first Muon matrix
    [InlineData(1)]   // after both matrices
    [InlineData(2)]   // after the matrices and the first Adam vector
    public void AFailedStepChangesNothingAndTheNextStepIsAsIfItNeverRan(int failAfter)
    {
        var ps = Model(1);
        var reference = Model(1);
        using var opt = new FailingMuon(ps);
        using var refOpt = new FailingMuon(reference);
        Grads(ps, 10); Grads(reference, 10);
        opt.step(); refOpt.step();   // state exists
        Grads(ps, 11); Grads(reference, 11);

        var before = Bits.Of(ps.Select(x => (Tensor)x.Item2));
        var state = Bits.State(opt);
        opt.FailAfter = failAfter;
        opt.ResetCalls();
        var e = Assert.Throws<InvalidOperationException>(() => opt.step());
        Assert.Contains("injected failure", e.Message);
        Bits.Equal(before, Bits.Of(ps.Select(x => (Tensor)x.Item2)), "parameters after the failed step");
        Bits.Equal(state, Bits.State(opt), "state after the failed step");
        Assert.Equal(1, opt.StepCount);
        Assert.All(opt.States, s => Assert.Equal(1, s.Step));

        opt.FailAfter = -1;
        opt.step();
        refOpt.step();
        Bits.Equal(Bits.Of(reference.Select(x => (Tensor)x.Item2)), Bits.Of(ps.Select(x => (Tensor)x.Item2)), "parameters after the next step");
        Bits.Equal(Bits.State(refOpt), Bits.State(opt), "state after the next step");
        Assert.Equal(2, opt.StepCount);
    }

    [Fact]
    public void AFailureOnTheFirstStepLeavesTheStateUncreated()
    {
        var ps = Model(2);
        using var opt = new FailingMuon(ps) { FailAfter = 2 };
        Grads(ps, 3);
        var before = Bits.Of(ps.Select(x => (Tensor)x.Item2));
        Assert.Throws<InvalidOperationException>(() => opt.step());
        Bits.Equal(before, Bits.Of(ps.Select(x => (Tensor)x.Item2)), "parameters");
        Assert.All(opt.States, s => Assert.False(s.IsInitialized));
        Assert.Equal(0, opt.StateBytes);
        Assert.Equal(0, opt.StepCount);
    }

    [Fact]
    public void WithoutTheTransactionAFailureLeavesTheStepPartlyApplied()
    {
        // The opt-out is real: the first matrix moved, the others did not.
        var ps = Model(4);
        using var opt = new FailingMuon(ps) { TransactionalSteps = false };
        Grads(ps, 5);
        opt.step();
        Grads(ps, 6);
        var before = Bits.Of(ps.Select(x => (Tensor)x.Item2));
        opt.FailAfter = 0;
        opt.ResetCalls();
        Assert.Throws<InvalidOperationException>(() => opt.step());
        var after = Bits.Of(ps.Select(x => (Tensor)x.Item2));
        Assert.False(before[0].AsSpan().SequenceEqual(after[0]));
        Assert.True(before[2].AsSpan().SequenceEqual(after[2]));
    }

    /// <summary>An optimizer with a fused path whose portable update fails on a named parameter.</summary>
    private sealed class Probe : OptimizerBase
    {
        public Probe(IEnumerable<(string name, Parameter parameter)> ps) : this(SingleGroup(ps)) { }
        private Probe((ParamGroup[] Groups, Dictionary<Parameter, string> Names) g) : base(g.Groups, new ProbeOptions { LearningRate = 0.5 }, g.Names) { }

        public string? FailOn { get; set; }
        public List<string> Order { get; } = new();

        protected override void InitializeState(OptionsBase options, Parameter parameter, ParameterState state) => state.AddZeros("buf");

        protected override void PortableUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
        {
            Order.Add("portable " + state.Name);
            Apply(options, p, g, state);
        }

        private void Apply(OptionsBase options, Parameter p, Tensor g, ParameterState state)
        {
            using var s = new ScalarHold();
            state["buf"].add_(g, s[1]);
            p.add_(state["buf"], s[-options.LearningRate!.Value]);
            state.Step++;
            if (state.Name == FailOn) throw new InvalidOperationException($"injected failure in '{state.Name}'");
        }

        protected override void FusedUpdate(OptionsBase options, Parameter p, Tensor g, ParameterState state)
        {
            Order.Add("fused " + state.Name);
            Apply(options, p, g, state);
        }
    }

    private sealed class ProbeOptions : OptionsBase { }

    [Fact]
    public void FusedParametersAreUpdatedAfterThePortableOnesSoAPortableFailureReachesNone()
    {
        var a = new Parameter(randn(5));                                 // float32, contiguous: fused
        var b = new Parameter(randn(5, dtype: ScalarType.Float64));     // float64: portable
        var c = new Parameter(randn(4, 3).t());                          // non-contiguous: portable
        using var opt = new Probe(new[] { ("a", a), ("b", b), ("c", c) });
        foreach (var p in new[] { a, b, c }) p.grad = ones_like(p);
        opt.step();
        Assert.Equal(new[] { "portable b", "portable c", "fused a" }, opt.Order);
        var before = Bits.Of(new Tensor[] { a, b, c });
        var state = Bits.State(opt);
        opt.FailOn = "c";
        var e = Assert.Throws<InvalidOperationException>(() => opt.step());
        Assert.Contains("'c'", e.Message);
        Bits.Equal(before, Bits.Of(new Tensor[] { a, b, c }), "parameters");
        Bits.Equal(state, Bits.State(opt), "state");
        Assert.Equal(1, opt.StepCount);
    }
}
