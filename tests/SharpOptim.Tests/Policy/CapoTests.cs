using SharpOptim.Policy;
using SharpOptim.Tasks.Models;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Policy;

/// <summary>
/// CAPO's exact invariants and bad input: the hidden states CharTransformer exposes reproduce its logits exactly (so
/// adding them left forward unchanged) and, through the output layer, the training forward's log-probabilities at the
/// same positions (P − 1 + t, not the official code's shifted ones); a zero-advantage batch with no shadow state
/// predicts no change at all; invalid inputs throw an ArgumentException naming the value before the shadow state or
/// anything else changes.
/// </summary>
public class CapoTests
{
    private static CharTransformer Model()
    {
        manual_seed(11);
        return new CharTransformer(13, 16, 32, 4, 2);
    }

    [Fact]
    public void HiddenStatesReproduceLogitsAndTrainingLogProbs()
    {
        using var model = Model();
        using var scope = NewDisposeScope();
        var tokens = tensor(new long[] { 1, 4, 2, 11, 3, 12, 0, 5, 9, 9, 10, 7 }, dtype: ScalarType.Int64).reshape(2, 6);
        var positions = arange(6, dtype: ScalarType.Int64);
        using (no_grad())
        {
            var logits = model.Forward(tokens, positions, CausalAttention.Instance);
            var viaHidden = model.Hidden(tokens, positions, CausalAttention.Instance).matmul(model.HeadWeight.t());
            // Same operations as the output layer (a bias-free linear), so equal up to the matmul kernel's rounding.
            Assert.True(logits.allclose(viaHidden, rtol: 0, atol: 1e-6));
            Assert.True(model.forward(tokens).eq(logits).all().item<bool>());   // forward(tokens) is Forward with 0..T−1
        }
        var prompts = new[] { new long[] { 12, 3, 10, 4, 11 }, new long[] { 12, 7, 5, 10, 2, 11 } };   // P = 5 and 6
        var completions = tensor(new long[] { 7, 12, 12, 1, 2, 12 }, dtype: ScalarType.Int64).reshape(2, 3);
        using (no_grad())
        {
            var logp = SequenceLogProbs.Compute(model, prompts, completions);
            var hidden = Capo.HiddenStates(model, prompts, completions);
            var fromHidden = hidden.matmul(model.HeadWeight.t()).log_softmax(-1).gather(-1, completions.unsqueeze(-1)).squeeze(-1);
            Assert.True(logp.allclose(fromHidden, rtol: 0, atol: 1e-5));
            // The official code's hidden state one position later gives different numbers: the alignment matters.
            var shifted = model.Hidden(cat(new[] { tensor(prompts[0]).reshape(1, 5), completions.narrow(0, 0, 1) }, 1), arange(8, dtype: ScalarType.Int64), CausalAttention.Instance).narrow(1, 5, 3);
            Assert.False(shifted.allclose(hidden.narrow(0, 0, 1), rtol: 0, atol: 1e-3));
        }
    }

    [Fact]
    public void ZeroAdvantagesWithoutStatePredictNoChangeAndKeepEveryToken()
    {
        manual_seed(2);
        var hidden = randn(4, 3, 5, dtype: ScalarType.Float64);
        var w = randn(7, 5, dtype: ScalarType.Float64);
        var tokens = randint(0, 7, new long[] { 4, 3 });
        var mask = ones(4, 3, dtype: ScalarType.Float64);
        using var shadow = new CapoShadowAdam();
        using var e = Capo.TokenEffects(hidden, w, tokens, mask, new double[4], 0.1, shadow);
        // G = 0 and D = G: every predicted quantity is exactly zero, and 0 lies inside (−τ_H, τ_H) and below τ_F.
        Assert.Equal(0, e.DeltaJ.abs().max().item<double>());
        Assert.Equal(0, e.DeltaKl.abs().max().item<double>());
        Assert.Equal(12, e.Kept);
        Assert.Equal(0, e.MaskedFraction);
    }

    [Fact]
    public void BadInputThrowsBeforeAnythingChanges()
    {
        manual_seed(3);
        var hidden = randn(4, 3, 5, dtype: ScalarType.Float64);
        var w = randn(7, 5, dtype: ScalarType.Float64);
        var tokens = randint(0, 7, new long[] { 4, 3 });
        var mask = ones(4, 3, dtype: ScalarType.Float64);
        var adv = new[] { 0.5, -0.5, 0.25, -0.25 };
        using var shadow = new CapoShadowAdam();
        var g = randn(7, 5, dtype: ScalarType.Float64);
        shadow.Update(g);
        var m0 = shadow.FirstMoment!.clone();

        void Throws(string fragment, Action a) => Assert.Contains(fragment, Assert.ThrowsAny<ArgumentException>(a).Message);
        Throws("advantages[1] = NaN", () => Capo.TokenEffects(hidden, w, tokens, mask, new[] { 0.5, double.NaN, 0, 0 }, 0.1, shadow));
        Throws("3 entries for 4", () => Capo.TokenEffects(hidden, w, tokens, mask, adv.Take(3).ToArray(), 0.1, shadow));
        Throws("token ids must lie in [0, 7)", () => Capo.TokenEffects(hidden, w, tokens.add(7), mask, adv, 0.1, shadow));
        Throws("learningRate = 0", () => Capo.TokenEffects(hidden, w, tokens, mask, adv, 0, shadow));
        Throws("TauHessian = -1", () => Capo.TokenEffects(hidden, w, tokens, mask, adv, 0.1, shadow, new CapoOptions { TauHessian = -1 }));
        Throws("TauFisher = NaN", () => Capo.TokenEffects(hidden, w, tokens, mask, adv, 0.1, shadow, new CapoOptions { TauFisher = double.NaN }));
        Throws("headWeight must be", () => Capo.TokenEffects(hidden, randn(7, 6, dtype: ScalarType.Float64), tokens, mask, adv, 0.1, shadow));
        Throws("the shadow state is [7, 5]", () => Capo.TokenEffects(hidden, randn(8, 5, dtype: ScalarType.Float64), tokens, mask, adv, 0.1, shadow));
        var badMask = mask.clone();
        badMask[1, 1] = tensor(0.5, dtype: ScalarType.Float64);
        Throws("mask[1, 1] = 0.5", () => Capo.TokenEffects(hidden, w, tokens, badMask, adv, 0.1, shadow));
        var emptyRow = mask.clone();
        emptyRow[2] = zeros(3, dtype: ScalarType.Float64);
        Throws("completion 2 has an empty mask", () => Capo.TokenEffects(hidden, w, tokens, emptyRow, adv, 0.1, shadow));
        Throws("trailing shape [7, 6]", () => shadow.Update(randn(7, 6, dtype: ScalarType.Float64)));
        Throws("Beta2 = 1", () => new CapoShadowAdam(beta2: 1));

        var logp = randn(4, 3, dtype: ScalarType.Float64);
        var keep = ones(4, 3, dtype: ScalarType.Float64);
        var halfKeep = keep.clone();
        halfKeep[0, 0] = tensor(0.5, dtype: ScalarType.Float64);
        Throws("keep must hold only 0 and 1", () => Capo.Loss(logp, logp, mask, halfKeep, adv));
        Throws("keep has shape [4, 2]", () => Capo.Loss(logp, logp, mask, keep.narrow(1, 0, 2), adv));
        Throws("rewards[2] = Infinity", () => Capo.Advantages(new[] { 1.0, 0, double.PositiveInfinity, 0 }, new long[] { 0, 0, 1, 1 }));
        Assert.ThrowsAny<ArgumentException>(() => Capo.Advantages(new[] { 1.0, 0, 1 }, new long[] { 0, 0, 1 }));   // a group of G = 1

        Assert.Equal(1, shadow.Step);
        Assert.True(shadow.FirstMoment!.eq(m0).all().item<bool>());
    }
}
