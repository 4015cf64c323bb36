using System.Globalization;
using SharpOptim.Distributed;
using SharpOptim.Distributed.Mpi;

namespace SharpOptim.Cli.Commands;

/// <summary>
/// <c>sharpoptim mpi-selftest</c>: what each rank runs under <c>mpirun</c> when the tests check the Open MPI backend
/// (tests/SharpOptim.Tests/Distributed/MpiCommunicatorTests.cs). Each check prints its raw results as
/// <c>RESULT NAME RANK v1 v2 ...</c> lines and the cumulative traffic as <c>STATS NAME RANK floats bytes messages syncs
/// peak</c>; the tests compute the expected values themselves (closed forms, a float64 stacked gossip) and compare.
/// <c>--case fail</c> makes one rank throw mid-run while the others block in a collective (the job must end at once,
/// through <see cref="MpiCommunicator.RunWorld"/>'s MPI_Abort); <c>--case exit</c> makes it vanish without a word
/// (Environment.Exit, no MPI_Finalize), which mpirun must notice; <c>--case size --expect N</c> checks the world-size
/// guard of <see cref="MpiCommunicator.InitializeWorld(int)"/>.
/// </summary>
public static class MpiSelftestCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool>
    {
        ["case"] = true, ["fail-rank"] = true, ["expect"] = true, ["rounds"] = true,
    };

    /// <summary>Gossip rounds of the ring-averaging check (and the round whose iterate is also printed).</summary>
    public const int GossipRounds = 40, GossipEarlyRound = 3;

    /// <summary>Length of the large all-reduce (odd, above the shared-memory eager limit: exercises the large-message path).</summary>
    public const int LargeLength = (1 << 20) + 3;

    public static int Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        string which = o.String("case", "all");
        int failRank = (int)o.Long("fail-rank", 1, 0, 1 << 20);
        int rounds = (int)o.Long("rounds", GossipRounds, GossipEarlyRound, 100_000);
        if (which is not ("all" or "fail" or "exit" or "size"))
            throw new UsageException($"mpi-selftest: --case must be all, fail, exit or size, got '{which}'.");
        if (!MpiRuntime.IsLaunchedByMpirun)
            throw new UsageException("mpi-selftest runs under mpirun, e.g. `mpirun -np 4 --oversubscribe sharpoptim mpi-selftest` (see README, Open MPI).");
        if (which == "size")
        {
            int expect = (int)o.Long("expect", 1, 1, 1 << 20);
            try
            {
                using var w = MpiCommunicator.InitializeWorld(expect);
                stdout.WriteLine(FormattableString.Invariant($"RESULT size {w.Rank} {w.Size}"));
                return 0;
            }
            catch (ArgumentException e)
            {
                stderr.WriteLine($"mpi-selftest: {CommandLine.MessageOf(e)}");
                return 2;
            }
        }
        return MpiCommunicator.RunWorld(world => which switch
        {
            "fail" => Fail(world, failRank, stdout, crash: false),
            "exit" => Fail(world, failRank, stdout, crash: true),
            _ => All(world, rounds, stdout),
        }, stderr);
    }

    private static int Fail(MpiCommunicator world, int failRank, TextWriter stdout, bool crash)
    {
        // Printed before the barrier: once any rank is past it, every rank's line is in mpirun's hands.
        stdout.WriteLine(FormattableString.Invariant($"RESULT started {world.Rank} {world.Size}"));
        world.Barrier();
        if (world.Rank == failRank % world.Size)
        {
            if (crash) Environment.Exit(3);
            throw new InvalidOperationException(FormattableString.Invariant($"rank {world.Rank} failed deliberately (mpi-selftest --case fail)"));
        }
        // The others wait in a collective the failed rank never joins: only an abort ends them.
        var buffer = new float[16];
        world.AllReduceSum(buffer);
        world.Barrier();
        stdout.WriteLine(FormattableString.Invariant($"RESULT unexpectedly-finished {world.Rank}"));
        return 0;
    }

    private static int All(MpiCommunicator world, int rounds, TextWriter stdout)
    {
        int r = world.Rank, n = world.Size;
        void Result(string name, IEnumerable<double> values) =>
            stdout.WriteLine(FormattableString.Invariant($"RESULT {name} {r} {string.Join(' ', values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}"));
        void Stats(string name)
        {
            var s = world.Stats;
            stdout.WriteLine(FormattableString.Invariant($"STATS {name} {r} {s.FloatsSent} {s.BytesSent} {s.MessagesSent} {s.GlobalSyncs} {s.PeakBytesPerSync}"));
        }

        Result("world", [n, world.ThreadLevel]);
        Stats("start");

        // All-reduce, small: rank r contributes 100·r + i.
        var small = Enumerable.Range(0, 7).Select(i => (float)(100 * r + i)).ToArray();
        world.AllReduceSum(small);
        Result("allreduce-small", small.Select(v => (double)v));
        Stats("allreduce-small");

        // All-reduce, large: (r+1)·(i mod 251), exact in float32; the sum and a weighted checksum are printed.
        var large = new float[LargeLength];
        for (int i = 0; i < large.Length; i++) large[i] = (r + 1) * (i % 251);
        world.AllReduceSum(large);
        Result("allreduce-large", Checksums(large));
        Stats("allreduce-large");

        // Pairwise: a ring shift, send to the right and receive from the left.
        var received = new float[3];
        world.SendReceive([r, r + 0.25f, -r], (r + 1) % n, received, (r - 1 + n) % n, tag: 7);
        Result("sendrecv", received.Select(v => (double)v));
        Stats("sendrecv");

        // Neighbour exchange on the static exponential graph (directed): out i + 2^k, in i − 2^k, k = 0..⌊log2(n−1)⌋.
        var hops = ExponentialHops(n);
        var outs = hops.Select(h => (r + h) % n).ToArray();
        var ins = hops.Select(h => ((r - h) % n + n) % n).ToArray();
        var exchanged = new float[2 * ins.Length];
        world.NeighbourExchange([10 * r + 1, 10 * r + 2], outs, ins, exchanged, tag: 1);
        Result("neighbours", exchanged.Select(v => (double)v));
        Stats("neighbours");

        // Broadcast from the last rank.
        var bcast = r == n - 1 ? new[] { 3.5f, -1f, 1048576f, 1e-3f } : Enumerable.Repeat(float.NaN, 4).ToArray();
        world.Broadcast(bcast, n - 1);
        Result("broadcast", bcast.Select(v => (double)v));
        Stats("broadcast");

        // Non-blocking all-reduce driven by Test, then one completed by Wait alone.
        var pinned = new PinnedBuffer(LargeLength);
        for (int i = 0; i < pinned.Length; i++) pinned.Array[i] = (r + 1) * (i % 13 - 6);
        var op = world.AllReduceSumAsync(pinned);
        while (!op.Test()) Thread.SpinWait(200); // the spin stands in for a compute step between polls
        bool stillDone = op.Test();
        op.Wait(); // returns at once
        var sumTested = Checksums(pinned.Array);
        for (int i = 0; i < pinned.Length; i++) pinned.Array[i] = r + 1;
        var op2 = world.AllReduceSumAsync(pinned);
        op2.Wait();
        Result("iallreduce", [.. sumTested, stillDone ? 1 : 0, op2.Test() ? 1 : 0, pinned.Array[0], pinned.Array[^1]]);
        Stats("iallreduce");

        // Ring gossip averaging with W_ii = W_i,i±1 = 1/3 (needs n ≥ 3): converges to the initial mean.
        if (n >= 3)
        {
            float third = 1f / 3f;
            var x = GossipStart(r);
            var nbrs = new[] { (r - 1 + n) % n, (r + 1) % n };
            var got = new float[2 * x.Length];
            for (int t = 1; t <= rounds; t++)
            {
                world.NeighbourExchange(x, nbrs, nbrs, got, tag: 2);
                for (int k = 0; k < x.Length; k++) x[k] = third * x[k] + third * got[k] + third * got[x.Length + k];
                if (t == GossipEarlyRound) Result("gossip-early", x.Select(v => (double)v));
            }
            Result("gossip", x.Select(v => (double)v));
            Stats("gossip");
        }

        // Bad input is refused before any MPI call (so no rank waits on it).
        string Refused(Action a)
        {
            try
            {
                a();
                return "accepted";
            }
            catch (ArgumentException e)
            {
                return e.GetType().Name;
            }
        }
        stdout.WriteLine($"RESULT bad-receive-length {r} {Refused(() => world.NeighbourExchange(new float[2], outs, ins, new float[2 * ins.Length + 1], 1))}");
        stdout.WriteLine($"RESULT bad-destination {r} {Refused(() => world.SendReceive(new float[1], n, new float[1], 0, 0))}");
        stdout.WriteLine($"RESULT bad-tag {r} {Refused(() => world.SendReceive(new float[1], 0, new float[1], 0, -3))}");
        string thread = "accepted";
        var other = new Thread(() =>
        {
            try
            {
                world.Barrier();
            }
            catch (InvalidOperationException)
            {
                thread = "InvalidOperationException";
            }
        });
        other.Start();
        other.Join();
        stdout.WriteLine($"RESULT other-thread {r} {thread}");
        Stats("end");
        world.Barrier();
        return 0;
    }

    /// <summary>Hops 2^k of the static exponential graph on n nodes, k = 0..⌊log2(n−1)⌋ (none for n = 1).</summary>
    public static int[] ExponentialHops(int n)
    {
        var hops = new List<int>();
        for (int h = 1; h <= n - 1; h *= 2) hops.Add(h);
        return [.. hops];
    }

    /// <summary>Rank r's starting vector of the gossip check (exact in float32).</summary>
    public static float[] GossipStart(int r) => [r * r, 1.5f * r - 2f, r % 2 == 0 ? 10f : -4f];

    /// <summary>Σ v_i and Σ v_i·(i mod 7) in float64: what a test can compare with a closed form.</summary>
    public static double[] Checksums(float[] v)
    {
        double sum = 0, weighted = 0;
        for (int i = 0; i < v.Length; i++)
        {
            sum += v[i];
            weighted += (double)v[i] * (i % 7);
        }
        return [sum, weighted];
    }
}
