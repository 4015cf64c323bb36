using SharpOptim.Policy;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>Exact invariants of the policy losses (brief §11 rows 2, 4, 8) and their bad-input policy: a clear
/// <see cref="ArgumentException"/> naming the value before anything is computed or changed.</summary>
public class PolicyLossInvariantTests
{
    private static readonly long[] Uid = { 4, 4, 4, 9, 9, 9, 9, 2, 2 };

    [Fact]
    public void GrpoAdvantagesHaveZeroMeanUnitUnbiasedStdAndZeroForEqualRewards()
    {
        double[] r = { 0.1, 0.7, 0.4, 1, 0, 0, 1, 0.5, 0.5 };
        var a = Grpo.Advantages(r, Uid, scaleByStd: true, epsilonStd: 0);
        foreach (var rows in new[] { new[] { 0, 1, 2 }, new[] { 3, 4, 5, 6 } })
        {
            double mean = rows.Average(i => a[i]);
            double var = rows.Sum(i => (a[i] - mean) * (a[i] - mean)) / (rows.Length - 1);
            Assert.True(Math.Abs(mean) < 1e-15, $"mean {mean}");
            Assert.True(Math.Abs(var - 1) < 1e-14, $"var {var}");
        }
        Assert.Equal(0.0, a[7]);
        Assert.Equal(0.0, a[8]);
        var dr = Grpo.Advantages(r, Uid, scaleByStd: false);
        Assert.Equal(0.7 - 1.2 / 3, dr[1], 15);
    }

    [Fact]
    public void RlooAdvantageIsGOverGMinusOneTimesTheCentredReward()
    {
        double[] r = { 0.1, 0.7, 0.4, 1, 0, 0, 1, 0.5, 0.25 };
        var a = Reinforce.Advantages(r, ReinforceBaseline.LeaveOneOut, groupIds: Uid);
        Assert.Equal(3.0 / 2 * (0.7 - 0.4), a[1], 14);
        Assert.Equal(4.0 / 3 * (1 - 0.5), a[3], 14);
        Assert.Equal(2.0 / 1 * (0.5 - 0.375), a[7], 14);
    }

    [Fact]
    public void ExpectedK3GradientIsTheGradientOfTheReverseKl()
    {
        // Per position, with the sampled token as data: Σ_a π(a) ∇k3(a) = ∇ KL(π_ref ‖ π_θ) (brief §3 pitfall), exactly.
        var gen = new TorchSharp.torch.Generator(7);
        var z = randn(new long[] { 6 }, dtype: ScalarType.Float64, generator: gen).requires_grad_(true);
        var lref = randn(new long[] { 6 }, dtype: ScalarType.Float64, generator: gen).log_softmax(0);
        var logp = z.log_softmax(0);
        var expectedK3 = logp.detach().exp().mul(Grpo.K3(logp.unsqueeze(0), lref.unsqueeze(0)).squeeze(0)).sum();
        var g1 = autograd.grad(new[] { expectedK3 }, new[] { z })[0].data<double>().ToArray();
        var z2 = z.detach().clone().requires_grad_(true);
        var kl = lref.exp().mul(lref.sub(z2.log_softmax(0))).sum();
        var g2 = autograd.grad(new[] { kl }, new[] { z2 })[0].data<double>().ToArray();
        for (int i = 0; i < 6; i++) Assert.True(Math.Abs(g1[i] - g2[i]) < 1e-14, $"{i}: {g1[i]} vs {g2[i]}");
    }

    [Fact]
    public void DiscoBGivesEveryMixedQuestionTotalWeightOneWhateverItsSuccessRate()
    {
        // DisCO-b: ∂(−J_q)/∂s = −1/|S+| per positive and +1/|S−| per negative, so the total weight on positives is 1 for
        // every k ∈ [1, G−1] (brief §4 miniature 1); with the log-L score and one token per completion, s = ℓ.
        const int g = 8;
        for (int k = 1; k < g; k++)
        {
            var l = full(new long[] { g, 1 }, -1.0, dtype: ScalarType.Float64).requires_grad_(true);
            var r = Enumerable.Range(0, g).Select(i => i < k ? 1.0 : 0.0).ToArray();
            var loss = Disco.Loss(l, l.detach(), ones(g, 1, dtype: ScalarType.Float64), r, Enumerable.Repeat(0L, g).ToArray(),
                new DiscoOptions { Robust = false, Beta = 0 });
            loss.backward();
            var grad = l.grad!.data<double>().ToArray();
            Assert.Equal(-1.0, grad.Take(k).Sum(), 14);
            Assert.Equal(1.0, grad.Skip(k).Sum(), 14);
        }
    }

    [Fact]
    public void BadInputIsRejectedWithTheValueNamed()
    {
        var l = zeros(4, 3, dtype: ScalarType.Float64);
        var m = ones(4, 3, dtype: ScalarType.Float64);
        long[] pairs = { 0, 0, 1, 1 };
        long[] singles = { 0, 1, 2, 3 };
        double[] ok = { 1, 0, 1, 0 };
        var e = Assert.Throws<ArgumentException>(() => Grpo.Loss(l, l, null, m, ok, singles, new GrpoOptions { Beta = 0 }));
        Assert.Contains("G ≥ 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => Grpo.Loss(l, l, null, m, new double[] { 1, 0, 1 }, pairs, new GrpoOptions { Beta = 0 }));
        Assert.Contains("3 entries for 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => Grpo.Loss(l, l, null, m, new[] { 1, double.NaN, 1, 0 }, pairs, new GrpoOptions { Beta = 0 }));
        Assert.Contains("NaN", e.Message);
        Assert.Throws<ArgumentException>(() => Grpo.Advantages(Array.Empty<double>(), Array.Empty<long>()));
        Assert.Throws<ArgumentException>(() => Grpo.Loss(l, l, null, m, ok, pairs, new GrpoOptions { Beta = 0.1 }));   // β > 0 without a reference
        Assert.Throws<ArgumentException>(() => Reinforce.Loss(l, m, ok, ReinforceBaseline.LeaveOneOut, groupIds: singles));
        Assert.Throws<ArgumentException>(() => Reinforce.Loss(l, m, new[] { 1, 0, double.PositiveInfinity, 0 }));
        Assert.Throws<ArgumentException>(() => ReMax.Loss(l, null, m, ok, new double[] { 0, 0 }));
        e = Assert.Throws<ArgumentException>(() => Disco.Loss(l, l, m, new[] { 1, 0.5, 1, 0 }, pairs));
        Assert.Contains("binary", e.Message);
        Assert.Throws<ArgumentException>(() => Disco.Loss(l, l, m, ok, singles));
        var holes = m.clone();
        holes[2] = zeros(3, dtype: ScalarType.Float64);
        e = Assert.Throws<ArgumentException>(() => Grpo.Loss(l, l, null, holes, ok, pairs, new GrpoOptions { Beta = 0 }));
        Assert.Contains("empty mask", e.Message);
        Assert.Throws<ArgumentException>(() => Grpo.Loss(l, l.to_type(ScalarType.Float32), null, m, ok, pairs, new GrpoOptions { Beta = 0 }));
        Assert.Throws<ArgumentException>(() => Grpo.Loss(l, l, null, m, ok, pairs, new GrpoOptions { DualClip = 0.5 }));
        Assert.Throws<ArgumentException>(() => Grpo.Loss(l, l, null, m, ok, pairs, GrpoOptions.DrGrpo(2)));   // L_max below the 3 columns
    }
}
