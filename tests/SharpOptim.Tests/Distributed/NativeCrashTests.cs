using SharpOptim.Distributed;
using SharpOptim.Tasks.Distributed;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Distributed;

/// <summary>
/// Regression tests of the segmentation fault of <c>sharpoptim dist</c> with several in-process workers
/// (docs/distributed/README.md, "Native crash"): TorchSharp 0.107 passes a tensor's raw handle to libtorch and does not
/// keep the wrapper reachable during the call, so a temporary that nothing references can be finalized — its
/// at::Tensor deleted — by a garbage collection that another rank's thread starts while libtorch still reads it.
/// The per-rank code must therefore leave no temporary unreferenced: every tensor it creates outside a dispose scope
/// is disposed by it (an exact count from TorchSharp's per-thread statistics), and the rest live in a scope. Both tests
/// failed on the code before the fix (8 tensors left by the single-thread path, 48 per rank by two DiLoCo rounds); a
/// timing-based stress test (four threads flattening a 100k-parameter model beside a thread forcing collections for
/// 2 s) did not reproduce the crash on the old code in one run, so it is not kept: the counts are the guard.
/// </summary>
public class NativeCrashTests
{
    private static long Unreleased()
    {
        var s = DisposeScopeManager.Statistics;
        return s.CreatedOutsideScopeCount - s.DisposedOutsideScopeCount;
    }

    [Fact]
    public void WorkerProblemLeavesNoTemporaryToTheFinalizer()
    {
        using var task = new DistributedTask("digits-l1");
        var (problem, _) = task.CreateWorker(0, 2, "iid", 0.1, seed: 3, batch: 8);
        var flat = new float[problem.Length];
        var grads = new float[problem.Length];
        using var model = task.CreateModel(); // its parameters are created (outside a scope) before the count starts
        long before = Unreleased();
        problem.CopyParametersTo(flat);
        problem.SetParameters(flat);
        using (NewDisposeScope()) problem.NextLoss().backward();
        problem.CopyGradientsTo(grads);
        // Evaluate zeroes the gradients (p.grad returns a new wrapper per call) and takes a full-batch gradient.
        var metrics = task.Evaluate(model, flat);
        // Before the fix: Flatten's detach/to/cpu/contiguous (4 per parameter, 2 calls × 2 parameters) and Evaluate's
        // p.grad wrappers were created outside any scope and left to the finalizer.
        Assert.Equal(0, Unreleased() - before);
        Assert.True(double.IsFinite(metrics["stationarity"]));
        Assert.Contains(grads, g => g != 0);
    }

    [Fact]
    public void DiLoCoRoundsOnRankThreadsLeaveNoTemporaryToTheFinalizer()
    {
        using var task = new DistributedTask("digits");
        var leaked = new long[2];
        InProcessWorld.Run(2, comm =>
        {
            var (problem, _) = task.CreateWorker(comm.Rank, comm.Size, "iid", 0.1, seed: 1, batch: 16);
            var algorithm = new DiLoCo(problem, comm, innerSteps: 3, innerLr: 1e-3);
            var reported = new float[problem.Length];
            long before = Unreleased();
            for (int r = 0; r < 2; r++) algorithm.Round();
            algorithm.CopyReportedParametersTo(reported);
            problem.CopyParametersTo(reported);
            leaked[comm.Rank] = Unreleased() - before;
        }, TimeSpan.FromSeconds(60));
        Assert.Equal(new long[] { 0, 0 }, leaked);
    }
}
