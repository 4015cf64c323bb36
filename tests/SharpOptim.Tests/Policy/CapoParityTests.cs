using System.Text.Json;
using SharpOptim.Policy;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// CAPO against tools/golden/policy_capo.py (PyTorch 1.13, float64, written from the brief's restatement of the official
/// code). The script itself asserts that the curvature H equals autograd's second derivative of A·π_{W+tD}(a)/π_W(a) at
/// t = 0 (and ⟨G, D⟩ the first), and that the shadow-Adam direction equals the step torch.optim.Adam takes on W alone
/// after the same gradient history. Here, for Adam/SGD models, symmetric/one-sided clipping, with and without a prior
/// shadow state: per-token ⟨G, D⟩, H, ΔJ, ΔKL (1e-12 relative to the array's largest value), the mask (exact), the loss
/// and ∂L/∂ℓ (1e-12), and the shadow state after the update (1e-12).
/// </summary>
public class CapoParityTests
{
    private static double[] D(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetDouble()).ToArray();

    private static void AssertArray(double[] expected, Tensor actual, string what)
    {
        var a = actual.detach().to(ScalarType.Float64).reshape(-1).data<double>().ToArray();
        Assert.Equal(expected.Length, a.Length);
        double scale = Math.Max(expected.Max(Math.Abs), 1e-300);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(expected[i] - a[i]) <= 1e-12 * scale, FormattableString.Invariant($"{what}[{i}]: expected {expected[i]:R}, got {a[i]:R}"));
    }

    [Fact]
    public void TokenEffectsMaskLossGradientAndShadowStateMatchPyTorch()
    {
        using var doc = Golden.Load("policy_capo.json");
        var r = doc.RootElement;
        long n = r.GetProperty("n").GetInt64(), l = r.GetProperty("length").GetInt64();
        long v = r.GetProperty("vocabulary").GetInt64(), h = r.GetProperty("hidden_size").GetInt64();
        Tensor T(string name, params long[] shape) => tensor(D(r, name), dtype: ScalarType.Float64).reshape(shape);
        var hidden = T("hidden", n, l, h);
        var weight = T("weight", v, h);
        var tokens = tensor(r.GetProperty("tokens").Longs(), dtype: ScalarType.Int64).reshape(n, l);
        var mask = T("mask", n, l);
        var old = T("logp_old", n, l);
        double lr = r.GetProperty("lr").GetDouble();
        var uid = r.GetProperty("uid").Longs();
        var adv = Capo.Advantages(D(r, "rewards"), uid);
        var expectedAdv = D(r, "advantages");
        for (int i = 0; i < adv.Length; i++) Assert.Equal(expectedAdv[i], adv[i], 15);
        int cases = 0;
        foreach (var c in r.GetProperty("cases").EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            using var shadow = new CapoShadowAdam(r.GetProperty("beta1").GetDouble(), r.GetProperty("beta2").GetDouble(), r.GetProperty("eps").GetDouble());
            if (c.GetProperty("with_state").GetBoolean()) shadow.Load(T("m", v, h), T("v", v, h), r.GetProperty("step").GetInt64());
            var options = new CapoOptions
            {
                AdamModel = c.GetProperty("adam").GetBoolean(), Symmetric = c.GetProperty("symmetric").GetBoolean(),
                TauHessian = c.GetProperty("tau_h").GetDouble(), TauFisher = c.GetProperty("tau_f").GetDouble(),
                Beta1 = shadow.Beta1, Beta2 = shadow.Beta2, Epsilon = shadow.Epsilon, Clip = r.GetProperty("clip").GetDouble(),
            };
            using var e = Capo.TokenEffects(hidden, weight, tokens, mask, adv, lr, shadow, options);
            AssertArray(D(c, "first_order"), e.FirstOrder, name + " <G,D>");
            AssertArray(D(c, "curvature"), e.Curvature, name + " H");
            AssertArray(D(c, "delta_j"), e.DeltaJ, name + " dJ");
            AssertArray(D(c, "delta_kl"), e.DeltaKl, name + " dKL");
            Assert.Equal(D(c, "keep"), e.Keep.reshape(-1).data<double>().ToArray());
            Assert.Equal((long)c.GetProperty("kept").GetDouble(), e.Kept);
            Assert.InRange(e.Kept, 1, e.Tokens - 1);   // the fixture's thresholds mask some tokens and keep some

            var logp = T("logp", n, l).requires_grad_(true);
            var loss = Capo.Loss(logp, old, mask, e.Keep, adv, options);
            double expectedLoss = c.GetProperty("loss").GetDouble();
            Assert.True(Math.Abs(loss.item<double>() - expectedLoss) <= 1e-12 * Math.Max(1, Math.Abs(expectedLoss)), $"{name} loss {loss.item<double>():R} vs {expectedLoss:R}");
            loss.backward();
            AssertArray(D(c, "grad"), logp.grad!, name + " dL/dl");

            shadow.Update(e.MeanGradient!);
            Assert.Equal(c.GetProperty("step_after").GetInt64(), shadow.Step);
            AssertArray(D(c, "m_after"), shadow.FirstMoment!, name + " m");
            AssertArray(D(c, "v_after"), shadow.SecondMoment!, name + " v");
            cases++;
        }
        Assert.Equal(4, cases);
    }
}
