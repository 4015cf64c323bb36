using SharpOptim.Optimizers;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>The bugs the fuzz matrix found (issue 18, item 4), each pinned by a direct test.</summary>
public class FuzzFoundBugTests
{
    // ---- AuON / Hybrid-AuON: every floating dtype and 0-dim parameters ----

    public static IEnumerable<object[]> AuonDtypes() =>
        from hybrid in new[] { false, true }
        from dtype in new[] { ScalarType.Float64, ScalarType.Float16, ScalarType.BFloat16 }
        select new object[] { hybrid, dtype };

    /// <summary>Two steps in each dtype agree with the float32 run to the dtype's precision (float64: the float32
    /// run's own rounding, 1e-5 relative; half types: their 8- and 11-bit mantissas, 2e-2 and 4e-3 of the update).</summary>
    [Theory]
    [MemberData(nameof(AuonDtypes))]
    public void AuonStepsInEveryFloatingDtype(bool hybrid, ScalarType dtype)
    {
        manual_seed(7);
        var w32 = randn(5, 4);
        var g1 = randn(5, 4);
        var g2 = randn(5, 4);
        float[] Run(ScalarType t)
        {
            using var p = new Parameter(w32.to_type(t).clone());   // clone: to_type(Float32) would share w32
            using var opt = hybrid ? AuON.Hybrid(new[] { p }, lr: 0.1) : new AuON(new[] { p }, lr: 0.1);
            p.grad = g1.to_type(t);
            opt.step();
            p.grad = g2.to_type(t);
            opt.step();
            Assert.Equal(t, opt.States.Single()["momentum_buffer"].dtype);
            return p.to_type(ScalarType.Float32).data<float>().ToArray();
        }
        var expected = Run(ScalarType.Float32);
        var actual = Run(dtype);
        var start = w32.data<float>().ToArray();
        double tol = dtype switch { ScalarType.Float64 => 1e-5, ScalarType.BFloat16 => 2e-2, _ => 4e-3 };
        for (int i = 0; i < expected.Length; i++)
        {
            // The update moved each entry (by up to ~0.2); the dtype's rounding of the start value is part of the error.
            double scale = Math.Abs(expected[i] - start[i]) + Math.Abs(start[i]);
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol * scale + 1e-6, $"entry {i}: {actual[i]} vs float32 {expected[i]} ({dtype})");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AuonOnAScalarParameterFollowsTheOfficialUpdate(bool hybrid)
    {
        // For a 0-dim G the official code's brake is r = √(cosh(γ·G/(|G|+1e-7))²) = cosh(γ) (up to 1e-7), so
        // θ ← θ − lr·G/(cosh(γ)+1e-8), with G = g + β(m − g) and m = (1 − β)g on the first step.
        using var p = new Parameter(tensor(2.0, dtype: ScalarType.Float64));
        using var opt = hybrid ? AuON.Hybrid(new[] { p }, lr: 0.1) : new AuON(new[] { p }, lr: 0.1);
        p.grad = tensor(-3.0, dtype: ScalarType.Float64);
        opt.step();
        double g = -3, m = 0.05 * g, G = g + 0.95 * (m - g);
        double expected = 2 - 0.1 * G / (Math.Cosh(1.5 * G / (Math.Abs(G) + 1e-7)) + 1e-8);
        Assert.Equal(expected, p.item<double>(), 12);
    }

    // ---- MoFO: float64/float16/bfloat16 and non-contiguous parameters ----

    [Theory]
    [InlineData(ScalarType.Float64)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void MofoStepsInEveryFloatingDtype(ScalarType dtype)
    {
        manual_seed(3);
        using var p = new Parameter(randn(8, 5).to_type(dtype));
        var start = Bits.Of(p);
        // eps 1e-3 is representable in every dtype (the default 1e-8 rounds to 0 in float16 and is refused there).
        using var opt = new MoFO(new[] { ("w", p) }, lr: 1e-2, eps: 1e-3, fraction: 0.25);
        p.grad = randn(8, 5).to_type(dtype);
        opt.step();
        // ⌊0.25·40⌋ = 10 entries move (ties aside): the rest keep their bits (weight decay is 0.1·lr = 1e-3 relative, so
        // compare against the decayed start where decay applies to every entry).
        Assert.True(p.isfinite().all().item<bool>());
        Assert.False(start.AsSpan().SequenceEqual(Bits.Of(p)));
    }

    [Fact]
    public void MofoOnANonContiguousParameterMatchesTheContiguousRun()
    {
        manual_seed(4);
        var data = randn(6, 5);
        var grad = randn(5, 6);
        using var strided = new Parameter(data.t());                // [5, 6], not contiguous
        using var dense = new Parameter(data.t().contiguous());
        Assert.False(strided.is_contiguous());
        using var o1 = new MoFO(new[] { ("w", strided) }, lr: 1e-2, fraction: 0.2);
        using var o2 = new MoFO(new[] { ("w", dense) }, lr: 1e-2, fraction: 0.2);
        strided.grad = grad.clone();
        dense.grad = grad.clone();
        o1.step();
        o2.step();
        Assert.Equal(Bits.Of(dense), Bits.Of(strided));
    }

    // ---- Zero-element parameters: skipped, no state, no libtorch error ----

    public static IEnumerable<object[]> ZeroElementOptimizers() =>
        new[] { "mofo", "galore", "frugal", "adam-mini", "lanton", "adamw", "muon" }.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(ZeroElementOptimizers))]
    public void ZeroElementParametersAreSkipped(string name)
    {
        manual_seed(5);
        using var w = new Parameter(randn(4, 3));
        using var empty = new Parameter(zeros(0, 4));
        using var emptyVector = new Parameter(zeros(0));
        using var opt = OptimizerCatalog.Get(name).Create(new[] { ("l0.weight", w), ("l1.weight", empty), ("l1.bias", emptyVector) }, new Dictionary<string, double>());
        for (int step = 0; step < 3; step++)
        {
            w.grad = randn(4, 3);
            empty.grad = zeros(0, 4);
            emptyVector.grad = zeros(0);
            opt.step();
        }
        Assert.Equal(3, opt.StepCount);
        foreach (var s in opt.States)
        {
            if (s.Parameter.NumberOfElements == 0)
            {
                Assert.False(s.IsInitialized);
                Assert.Empty(s.Tensors);
            }
            foreach (var kv in s.Tensors) Assert.False(kv.Value.isnan().any().item<bool>(), $"{s.Name}.{kv.Key} holds NaN");
        }
        Assert.True(w.isfinite().all().item<bool>());
    }

    // ---- Hyperparameters the parameter's dtype cannot hold ----

    [Theory]
    [InlineData(ExecutionPath.Auto)]
    [InlineData(ExecutionPath.Portable)]
    public void AnLrWhoseBiasCorrectedStepOverflowsFloat32IsRefusedBeforeAnyWrite(ExecutionPath path)
    {
        // lr = 1e38 is a finite float32, but the step lr / (1 − 0.9) = 1e39 is not: the portable path used to throw
        // a libtorch error mid-step and the fused path to write infinities.
        using var a = new Parameter(randn(4, 3));
        using var b = new Parameter(randn(3));
        using var opt = new Optimizers.Adam(new[] { ("a", a), ("b", b) }, lr: 1e38) { Path = path };
        a.grad = randn(4, 3);
        b.grad = randn(3);
        var before = Bits.Of(new Tensor[] { a, b });
        var e = Assert.Throws<ArgumentException>(() => opt.step());
        Assert.Contains("lr", e.Message);
        Assert.Contains("E+39", e.Message);
        Assert.Contains("Float32", e.Message);
        Assert.Contains("'a'", e.Message);
        Bits.Equal(before, Bits.Of(new Tensor[] { a, b }), "parameters");
        Assert.Equal(0, opt.StateBytes);
        Assert.Equal(0, opt.StepCount);
    }

    [Fact]
    public void AnLrAboveFloat16sLargestValueIsRefusedNamingItAndTheDtype()
    {
        using var p = new Parameter(randn(4).to_type(ScalarType.Float16));
        using var opt = new Optimizers.SGD(new[] { p }, lr: 7e4);
        p.grad = randn(4).to_type(ScalarType.Float16);
        var before = Bits.Of(p);
        var e = Assert.Throws<ArgumentException>(() => opt.step());
        Assert.Contains("lr = 70000", e.Message);
        Assert.Contains("Float16", e.Message);
        Assert.Contains("65504", e.Message);
        Assert.Equal(before, Bits.Of(p));
    }

    [Fact]
    public void AnEpsThatRoundsToZeroInFloat16IsRefused()
    {
        // 1e-8 is 0 in float16: the division by √v + ε became 0/0 = NaN wherever a squared gradient underflowed.
        using var p = new Parameter(randn(4).to_type(ScalarType.Float16));
        using var opt = new Optimizers.AdamW(new[] { p }, eps: 1e-8);
        p.grad = randn(4).to_type(ScalarType.Float16);
        var e = Assert.Throws<ArgumentException>(() => opt.step());
        Assert.Contains("eps = 1E-08", e.Message);
        Assert.Contains("Float16", e.Message);
        using var held = new ScalarHold();
        using var q = new Parameter(full(4, held[1.0], dtype: ScalarType.Float16));
        using var ok = new Optimizers.AdamW(new[] { q }, lr: 0.01, eps: 1e-4);
        q.grad = full(4, held[1e-4], dtype: ScalarType.Float16);   // its square (1e-8) underflows to 0 in float16
        ok.step();
        Assert.True(q.isfinite().all().item<bool>());
    }

    // ---- Newton–Schulz on float16 gradients whose squares underflow ----

    [Fact]
    public void NewtonSchulzOfASmallFloat16GradientIsFiniteAndMatchesFloat32()
    {
        // Entries near 1e-4 square to below float16's smallest value: the norm used to be 0, X = G / 1e-7 had entries
        // near 1e3 and the first X·Xᵀ overflowed (fuzz case "drop-muon f16-2d tiny").
        manual_seed(8);
        using var held = new ScalarHold();
        var g = randn(5, 4).mul(held[1e-4]);
        using var half = NewtonSchulz.Orthogonalize(g.to_type(ScalarType.Float16)).to_type(ScalarType.Float32);
        using var single = NewtonSchulz.Orthogonalize(g);
        Assert.True(half.isfinite().all().item<bool>());
        // Five iterations in float16 (11-bit mantissa) on entries of size ≤ 1.2: agreement to 2e-2 absolute.
        var (h, f) = (half.data<float>().ToArray(), single.data<float>().ToArray());
        for (int i = 0; i < h.Length; i++) Assert.True(Math.Abs(h[i] - f[i]) <= 2e-2, $"entry {i}: {h[i]} vs float32 {f[i]}");
    }

    // ---- Muon, Drop-Muon and LANTON name their auxiliary Adam options as the constructors take them ----

    [Fact]
    public void AuxiliaryAdamErrorsNameTheConstructorArguments()
    {
        using var w = new Parameter(randn(4, 3));
        using var b = new Parameter(randn(4));
        var named = new[] { ("l0.weight", w), ("l0.bias", b) };
        void Named(Func<object> make, string option)
        {
            var e = Assert.Throws<ArgumentException>(() => { make(); });
            Assert.Contains("Invalid " + option + ":", e.Message);
            Assert.Equal(option, e.ParamName);
        }
        Named(() => new Muon(named, adam_lr: -1), "adam_lr");
        Named(() => new Muon(named, adam_weight_decay: -1), "adam_weight_decay");
        Named(() => new Muon(named, adam_beta1: double.NaN), "adam_beta1");
        Named(() => new Muon(named, adam_beta2: 2), "adam_beta2");
        Named(() => new Muon(named, adam_eps: -1), "adam_eps");
        var layers = DropMuon.ByModule(named);
        Named(() => new DropMuon(layers, adam_lr: -1), "adam_lr");
        Named(() => new DropMuon(layers, adam_beta1: 1), "adam_beta1");
        Named(() => new DropMuon(layers, adam_eps: double.NaN), "adam_eps");
        Named(() => new Lanton(named, adam_lr: -1), "adam_lr");
        Named(() => new Lanton(named, adam_beta2: -0.5), "adam_beta2");
        Named(() => new Lanton(named, adam_eps: -1), "adam_eps");
    }
}
