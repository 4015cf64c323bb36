using System.Text.Json;
using SharpOptim.Policy;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// The PPO-style actor-critic's pure pieces against tools/golden/policy_ppo.py (PyTorch 1.13, float64, written from
/// the PPO and GAE papers and verl's core_algos behaviour): outcome token rewards (with and without the k1 KL penalty),
/// token-level GAE and returns over five (γ, λ, whitening) settings including λ = 0, γ = 0 and γ = λ = 1, then the
/// clipped policy loss (three clip / dual-clip settings, ratios from 0.39 to 2.89 so both clips bind) and the clipped value
/// loss (three value clips) with their gradients w.r.t. ℓ and v. Inputs: 6 completions of lengths 5, 3, 1, 4, 5, 2 (right
/// padded). Tolerance 1e-12 relative to the largest entry (float64).
/// </summary>
public class PpoParityTests
{
    private static void AssertClose(double expected, double actual, double scale, string what)
    {
        double tol = 1e-12 * Math.Max(Math.Abs(expected), Math.Max(scale, 1e-3));
        Assert.True(Math.Abs(expected - actual) <= tol, FormattableString.Invariant($"{what}: expected {expected:R}, got {actual:R} (diff {Math.Abs(expected - actual):E2}, tol {tol:E2})"));
    }

    private static void AssertAll(JsonElement expected, Tensor actual, string what)
    {
        var e = expected.EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var a = actual.detach().contiguous().reshape(-1).data<double>().ToArray();
        Assert.Equal(e.Length, a.Length);
        double scale = e.Max(Math.Abs);
        for (int i = 0; i < e.Length; i++) AssertClose(e[i], a[i], scale, FormattableString.Invariant($"{what}[{i}]"));
    }

    [Fact]
    public void RewardsGaeAndBothLossesMatchTheReference()
    {
        using var doc = Golden.Load("policy_ppo.json");
        var r = doc.RootElement;
        long n = r.GetProperty("n").GetInt64(), l = r.GetProperty("length").GetInt64();
        Tensor T(string name) => tensor(r.GetProperty(name).EnumerateArray().Select(x => x.GetDouble()).ToArray(), dtype: ScalarType.Float64).reshape(n, l);
        var mask = T("mask");
        var logp = T("logp");
        var old = T("logp_old");
        var reference = T("logp_ref");
        var values = T("values");
        var oldValues = T("values_old");
        var rewards = r.GetProperty("rewards").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        int policyCases = 0, valueCases = 0;
        foreach (var c in r.GetProperty("cases").EnumerateArray())
        {
            var options = new PpoOptions
            {
                Gamma = c.GetProperty("gamma").GetDouble(), Lambda = c.GetProperty("lam").GetDouble(),
                KlCoefficient = c.GetProperty("kl").GetDouble(), WhitenAdvantages = c.GetProperty("whiten").GetBoolean(),
            };
            string name = FormattableString.Invariant($"γ {options.Gamma} λ {options.Lambda} β {options.KlCoefficient} whiten {options.WhitenAdvantages}");
            var tokenRewards = Ppo.TokenRewards(rewards, mask, old, reference, options.KlCoefficient);
            AssertAll(c.GetProperty("token_rewards"), tokenRewards, name + " token rewards");
            var (advantages, returns) = Ppo.Gae(tokenRewards, oldValues, mask, options);
            AssertAll(c.GetProperty("advantages"), advantages, name + " advantages");
            AssertAll(c.GetProperty("returns"), returns, name + " returns");
            foreach (var p in c.GetProperty("policy").EnumerateArray())
            {
                var dual = p.GetProperty("dual_clip");
                var po = options with
                {
                    ClipLow = p.GetProperty("clip_low").GetDouble(), ClipHigh = p.GetProperty("clip_high").GetDouble(),
                    DualClip = dual.ValueKind == JsonValueKind.String ? double.NaN : dual.GetDouble(),
                };
                var lp = logp.clone().requires_grad_(true);
                var loss = Ppo.PolicyLoss(lp, old, advantages, mask, po);
                loss.backward();
                AssertClose(p.GetProperty("loss").GetDouble(), loss.item<double>(), 1e-3, name + " policy loss");
                AssertAll(p.GetProperty("grad"), lp.grad!, FormattableString.Invariant($"{name} clip [{po.ClipLow}, {po.ClipHigh}] dual {po.DualClip} ∂L/∂ℓ"));
                policyCases++;
            }
            foreach (var v in c.GetProperty("value").EnumerateArray())
            {
                var vo = options with { ValueClip = v.GetProperty("clip").GetDouble() };
                var vp = values.clone().requires_grad_(true);
                var loss = Ppo.ValueLoss(vp, oldValues, returns, mask, vo);
                loss.backward();
                AssertClose(v.GetProperty("loss").GetDouble(), loss.item<double>(), 1e-3, name + " value loss");
                AssertAll(v.GetProperty("grad"), vp.grad!, FormattableString.Invariant($"{name} value clip {vo.ValueClip} ∂L/∂v"));
                valueCases++;
            }
        }
        Assert.Equal(15, policyCases);
        Assert.Equal(15, valueCases);
    }
}
