using System.Text.Json;
using SharpOptim.Policy;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// Every policy loss and its gradient ∂L/∂ℓ against tools/golden/policy_losses.py (PyTorch 1.13, float64, written from
/// the brief's restatement of the official code): REINFORCE × 3 baselines × 3 aggregations, ReMax plain and
/// official-shaped, GRPO × 3 aggregations × clip / dual-clip / KL settings (including a zero-variance group, clipping on
/// both sides, unequal lengths), DisCO and DisCO-b × both scores × both KL types. Tolerance 1e-12 relative (float64).
/// </summary>
public class PolicyLossParityTests
{
    private sealed class Fixture
    {
        public required Tensor LogP, Old, Ref, Mask;
        public required long[] Uid;
        public required Dictionary<string, double[]> Rewards;
        public required int MaxLength;
        public required JsonElement Cases;
    }

    private static Fixture Load(JsonDocument doc)
    {
        var r = doc.RootElement;
        long n = r.GetProperty("n").GetInt64(), l = r.GetProperty("length").GetInt64();
        Tensor T(string name) => tensor(r.GetProperty(name).EnumerateArray().Select(x => x.GetDouble()).ToArray(), dtype: ScalarType.Float64).reshape(n, l);
        double[] D(string name) => r.GetProperty(name).EnumerateArray().Select(x => x.GetDouble()).ToArray();
        return new Fixture
        {
            LogP = T("logp"), Old = T("logp_old"), Ref = T("logp_ref"), Mask = T("mask"), Uid = r.GetProperty("uid").Longs(),
            Rewards = new() { ["binary"] = D("rewards_binary"), ["graded"] = D("rewards_graded"), ["greedy"] = D("rewards_greedy") },
            MaxLength = r.GetProperty("max_length").GetInt32(), Cases = r.GetProperty("cases"),
        };
    }

    private static PolicyLossAggregation Aggregation(string name) => name switch
    {
        "sequence_sum" => PolicyLossAggregation.SequenceSum,
        "sequence_mean" => PolicyLossAggregation.SequenceMean,
        "token_mean" => PolicyLossAggregation.TokenMean,
        "constant_length" => PolicyLossAggregation.ConstantLength,
        _ => throw new ArgumentException(name),
    };

    private static void AssertClose(double expected, double actual, double scale, string what)
    {
        double tol = 1e-12 * Math.Max(Math.Abs(expected), scale);
        Assert.True(Math.Abs(expected - actual) <= tol, FormattableString.Invariant($"{what}: expected {expected:R}, got {actual:R} (diff {Math.Abs(expected - actual):E2}, tol {tol:E2})"));
    }

    private static void Check(Func<Tensor, Tensor> loss, Fixture f, JsonElement c, string what)
    {
        var l = f.LogP.clone().requires_grad_(true);
        var value = loss(l);
        value.backward();
        AssertClose(c.GetProperty("loss").GetDouble(), value.item<double>(), 1e-12, what + " loss");
        var expected = c.GetProperty("grad").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var actual = l.grad!.data<double>().ToArray();
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++) AssertClose(expected[i], actual[i], scale, FormattableString.Invariant($"{what} grad[{i}]"));
    }

    private static IEnumerable<JsonElement> Cases(Fixture f, string method) => f.Cases.EnumerateArray().Where(c => c.GetProperty("method").GetString() == method);

    [Fact]
    public void ReinforceMatchesTheReference()
    {
        using var doc = Golden.Load("policy_losses.json");
        var f = Load(doc);
        int count = 0;
        foreach (var c in Cases(f, "reinforce"))
        {
            var baseline = c.GetProperty("baseline").GetString() switch { "none" => ReinforceBaseline.None, "constant" => ReinforceBaseline.Constant, _ => ReinforceBaseline.LeaveOneOut };
            var r = f.Rewards[c.GetProperty("rewards").GetString()!];
            Check(l => Reinforce.Loss(l, f.Mask, r, baseline, c.GetProperty("baseline_value").GetDouble(), f.Uid, Aggregation(c.GetProperty("aggregation").GetString()!), f.MaxLength),
                f, c, $"reinforce {baseline} {c.GetProperty("aggregation")}");
            count++;
        }
        Assert.Equal(18, count);
    }

    [Fact]
    public void ReMaxMatchesTheReference()
    {
        using var doc = Golden.Load("policy_losses.json");
        var f = Load(doc);
        int count = 0;
        foreach (var c in Cases(f, "remax"))
        {
            var r = f.Rewards[c.GetProperty("rewards").GetString()!];
            double clip = c.GetProperty("clip").GetDouble();
            Check(l => ReMax.Loss(l, f.Ref, f.Mask, r, f.Rewards["greedy"], c.GetProperty("gamma").GetDouble(), clip > 1e200 ? double.PositiveInfinity : clip,
                c.GetProperty("kl").GetDouble(), Aggregation(c.GetProperty("aggregation").GetString()!), f.MaxLength), f, c, $"remax case {count}");
            count++;
        }
        Assert.Equal(12, count);
    }

    [Fact]
    public void GrpoAdvantagesAndLossesMatchTheReference()
    {
        using var doc = Golden.Load("policy_losses.json");
        var f = Load(doc);
        int count = 0;
        foreach (var c in Cases(f, "grpo_advantages"))
        {
            var r = f.Rewards[c.GetProperty("rewards").GetString()!];
            var adv = Grpo.Advantages(r, f.Uid, c.GetProperty("scale").GetBoolean(), c.GetProperty("eps_std").GetDouble());
            var expected = c.GetProperty("advantages").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            for (int i = 0; i < adv.Length; i++) AssertClose(expected[i], adv[i], 1, $"advantage {i}");
        }
        foreach (var c in Cases(f, "grpo"))
        {
            double dual = c.GetProperty("dual_clip").GetDouble();
            var options = new GrpoOptions
            {
                ClipLow = c.GetProperty("eps_low").GetDouble(), ClipHigh = c.GetProperty("eps_high").GetDouble(), DualClip = dual == 0 ? double.NaN : dual,
                Beta = c.GetProperty("beta").GetDouble(), Aggregation = Aggregation(c.GetProperty("aggregation").GetString()!), MaxLength = f.MaxLength,
                ScaleByStd = c.GetProperty("scale").GetBoolean(), EpsilonStd = c.GetProperty("eps_std").GetDouble(),
            };
            var r = f.Rewards[c.GetProperty("rewards").GetString()!];
            Check(l => Grpo.Loss(l, f.Old, f.Ref, f.Mask, r, f.Uid, options), f, c, $"grpo {options}");
            count++;
        }
        Assert.Equal(72, count);
    }

    [Fact]
    public void DiscoMatchesTheReference()
    {
        using var doc = Golden.Load("policy_losses.json");
        var f = Load(doc);
        int count = 0;
        foreach (var c in Cases(f, "disco"))
        {
            var options = new DiscoOptions
            {
                Robust = c.GetProperty("robust").GetBoolean(),
                Score = c.GetProperty("score").GetString() == "log_l" ? DiscoScore.LogLikelihood : DiscoScore.LikelihoodRatio,
                Tau = c.GetProperty("tau").GetDouble(),
                Kl = c.GetProperty("kl_type").GetString() == "kl" ? DiscoKl.LogRatio : DiscoKl.LowVariance,
                Beta = c.GetProperty("beta").GetDouble(), Delta = c.GetProperty("delta").GetDouble(),
            };
            Check(l =>
            {
                var result = Disco.Compute(l, f.Old, f.Mask, f.Rewards["binary"], f.Uid, options);
                Assert.Equal(2, result.SkippedGroups);   // the all-correct and the all-wrong group
                return result.Loss;
            }, f, c, $"disco {options}");
            count++;
        }
        Assert.Equal(24, count);
    }

    [Fact]
    public void Float32GrpoAgreesWithTheFloat64ReferenceTo1e6()
    {
        using var doc = Golden.Load("policy_losses.json");
        var f = Load(doc);
        var c = Cases(f, "grpo").First(c => c.GetProperty("beta").GetDouble() > 0 && c.GetProperty("aggregation").GetString() == "token_mean");
        var options = new GrpoOptions
        {
            ClipLow = c.GetProperty("eps_low").GetDouble(), ClipHigh = c.GetProperty("eps_high").GetDouble(), Beta = c.GetProperty("beta").GetDouble(),
            Aggregation = PolicyLossAggregation.TokenMean, ScaleByStd = c.GetProperty("scale").GetBoolean(), EpsilonStd = c.GetProperty("eps_std").GetDouble(),
        };
        var l = f.LogP.to_type(ScalarType.Float32).requires_grad_(true);
        var loss = Grpo.Loss(l, f.Old.to_type(ScalarType.Float32), f.Ref.to_type(ScalarType.Float32), f.Mask.to_type(ScalarType.Float32),
            f.Rewards[c.GetProperty("rewards").GetString()!], f.Uid, options);
        loss.backward();
        double expected = c.GetProperty("loss").GetDouble();
        Assert.True(Math.Abs(loss.item<float>() - expected) <= 1e-6 * Math.Max(1, Math.Abs(expected)), $"{loss.item<float>()} vs {expected}");
        var g = c.GetProperty("grad").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var a = l.grad!.data<float>().ToArray();
        double scale = g.Max(Math.Abs);
        for (int i = 0; i < g.Length; i++) Assert.True(Math.Abs(a[i] - g[i]) <= 1e-6 * scale, $"grad[{i}] {a[i]} vs {g[i]}");
    }
}
