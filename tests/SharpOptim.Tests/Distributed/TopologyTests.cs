using SharpOptim.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

public class TopologyTests
{
    [Theory]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(11)]
    public void RingEigenvaluesMatchTheClosedForm(int n)
    {
        var ring = Topology.Ring(n);
        Assert.True(ring.Matrix().IsSymmetric);
        Assert.True(ring.IsDoublyStochastic());
        // Circulant with symbol (1 + 2cos(2πk/n))/3, k = 0…n−1 (brief §17).
        var expected = Enumerable.Range(0, n).Select(k => (1 + 2 * Math.Cos(2 * Math.PI * k / n)) / 3).OrderByDescending(v => v).ToArray();
        var actual = ring.Matrix().Eigenvalues();
        for (int k = 0; k < n; k++) Assert.Equal(expected[k], actual[k], 12);
        double rho = expected.Skip(1).Max(Math.Abs);
        Assert.Equal(1 - rho, ring.SpectralGap, 12);
    }

    [Fact]
    public void TorusAndCompleteGapsMatchClosedForms()
    {
        // Torus r×c: eigenvalues (1 + 2cos(2πa/r) + 2cos(2πb/c))/5.
        var torus = Topology.Torus(3, 4);
        var values = new List<double>();
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 4; b++) values.Add((1 + 2 * Math.Cos(2 * Math.PI * a / 3) + 2 * Math.Cos(2 * Math.PI * b / 4)) / 5);
        double rho = values.OrderByDescending(v => v).Skip(1).Max(Math.Abs);
        Assert.Equal(1 - rho, torus.SpectralGap, 12);
        Assert.Equal(1.0, Topology.FullyConnected(6).SpectralGap, 12); // W − J = 0
        Assert.Equal(12, Topology.Create("torus", 12).Size);
    }

    [Fact]
    public void ExponentialGraphIsDirectedDoublyStochasticWithTheRightNeighbours()
    {
        var exp = Topology.Exponential(8);
        var w = exp.Matrix();
        Assert.True(w.IsDoublyStochastic);
        Assert.False(w.IsSymmetric);
        // n = 8: hops 1, 2, 4 (k ≤ ⌊log₂ 7⌋ = 2), weight 1/4 each including self.
        var nb = exp.Neighbours(0);
        Assert.Equal(0.25, nb.SelfWeight, 15);
        Assert.Equal(new[] { 4, 6, 7 }, nb.In);        // receives from 0 − 2^k mod 8
        Assert.Equal(new[] { 1, 2, 4 }, nb.Out);       // sends to 0 + 2^k
        Assert.All(nb.InWeights, v => Assert.Equal(0.25, v, 15));
        Assert.InRange(exp.SpectralGap, 1e-6, 1 - 1e-6);
    }

    [Fact]
    public void TimeVaryingTopologiesAreDoublyStochasticEveryRound()
    {
        var onePeer = Topology.OnePeerExponential(8);
        Assert.True(onePeer.IsTimeVarying);
        Assert.True(onePeer.IsDoublyStochastic(12));
        Assert.Equal(new[] { 1 }, onePeer.Neighbours(0, 0).Out);
        Assert.Equal(new[] { 2 }, onePeer.Neighbours(0, 1).Out);
        Assert.Equal(new[] { 4 }, onePeer.Neighbours(0, 2).Out);
        Assert.Equal(new[] { 1 }, onePeer.Neighbours(0, 3).Out); // τ = 3

        var pairing = Topology.RandomPairing(6, seed: 4);
        Assert.True(pairing.IsDoublyStochastic(20));
        for (int t = 0; t < 5; t++)
        {
            var m = pairing.Matrix(t);
            Assert.True(m.IsSymmetric);
            for (int i = 0; i < 6; i++) Assert.Single(pairing.Neighbours(i, t).In); // a perfect matching with n even
        }
        // The same (seed, round) gives the same matching on every rank.
        Assert.Equal(pairing.Neighbours(2, 3).In, Topology.RandomPairing(6, 4).Neighbours(2, 3).In);
    }

    [Fact]
    public void MetropolisHastingsIsSymmetricDoublyStochasticOnAnIrregularGraph()
    {
        // A star with a tail: degrees 3, 1, 1, 2, 1.
        var adj = new bool[5, 5];
        void Edge(int a, int b) { adj[a, b] = true; adj[b, a] = true; }
        Edge(0, 1); Edge(0, 2); Edge(0, 3); Edge(3, 4);
        var mh = Topology.MetropolisHastings(adj);
        Assert.True(mh.Matrix().IsSymmetric);
        Assert.True(mh.IsDoublyStochastic());
        Assert.Equal(0.25, mh.Matrix()[0, 3], 15);   // 1/(1 + max(3, 2))
        Assert.Equal(1.0 / 3, mh.Matrix()[3, 4], 15); // 1/(1 + max(2, 1))
        Assert.Equal(0.75, mh.Matrix()[1, 1], 15);
    }

    [Fact]
    public void ANonDoublyStochasticMatrixIsRejectedWhereOneIsRequired()
    {
        var rowOnly = new double[,] { { 0.5, 0.5, 0 }, { 0.5, 0.5, 0 }, { 0, 0.5, 0.5 } }; // column 1 sums to 1.5
        var e = Assert.Throws<ArgumentException>(() => Topology.FromMatrix(rowOnly));
        Assert.Contains("column 1", e.Message);
        var t = Topology.FromMatrix(rowOnly, requireDoublyStochastic: false);
        Assert.False(t.IsDoublyStochastic());
        var e2 = Assert.Throws<ArgumentException>(() => t.RequireDoublyStochastic("topology", "D-SGD"));
        Assert.Contains("D-SGD", e2.Message);
        Assert.Throws<ArgumentException>(() => Topology.FromMatrix(new double[,] { { 0.9, 0.2 }, { 0.1, 0.8 } }));
        Assert.Throws<ArgumentException>(() => new MixingMatrix(new double[,] { { 1.5, -0.5 }, { -0.5, 1.5 } }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Topology.Ring(2));
        var unknown = Assert.Throws<ArgumentException>(() => Topology.Create("star", 4));
        Assert.Contains("star", unknown.Message);
    }

    [Fact]
    public void PartitionsAreDeterministicDisjointAndCoverTheData()
    {
        var rng = new Random(1);
        var labels = Enumerable.Range(0, 1000).Select(_ => rng.Next(10)).ToArray();
        foreach (var scheme in DataPartition.Schemes)
        {
            var a = DataPartition.Split(labels, 7, scheme, seed: 3, alpha: 0.1, classesPerWorker: 2);
            var b = DataPartition.Split(labels, 7, scheme, seed: 3, alpha: 0.1, classesPerWorker: 2);
            Assert.Equal(7, a.Length);
            for (int w = 0; w < 7; w++) Assert.Equal(a[w], b[w]);
            var all = a.SelectMany(s => s).OrderBy(i => i).ToArray();
            Assert.Equal(Enumerable.Range(0, 1000), all); // a partition: disjoint, covering
            // iid and Dirichlet: 1000/7 rows each; pathological: two of the 14 shards of 71 or 72 rows.
            Assert.All(a, s => Assert.InRange(s.Length, 142, scheme == "pathological" ? 144 : 143));
        }
        Assert.NotEqual(DataPartition.Split(labels, 7, "iid", 3)[0], DataPartition.Split(labels, 7, "iid", 4)[0]);
    }

    [Fact]
    public void HeterogeneityOrdersAsExpected()
    {
        var rng = new Random(2);
        var labels = Enumerable.Range(0, 2000).Select(_ => rng.Next(10)).ToArray();
        // Mean number of classes holding ≥ 5% of a worker's rows.
        double Classes(int[][] shards) => shards.Average(s => s.GroupBy(i => labels[i]).Count(g => g.Count() >= 0.05 * s.Length));
        double iid = Classes(DataPartition.Split(labels, 10, "iid", 0));
        double dir = Classes(DataPartition.Split(labels, 10, "dirichlet", 0, alpha: 0.1));
        double path = Classes(DataPartition.Split(labels, 10, "pathological", 0, classesPerWorker: 2));
        Assert.Equal(10, iid);          // 200 rows per worker: every class is near 10%
        Assert.True(dir < 5, $"Dirichlet(0.1) should concentrate each worker on few classes; got {dir}");
        Assert.InRange(path, 1, 3);     // two label-sorted shards span at most 3 classes
        var e = Assert.Throws<ArgumentException>(() => DataPartition.Split(labels, 4, "zipf", 0));
        Assert.Contains("zipf", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => DataPartition.Split(labels, 4, "dirichlet", 0, alpha: 0));
    }
}
