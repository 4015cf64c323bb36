using System.Text.Json;
using SharpOptim.Online;
using SharpOptim.Tasks.Bandits;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>The contextual bandits: parity with tools/golden/online_bandits.py (float64), Diag-LinUCB's exactness and
/// order independence, SquareCB/FastCB probabilities, and bad input.</summary>
public class BanditPolicyTests
{
    private static readonly JsonElement Fixture = Golden.Load("online_bandits.json").RootElement;
    private static readonly Lazy<BanditDataset> DigitsData = new(BanditDataset.Digits);

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt32()).ToArray();

    private static double[][] Repeat(double[] x, int k) => Enumerable.Repeat(x, k).ToArray();

    internal static double[][] Disjoint(double[] x, int k)
    {
        var rows = new double[k][];
        for (int a = 0; a < k; a++)
        {
            rows[a] = new double[x.Length * k];
            Array.Copy(x, 0, rows[a], a * x.Length, x.Length);
        }
        return rows;
    }

    [Fact]
    public void DigitsRowsMatchTheReferencesNormalization()
    {
        var data = DigitsData.Value;
        Assert.Equal(1797, data.Count);
        Assert.Equal(64, data.Dimension);
        foreach (var row in data.Features) Assert.Equal(1.0, row.Sum(v => v * v), 12);
    }

    [Fact]
    public void LinUcbReproducesTheReferenceArmSequenceAndRegret()
    {
        var f = Fixture.GetProperty("linucb");
        var order = Ints(Fixture.GetProperty("order"));
        var expected = Ints(f.GetProperty("arms"));
        var data = DigitsData.Value;
        var policy = new LinUcb(10, 64, f.GetProperty("alpha").GetDouble(), f.GetProperty("ridge").GetDouble());
        var firstScores = OnlineLearnerTests.Rows(f.GetProperty("first_scores"));
        int mistakes = 0, mismatches = 0, firstMismatch = -1;
        for (int t = 0; t < order.Length; t++)
        {
            var x = data.Features[order[t]];
            var contexts = Repeat(x, 10);
            if (t < firstScores.Length) OnlineLearnerTests.Close(firstScores[t], policy.Scores(contexts), 1e-12, $"scores in round {t + 1}");
            int arm = policy.SelectArm(contexts);
            if (arm != expected[t]) { mismatches++; if (firstMismatch < 0) firstMismatch = t; }
            double r = arm == data.Labels[order[t]] ? 1 : 0;
            mistakes += 1 - (int)r;
            policy.Update(x, arm, r);
        }
        Assert.True(mismatches == 0, $"{mismatches} arms differ from the reference, first in round {firstMismatch + 1}");
        Assert.Equal(0, expected[0]);   // all UCB scores tie in round 1: the lowest index wins
        Assert.Equal(f.GetProperty("regret").GetInt32(), mistakes);
    }

    [Fact]
    public void DiagLinUcbMatchesReferenceOnSparseStream()
    {
        var f = Fixture.GetProperty("diag");
        int c = f.GetProperty("clusters").GetInt32(), k = f.GetProperty("arms_count").GetInt32();
        var ws = OnlineLearnerTests.Rows(f.GetProperty("contexts"));
        var rewards = OnlineLearnerTests.Doubles(f.GetProperty("rewards"));
        var arms = Ints(f.GetProperty("arms"));
        var policy = new DiagLinUcb(k, c, f.GetProperty("alpha").GetDouble(), f.GetProperty("ridge").GetDouble());
        for (int t = 0; t < ws.Length; t++)
        {
            int arm = policy.SelectArm(Repeat(ws[t], k));
            Assert.Equal(arms[t], arm);
            policy.Update(ws[t], arm, rewards[t]);
        }
        var d = OnlineLearnerTests.Rows(f.GetProperty("precision"));
        var b = OnlineLearnerTests.Rows(f.GetProperty("response"));
        for (int a = 0; a < k; a++)
        {
            OnlineLearnerTests.Close(d[a], policy.Precision(a), 1e-12, $"d[{a}]");
            OnlineLearnerTests.Close(b[a], policy.Response(a), 1e-12, $"b[{a}]");
        }
    }

    [Fact]
    public void DiagLinUcbEqualsLinUcbOnOneHotContexts()
    {
        // One-hot w: every xxᵀ is diagonal, so LinUCB's A stays diagonal and its A⁻¹ is Diag-LinUCB's 1/d.
        const int c = 6, k = 3;
        var rng = new Random(3);
        var diag = new DiagLinUcb(k, c, 0.7, 1.0);
        var full = new LinUcb(k, c, 0.7, 1.0);
        for (int t = 0; t < 400; t++)
        {
            var w = new double[c];
            w[rng.Next(c)] = 1.0;
            var ctx = Repeat(w, k);
            OnlineLearnerTests.Close(full.Scores(ctx), diag.Scores(ctx), 1e-12, $"scores in round {t + 1}");
            int arm = diag.SelectArm(ctx);
            Assert.Equal(full.SelectArm(ctx), arm);
            double r = rng.NextDouble() < 0.2 + 0.1 * arm ? 1 : 0;
            diag.Update(w, arm, r);
            full.Update(w, arm, r);
        }
        for (int a = 0; a < k; a++)
            for (int i = 0; i < c; i++)
            {
                Assert.Equal(1 / diag.Precision(a)[i], full.InverseDesign(a)[i * c + i], 12);
                Assert.Equal(diag.Response(a)[i], full.Response(a)[i]);
            }
    }

    [Fact]
    public void DiagLinUcbUpdatesAreOrderAndPartitionIndependent()
    {
        // Weights that are exact binary fractions and integer rewards: every sum is exact, so the order of the
        // additions cannot matter and the three ways must agree bit for bit.
        const int c = 8, k = 4;
        var rng = new Random(9);
        var events = Enumerable.Range(0, 500).Select(_ =>
        {
            var w = new double[c];
            for (int j = 0; j < 3; j++) w[rng.Next(c)] = rng.Next(1, 8) / 8.0;
            return (W: w, Arm: rng.Next(k), R: (double)rng.Next(2));
        }).ToList();
        var forward = new DiagLinUcb(k, c, 1.0);
        foreach (var e in events) forward.Update(e.W, e.Arm, e.R);
        var backward = new DiagLinUcb(k, c, 1.0);
        for (int i = events.Count - 1; i >= 0; i--) backward.Update(events[i].W, events[i].Arm, events[i].R);
        var merged = new DiagLinUcb(k, c, 1.0);
        var w1 = new DiagLinUcb(k, c, 1.0);
        var w2 = new DiagLinUcb(k, c, 1.0);
        for (int i = 0; i < events.Count; i++) (i % 2 == 0 ? w1 : w2).Update(events[i].W, events[i].Arm, events[i].R);
        merged.Merge(w1);
        merged.Merge(w2);
        for (int a = 0; a < k; a++)
        {
            Assert.True(forward.Precision(a).SequenceEqual(backward.Precision(a)) && forward.Precision(a).SequenceEqual(merged.Precision(a)));
            Assert.True(forward.Response(a).SequenceEqual(backward.Response(a)) && forward.Response(a).SequenceEqual(merged.Response(a)));
        }
        Assert.Throws<ArgumentException>(() => merged.Merge(new DiagLinUcb(k, c, 1.0, ridge: 2.0)));
    }

    [Fact]
    public void SquareCbAndFastCbProbabilitiesMatchReference()
    {
        foreach (var c in Fixture.GetProperty("probabilities").EnumerateArray())
        {
            var y = OnlineLearnerTests.Doubles(c.GetProperty("predicted"));
            double gamma = c.GetProperty("gamma").GetDouble();
            var sq = RegressionOracleExploration.SquareCb(y, gamma);
            var fast = RegressionOracleExploration.FastCb(y, gamma);
            OnlineLearnerTests.Close(OnlineLearnerTests.Doubles(c.GetProperty("square")), sq, 1e-15, $"SquareCB [{string.Join(",", y)}] γ={gamma}");
            OnlineLearnerTests.Close(OnlineLearnerTests.Doubles(c.GetProperty("fast")), fast, 1e-15, $"FastCB [{string.Join(",", y)}] γ={gamma}");
            Assert.Equal(1.0, sq.Sum(), 14);
            Assert.Equal(1.0, fast.Sum(), 14);
            Assert.All(sq.Concat(fast), p => Assert.True(p >= 0));
        }
    }

    /// <summary>SquareCB / FastCB with the neural regressor, the whole loop for 200 rounds on the reference's recorded
    /// uniforms (no replay steps: their C# draws cannot be reproduced in PyTorch): every arm, the predictions and
    /// probabilities at rounds 1, 2, 51 and 200, the regret and the final parameters.</summary>
    [Theory]
    [InlineData("squarecb")]
    [InlineData("fastcb")]
    public void RegressionBanditsReproduceTheReferenceLoop(string which)
    {
        var g = Fixture.GetProperty("regression");
        var f = g.GetProperty(which);
        int rounds = g.GetProperty("rounds").GetInt32(), hidden = g.GetProperty("hidden").GetInt32();
        var uniforms = OnlineLearnerTests.Doubles(g.GetProperty("uniforms"));
        int drawn = 0;
        var order = Ints(Fixture.GetProperty("order"));
        var expected = Ints(f.GetProperty("arms"));
        var data = DigitsData.Value;
        var net = new BanditNetwork(640, hidden, FixtureParameters(640, hidden));
        var policy = new NeuralRegressionBandit(10, net, which == "squarecb" ? RegressionLoss.Square : RegressionLoss.CrossEntropy,
            g.GetProperty("gamma").GetDouble(), () => uniforms[drawn++], g.GetProperty("learning_rate").GetDouble(), replaySteps: 0);
        var at = f.GetProperty("probabilities_at");
        int mistakes = 0;
        for (int t = 0; t < rounds; t++)
        {
            int i = order[t];
            var ctx = Disjoint(data.Features[i], 10);
            if (at.TryGetProperty(t.ToString(System.Globalization.CultureInfo.InvariantCulture), out var snap))
            {
                OnlineLearnerTests.Close(OnlineLearnerTests.Doubles(snap.GetProperty("predicted")), policy.Scores(ctx), 1e-12, $"predictions in round {t + 1}");
                OnlineLearnerTests.Close(OnlineLearnerTests.Doubles(snap.GetProperty("probabilities")), policy.Probabilities(ctx), 1e-12, $"probabilities in round {t + 1}");
            }
            int arm = policy.SelectArm(ctx);
            Assert.True(arm == expected[t], $"round {t + 1}: arm {arm}, reference {expected[t]}");
            double r = arm == data.Labels[i] ? 1 : 0;
            mistakes += 1 - (int)r;
            policy.Update(ctx[arm], arm, r);
        }
        Assert.Equal(rounds, drawn);
        Assert.Equal(f.GetProperty("regret").GetInt32(), mistakes);
        var p = net.Parameters;
        double sum = 0, sq = 0;
        foreach (double v in p) { sum += v; sq += v * v; }
        Assert.Equal(f.GetProperty("param_sum").GetDouble(), sum, 9);
        Assert.Equal(f.GetProperty("param_sq").GetDouble(), sq, 9);
        OnlineLearnerTests.Close(OnlineLearnerTests.Doubles(f.GetProperty("fc2_weight")), p.Slice(hidden * 641, hidden), 1e-10, "fc2 weight");
        Assert.Equal(f.GetProperty("fc2_bias").GetDouble(), p[^1], 10);
    }

    /// <summary>The fixture's deterministic initialization (the same formula as tools/golden/online_bandits.py).</summary>
    private static double[] FixtureParameters(int nIn, int hidden)
    {
        int p = hidden * nIn + 2 * hidden + 1;
        var w = new double[p];
        for (int k = 0; k < p; k++)
        {
            int fan = k < hidden * nIn + hidden ? nIn : hidden;
            w[k] = ((7919L * k + 17) % 2001 - 1000) / 1000.0 * (1.0 / Math.Sqrt(fan));
        }
        return w;
    }

    [Theory]
    [InlineData("ucb")]
    [InlineData("ts")]
    public void NeuralBanditsReproduceTheReference(string which)
    {
        var n = Fixture.GetProperty("neural");
        var f = n.GetProperty(which);
        int rounds = n.GetProperty("rounds").GetInt32(), hidden = n.GetProperty("hidden").GetInt32();
        double lambda = n.GetProperty("lambda").GetDouble(), nu = n.GetProperty("nu").GetDouble();
        var normals = OnlineLearnerTests.Rows(n.GetProperty("normals")).SelectMany(r => r).ToArray();
        int drawn = 0;
        var order = Ints(Fixture.GetProperty("order"));
        var expected = Ints(f.GetProperty("arms"));
        var data = DigitsData.Value;
        var net = new BanditNetwork(640, hidden, FixtureParameters(640, hidden));
        var schedule = new NeuralTrainingSchedule(300, 100, 50, 200);
        NeuralDiagonalBandit policy = which == "ucb"
            ? new NeuralUcb(10, net, lambda, nu, schedule, shuffleSeed: null)
            : new NeuralTs(10, net, () => normals[drawn++], lambda, nu, schedule, shuffleSeed: null);
        var sigmas = OnlineLearnerTests.Doubles(f.GetProperty("first_sigmas"));
        int mistakes = 0;
        for (int t = 0; t < rounds; t++)
        {
            int i = order[t];
            var ctx = Disjoint(data.Features[i], 10);
            if (t < 2) OnlineLearnerTests.Close(sigmas[(t * 10)..(t * 10 + 10)], policy.MeanAndWidth(ctx).Width, 1e-12, $"σ in round {t + 1}");
            int arm = policy.SelectArm(ctx);
            Assert.True(arm == expected[t], $"round {t + 1}: arm {arm}, reference {expected[t]}");
            double r = arm == data.Labels[i] ? 1 : 0;
            mistakes += 1 - (int)r;
            policy.Update(ctx[arm], arm, r);
            if (t == 0)
            {
                var ft = f.GetProperty("first_train");
                int a0 = ft.GetProperty("arm").GetInt32();
                var p = net.Parameters;
                var block = new double[hidden * 64];
                double other = 0;
                for (int j = 0; j < hidden; j++)
                    for (int c = 0; c < 640; c++)
                    {
                        if (c / 64 == a0) block[j * 64 + c % 64] = p[j * 640 + c];
                        else other += p[j * 640 + c];
                    }
                OnlineLearnerTests.Close(OnlineLearnerTests.Doubles(ft.GetProperty("fc1_block")), block, 1e-10, "fc1 block after the first training");
                OnlineLearnerTests.Close(OnlineLearnerTests.Doubles(ft.GetProperty("fc1_bias")), p.Slice(hidden * 640, hidden), 1e-10, "fc1 bias");
                OnlineLearnerTests.Close(OnlineLearnerTests.Doubles(ft.GetProperty("fc2_weight")), p.Slice(hidden * 641, hidden), 1e-10, "fc2 weight");
                Assert.Equal(ft.GetProperty("fc2_bias").GetDouble(), p[^1], 10);
                Assert.Equal(ft.GetProperty("fc1_other_sum").GetDouble(), other, 9);
            }
        }
        Assert.Equal(f.GetProperty("regret").GetInt32(), mistakes);
        OnlineLearnerTests.Close(OnlineLearnerTests.Doubles(f.GetProperty("u_tail")), policy.U[(hidden * 640)..], 1e-10, "U of fc1 bias, fc2");
        Assert.Equal(1.0, policy.U.ToArray().Sum() / f.GetProperty("u_sum").GetDouble(), 10);
        var all = net.Parameters.ToArray();
        Assert.Equal(1.0, all.Sum() / f.GetProperty("param_sum").GetDouble(), 8);
        Assert.Equal(1.0, all.Sum(v => v * v) / f.GetProperty("param_sq").GetDouble(), 10);
        if (which == "ts") Assert.Equal(rounds * 10, drawn);
    }

    [Fact]
    public void BadInputIsRejectedBeforeAnyStateChanges()
    {
        var policies = new IBanditPolicy[]
        {
            new LinUcb(3, 4, 0.5),
            new DiagLinUcb(3, 4, 0.5),
            new NeuralUcb(3, new BanditNetwork(4, 5, seed: 1)),
            new NeuralTs(3, new BanditNetwork(4, 5, seed: 1), NeuralTs.GaussianSource(1)),
            new NeuralRegressionBandit(3, new BanditNetwork(4, 5, seed: 1), RegressionLoss.Square, 10, new Random(1).NextDouble),
            new UniformRandomBandit(3, 4, new Random(1).NextDouble),
        };
        var good = Repeat(new[] { 0.5, 0.5, 0.5, 0.5 }, 3);
        foreach (var p in policies)
        {
            var before = p.Scores(good);
            var e = Assert.Throws<ArgumentException>(() => p.SelectArm(Array.Empty<double[]>()));
            Assert.Contains("no arms", e.Message);
            e = Assert.Throws<ArgumentException>(() => p.SelectArm(Repeat(new double[4], 2)));
            Assert.Contains("2 arms", e.Message);
            e = Assert.Throws<ArgumentException>(() => p.SelectArm(new[] { new double[4], new double[5], new double[4] }));
            Assert.Contains("contexts[1] has dimension 5, the policy expects 4", e.Message);
            e = Assert.Throws<ArgumentException>(() => p.Update(new double[5], 0, 1));
            Assert.Contains("dimension 5", e.Message);
            e = Assert.Throws<ArgumentException>(() => p.Update(new double[4], 3, 1));
            Assert.Contains("arm 3", e.Message);
            Assert.Throws<ArgumentException>(() => p.Update(new double[4], 0, double.NaN));
            Assert.Throws<ArgumentException>(() => p.SelectArm(Repeat(new[] { 0, double.NaN, 0, 0 }, 3)));
            Assert.Equal(before, p.Scores(good));
        }
        Assert.Throws<ArgumentException>(() => new LinUcb(0, 4, 1));
        Assert.Throws<ArgumentException>(() => new DiagLinUcb(2, 0, 1));
        Assert.Throws<ArgumentException>(() => new LinUcb(2, 4, -1));
        Assert.Throws<ArgumentException>(() => RegressionOracleExploration.SquareCb(Array.Empty<double>(), 1));
        Assert.Throws<ArgumentException>(() => RegressionOracleExploration.FastCb(new[] { 0.5 }, -1));
    }
}
