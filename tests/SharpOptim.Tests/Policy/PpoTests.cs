using SharpOptim.Optimizers;
using SharpOptim.Policy;
using SharpOptim.Tasks.Models;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// The PPO-style actor-critic's exact invariants and bad input: GAE with γ = λ = 1 and no whitening gives A_t = R − V_t
/// and returns R on every real token (Monte-Carlo); with λ = 0 it gives the one-step TD error; the critic starts from a
/// copy of the model (its trunk's hidden states equal the model's), reads V_t at the position before token t (changing
/// token t leaves V_0..V_t unchanged and changes V_{t+1}), trains everything but the copied vocabulary head, and never
/// touches the model it was copied from; invalid inputs (wrong lengths, NaN rewards or values, γ or λ outside [0, 1],
/// a mask that is not right-padded) throw an ArgumentException naming the value, with the inputs unchanged.
/// </summary>
public class PpoTests
{
    private static readonly long[][] Prompts = { new long[] { 12, 3, 10, 4, 11 }, new long[] { 12, 7, 5, 10, 2, 11 } };

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static (Tensor Mask, double[] Rewards, Tensor Values) Batch()
    {
        var mask = tensor(new double[] { 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0 }, dtype: ScalarType.Float64).reshape(3, 4);
        var values = tensor(new double[] { 0.1, -0.2, 0.4, 0.3, 0.5, 0.9, 0.9, 0.9, -0.1, 0.2, 0.7, 5 }, dtype: ScalarType.Float64).reshape(3, 4);
        return (mask, new double[] { 1, 0, 0.5 }, values);
    }

    [Fact]
    public void GaeReducesToMonteCarloAndToTheTdError()
    {
        var (mask, rewards, values) = Batch();
        var tokenRewards = Ppo.TokenRewards(rewards, mask);
        Assert.Equal(new double[] { 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0.5, 0 }, tokenRewards.reshape(-1).data<double>().ToArray());
        var (a, ret) = Ppo.Gae(tokenRewards, values, mask, new PpoOptions { WhitenAdvantages = false });
        var av = a.reshape(-1).data<double>().ToArray();
        var rv = ret.reshape(-1).data<double>().ToArray();
        var v = values.reshape(-1).data<double>().ToArray();
        var m = mask.reshape(-1).data<double>().ToArray();
        for (int k = 0; k < 12; k++)
        {
            if (m[k] == 0) continue;
            double outcome = rewards[k / 4];
            Assert.Equal(outcome - v[k], av[k], 15);
            Assert.Equal(outcome, rv[k], 15);
        }
        var (td, _) = Ppo.Gae(tokenRewards, values, mask, new PpoOptions { Gamma = 0.9, Lambda = 0, WhitenAdvantages = false });
        var tdv = td.reshape(-1).data<double>().ToArray();
        Assert.Equal(0 + 0.9 * -0.2 - 0.1, tdv[0], 15);      // δ_0 = r_0 + γ V_1 − V_0
        Assert.Equal(1 - 0.3, tdv[3], 15);                   // last token: no bootstrap
        Assert.Equal(0.5 - 0.7, tdv[10], 15);                // the padding value 5 after it is never used
        // Whitened: mean 0 and unbiased variance var/(var + 1e-8) over the real tokens, var that of the raw advantages.
        var raw = av.Where((_, k) => m[k] == 1).ToArray();
        double rawVar = raw.Sum(x => (x - raw.Average()) * (x - raw.Average())) / (raw.Length - 1);
        var (w, _) = Ppo.Gae(tokenRewards, values, mask);
        var real = w.reshape(-1).data<double>().Where((_, k) => m[k] == 1).ToArray();
        Assert.Equal(0, real.Average(), 14);
        Assert.Equal(rawVar / (rawVar + 1e-8), real.Sum(x => x * x) / (real.Length - 1), 12);
    }

    [Fact]
    public void CriticStartsFromTheModelReadsTheStateBeforeEachTokenAndTrainsOnlyItself()
    {
        manual_seed(5);
        using var model = new CharTransformer(13, 16, 32, 4, 2);
        using var trunk = new CharTransformer(13, 16, 32, 4, 2);
        using (no_grad())
        {
            var src = model.parameters().ToArray();
            var dst = trunk.parameters().ToArray();
            for (int i = 0; i < src.Length; i++) dst[i].copy_(src[i]);
        }
        using var critic = new PpoCritic(trunk);
        var completions = tensor(new long[] { 7, 12, 12, 1, 2, 12 }, dtype: ScalarType.Int64).reshape(2, 3);
        using (no_grad())
        {
            var hModel = Capo.HiddenStates(model, Prompts, completions);
            var hCritic = Capo.HiddenStates(critic.Trunk, Prompts, completions);
            Assert.True(Same(hModel, hCritic));
            var v = critic.Values(Prompts, completions);
            Assert.Equal(new long[] { 2, 3 }, v.shape);
            var changed = completions.clone();
            changed[0, 1] = tensor(4L);
            var v2 = critic.Values(Prompts, changed);
            Assert.True(Same(v.narrow(1, 0, 2), v2.narrow(1, 0, 2)));       // V_0, V_1 come before token 1 is chosen
            Assert.False(Same(v[0, 2], v2[0, 2]));                          // V_2 sees token 1
            Assert.True(Same(v[1], v2[1]));
        }
        var names = critic.TrainableParameters().Select(p => p.name).ToArray();
        Assert.Contains("value_head.weight", names);
        Assert.Contains("value_head.bias", names);
        Assert.DoesNotContain(names, x => x.EndsWith("lm_head.weight", StringComparison.Ordinal));
        Assert.Equal(critic.parameters().Count() - 1, names.Length);
        var headBefore = critic.Trunk.HeadWeight.detach().clone();
        var modelBefore = model.parameters().Select(p => p.detach().clone()).ToArray();
        var trunkBefore = trunk.named_parameters().Where(p => p.name.StartsWith("blocks", StringComparison.Ordinal)).Select(p => p.parameter.detach().clone()).ToArray();
        using var opt = OptimizerCatalog.Get("adamw").Create(critic.TrainableParameters(), new Dictionary<string, double> { ["lr"] = 1e-2 });
        var mask = ones(2, 3);
        Tensor old;
        using (no_grad()) old = critic.Values(Prompts, completions);
        var loss = Ppo.ValueLoss(critic.Values(Prompts, completions), old, old.add(ones(2, 3)), mask);
        opt.zero_grad();
        loss.backward();
        opt.step();
        Assert.Null(critic.Trunk.HeadWeight.grad);
        Assert.True(Same(critic.Trunk.HeadWeight, headBefore));
        Assert.All(model.parameters().Zip(modelBefore), p => Assert.True(Same(p.First, p.Second)));
        Assert.Contains(trunk.named_parameters().Where(p => p.name.StartsWith("blocks", StringComparison.Ordinal)).Zip(trunkBefore), p => !Same(p.First.parameter, p.Second));
    }

    [Fact]
    public void BadInputThrowsNamingTheValueAndChangesNothing()
    {
        var (mask, rewards, values) = Batch();
        var maskBefore = mask.clone();
        var valuesBefore = values.clone();
        var tokenRewards = Ppo.TokenRewards(rewards, mask);
        var e = Assert.Throws<ArgumentException>(() => Ppo.TokenRewards(new double[] { 1, 0 }, mask));
        Assert.Contains("rewards has 2 entries for 3 completions", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ppo.TokenRewards(new double[] { 1, double.NaN, 0 }, mask));
        Assert.Contains("rewards[1] = NaN", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ppo.Gae(tokenRewards, values, mask, new PpoOptions { Gamma = 1.5 }));
        Assert.Contains("Gamma = 1.5", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ppo.Gae(tokenRewards, values, mask, new PpoOptions { Lambda = -0.1 }));
        Assert.Contains("Lambda = -0.1", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ppo.Gae(tokenRewards, values, mask, new PpoOptions { Gamma = double.NaN }));
        Assert.Contains("Gamma = NaN", e.Message);
        var nanValues = values.clone();
        nanValues[2, 1] = tensor(double.NaN, dtype: ScalarType.Float64);
        e = Assert.Throws<ArgumentException>(() => Ppo.Gae(tokenRewards, nanValues, mask));
        Assert.Contains("values[2, 1] = NaN", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ppo.Gae(tokenRewards.narrow(1, 0, 3), values, mask));
        Assert.Contains("tokenRewards has shape [3, 3]", e.Message);
        var holey = tensor(new double[] { 1, 0, 1, 0 }, dtype: ScalarType.Float64).reshape(1, 4);
        e = Assert.Throws<ArgumentException>(() => Ppo.TokenRewards(new double[] { 1 }, holey));
        Assert.Contains("not right-padded", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ppo.Gae(tensor(new double[] { 1, 0 }, dtype: ScalarType.Float64).reshape(1, 2),
            tensor(new double[] { 0, 0 }, dtype: ScalarType.Float64).reshape(1, 2), tensor(new double[] { 1, 0 }, dtype: ScalarType.Float64).reshape(1, 2)));
        Assert.Contains("at least 2 completion tokens", e.Message);
        var logp = zeros(3, 4, dtype: ScalarType.Float64).requires_grad_(true);
        e = Assert.Throws<ArgumentException>(() => Ppo.PolicyLoss(logp, zeros(3, 4, dtype: ScalarType.Float64), zeros(3, 4, dtype: ScalarType.Float64), mask, new PpoOptions { DualClip = 0.5 }));
        Assert.Contains("DualClip = 0.5", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ppo.ValueLoss(values, values, values, mask, new PpoOptions { ValueClip = 0 }));
        Assert.Contains("ValueClip = 0", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ppo.ValueLoss(values, values, nanValues, mask));
        Assert.Contains("returns[2, 1] = NaN", e.Message);
        Assert.Null(logp.grad);
        Assert.True(Same(mask, maskBefore));
        Assert.True(Same(values, valuesBefore));
    }
}
