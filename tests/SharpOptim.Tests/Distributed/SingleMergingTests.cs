using SharpOptim.Distributed;
using TorchSharp;
using Xunit;

namespace SharpOptim.Tests.Distributed;

public class SingleMergingTests
{
    [Fact]
    public void RandomRRowsHoldSelfPlusFloorROrOneMoreWithTheRightFrequency()
    {
        int extraTotal = 0, rows = 0;
        for (int t = 0; t < 400; t++)
            foreach (var (row, i) in SingleMerging.RandomRows(5, t, 8, 1.3).Select((r, i) => (r, i)))
            {
                Assert.Contains(i, row);
                Assert.Equal(row.Length, row.Distinct().Count());
                Assert.InRange(row.Length, 2, 3);
                extraTotal += row.Length - 1;
                rows++;
            }
        // mean extra neighbours = 1.3; 3200 Bernoulli(0.3) draws: sd ≈ 0.008, bound 5 sd.
        Assert.InRange((double)extraTotal / rows, 1.3 - 0.04, 1.3 + 0.04);
        Assert.All(SingleMerging.RandomRows(1, 0, 6, 5), r => Assert.Equal(6, r.Length)); // r = n − 1: full averaging
    }

    [Fact]
    public void PerWorkerGossipAndFinalMergeEqualTheStackedComputation()
    {
        // 4 workers, SGD, 2 local steps per round, 8 steps: rounds 1–3 gossip with r = 0.7 (truncate at 0.7 → r = 3
        // for the third round), round 4 ends in the merge. Reference: the same models stepped one after another and
        // mixed as X ← W X with the same rows.
        var options = new SingleMergingOptions { LocalSteps = 2, TotalSteps = 8, RStart = 0.7, Point1 = 0.7, Seed = 21 };
        var reported = StreamingDiLoCoGolden.Run(4, 4, c =>
        {
            var p = StreamingDiLoCoGolden.Problem(c.Rank);
            return new SingleMerging(c, p, torch.optim.SGD(p.Parameters, 0.1), options);
        });

        var problems = Enumerable.Range(0, 4).Select(StreamingDiLoCoGolden.Problem).ToArray();
        var sgd = problems.Select(p => torch.optim.SGD(p.Parameters, 0.1)).ToArray();
        int d = problems[0].Length;
        var x = problems.Select(_ => new float[d]).ToArray();
        for (int round = 0; round < 4; round++)
        {
            for (int i = 0; i < 4; i++)
                for (int s = 0; s < 2; s++)
                {
                    sgd[i].zero_grad();
                    problems[i].NextLoss().backward();
                    sgd[i].step();
                }
            for (int i = 0; i < 4; i++) problems[i].CopyParametersTo(x[i]);
            double[][] mixed;
            if (round < 3)
            {
                double r = (round + 1) * 2 / 8.0 < 0.7 ? 0.7 : 3;
                var rows = SingleMerging.RandomRows(21, round, 4, r);
                mixed = rows.Select(row => Enumerable.Range(0, d).Select(k => row.Sum(j => (double)x[j][k]) / row.Length).ToArray()).ToArray();
            }
            else mixed = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, d).Select(k => x.Sum(v => (double)v[k]) / 4).ToArray()).ToArray();
            for (int i = 0; i < 4; i++) problems[i].SetParameters(mixed[i].Select(v => (float)v).ToArray());
        }
        for (int i = 0; i < 4; i++)
        {
            var expected = new float[d];
            problems[i].CopyParametersTo(expected);
            StreamingDiLoCoGolden.AssertClose(expected, reported[i], 1e-6, 1e-7);
            Assert.Equal(reported[0], reported[i]); // merged: one model
        }
    }

    [Fact]
    public void RoundsAfterTheMergeAndBadOptionsAreRejected()
    {
        InProcessWorld.Run(2, c =>
        {
            var p = StreamingDiLoCoGolden.Problem(c.Rank);
            var algorithm = new SingleMerging(c, p, torch.optim.SGD(p.Parameters, 0.1), new SingleMergingOptions { LocalSteps = 1, TotalSteps = 1 });
            algorithm.Round();
            Assert.True(algorithm.Merged);
            Assert.Throws<InvalidOperationException>(() => algorithm.Round());
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SingleMerging(c, p, torch.optim.SGD(p.Parameters, 0.1), new SingleMergingOptions { RStart = 2 }));
            Assert.Contains("RStart", e.Message);
        });
    }
}
