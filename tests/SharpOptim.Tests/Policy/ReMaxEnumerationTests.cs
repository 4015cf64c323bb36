using SharpOptim.Policy;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// ReMax's estimator by exact enumeration (brief §2, miniature 3; §11 row 6): a one-token policy π = softmax(z) over a
/// small vocabulary, greedy answer ā = argmax z. The gradient of −<see cref="ReMax.Loss"/> for a single answer a is
/// g(a) = (r(a) − r(ā)) ∇log π(a). Its mean Σ_a π(a) g(a) must equal the true gradient ∇ Σ_a r(a) π(a) (unbiasedness:
/// the greedy baseline does not depend on the sample), and its second moment must equal the closed form
/// Σ_a π(a) (r(a) − r(ā))² (1 − 2π(a) + Σ_b π(b)²), since ∇_z log π(a) = e_a − π. Same checks for plain REINFORCE
/// (baseline 0). No claim that one variance is smaller in general (the paper's result is conditional).
/// </summary>
public class ReMaxEnumerationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void GreedyBaselineIsUnbiasedAndItsSecondMomentIsExact(int seed)
    {
        const int v = 5;
        var gen = new TorchSharp.torch.Generator((ulong)seed);
        var z = randn(new long[] { v }, dtype: ScalarType.Float64, generator: gen);
        var r = rand(new long[] { v }, dtype: ScalarType.Float64, generator: gen).data<double>().ToArray();
        var pi = z.softmax(0).data<double>().ToArray();
        int greedy = (int)z.argmax().item<long>();
        double sumPi2 = pi.Sum(p => p * p);

        var zg = z.clone().requires_grad_(true);
        var trueGrad = autograd.grad(new[] { zg.softmax(0).mul(tensor(r, dtype: ScalarType.Float64)).sum() }, new[] { zg })[0].data<double>().ToArray();

        foreach (bool useGreedy in new[] { true, false })
        {
            var mean = new double[v];
            double second = 0, closed = 0;
            for (int a = 0; a < v; a++)
            {
                var za = z.clone().requires_grad_(true);
                var l = za.log_softmax(0).narrow(0, a, 1).reshape(1, 1);
                var loss = ReMax.Loss(l, null, ones(1, 1, dtype: ScalarType.Float64), new[] { r[a] }, new[] { useGreedy ? r[greedy] : 0.0 });
                var g = autograd.grad(new[] { loss.neg() }, new[] { za })[0].data<double>().ToArray();
                for (int j = 0; j < v; j++) mean[j] += pi[a] * g[j];
                second += pi[a] * g.Sum(x => x * x);
                double adv = r[a] - (useGreedy ? r[greedy] : 0);
                closed += pi[a] * adv * adv * (1 - 2 * pi[a] + sumPi2);
            }
            for (int j = 0; j < v; j++) Assert.True(Math.Abs(mean[j] - trueGrad[j]) < 1e-12, $"seed {seed}, greedy {useGreedy}: E[g]_{j} = {mean[j]} vs ∇J = {trueGrad[j]}");
            Assert.True(Math.Abs(second - closed) < 1e-12, $"seed {seed}, greedy {useGreedy}: second moment {second} vs closed form {closed}");
        }
    }
}
