using System.Text.Json;
using SharpOptim.Distributed;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// The shared set-up of tools/golden/distributed_lowcomm.py (Streaming DiLoCo, NoLoCo, CO2, FedSpeed tests): a 4-6-3
/// tanh MLP with the fixture's initial weights and, per worker, the fixture's fixed mini-batches in order.
/// </summary>
internal static class StreamingDiLoCoGolden
{
    private static readonly Lazy<JsonDocument> Document = new(() => Golden.Load("distributed_lowcomm.json"));

    public static JsonElement Root => Document.Value.RootElement;

    public static int Workers => Root.GetProperty("workers").GetInt32();

    public static float[] Initial()
    {
        var init = Root.GetProperty("init");
        return Enumerable.Range(0, 4).SelectMany(i => init.GetProperty($"p{i}").GetProperty("values").Floats()).ToArray();
    }

    /// <summary>A fresh model with the fixture's weights, and a source of (rank)'s batches: each call draws the next batch and returns its loss closure.</summary>
    public static (nn.Module Model, Func<Func<Tensor>> NextBatch) Worker(int rank)
    {
        var model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3));
        new WorkerProblem(model, () => throw new InvalidOperationException()).SetParameters(Initial());
        int steps = Root.GetProperty("steps_per_worker").GetInt32(), batch = Root.GetProperty("batch").GetInt32();
        var x = Root.GetProperty("x").Floats();
        var y = Root.GetProperty("y").Longs();
        int cursor = 0;
        Func<Func<Tensor>> next = () =>
        {
            if (cursor >= steps) throw new InvalidOperationException("the fixture has no more batches for this worker.");
            int start = (rank * steps + cursor) * batch;
            cursor++;
            var xs = x.AsSpan(start * 4, batch * 4).ToArray();
            var ys = y.AsSpan(start, batch).ToArray();
            return () =>
            {
                var input = tensor(xs, new long[] { batch, 4 });
                var target = tensor(ys, new long[] { batch });
                return nn.functional.cross_entropy(model.call(input), target);
            };
        };
        return (model, next);
    }

    public static WorkerProblem Problem(int rank)
    {
        var (model, next) = Worker(rank);
        return new WorkerProblem(model, () => next()());
    }

    public static optim.Optimizer AdamW(WorkerProblem p) =>
        optim.AdamW(p.Parameters, lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1);

    public static optim.Optimizer Adam(WorkerProblem p) => optim.Adam(p.Parameters, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8);

    /// <summary>Runs <paramref name="rounds"/> rounds of the algorithm on every rank in process and returns each rank's reported parameters.</summary>
    public static float[][] Run(int workers, int rounds, Func<ICommunicator, IDistributedAlgorithm> create)
    {
        var reported = new float[workers][];
        InProcessWorld.Run(workers, c =>
        {
            var algorithm = create(c);
            for (int r = 0; r < rounds; r++) algorithm.Round();
            var into = new float[Initial().Length];
            algorithm.CopyReportedParametersTo(into);
            reported[c.Rank] = into;
        }, TimeSpan.FromSeconds(60));
        return reported;
    }

    /// <summary>
    /// Element-wise |a − e| ≤ atol + rtol·|e|. The fixture is PyTorch float32 with its own operation order; the C# side
    /// rounds float64 outer arithmetic once, and the libtorch versions differ (1.13 vs 2.10), so agreement is to a few
    /// float32 ulps amplified over 12 inner steps, not bitwise.
    /// </summary>
    public static void AssertClose(float[] expected, float[] actual, double rtol = 2e-5, double atol = 2e-6)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= atol + rtol * Math.Abs(expected[i]),
                FormattableString.Invariant($"element {i}: expected {expected[i]}, got {actual[i]}"));
    }
}
