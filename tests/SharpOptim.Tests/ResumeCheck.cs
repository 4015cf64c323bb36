using SharpOptim.Checkpoints;
using SharpOptim.Optimizers;
using SharpOptim.Tasks.Models;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// The checkpoint-resume check shared by optimizers with non-standard state: on a one-block character transformer
/// (vocabulary 13, context 8, width 16, 4 heads), <c>total</c> steps straight must equal <c>split</c> steps, a
/// <see cref="Checkpoint"/> save, a load into freshly built objects and the remaining steps, bit for bit.
/// </summary>
internal static class ResumeCheck
{
    public static void TransformerResumesBitForBit<TOpt>(Func<CharTransformer, TOpt> makeOptimizer, int total, int split,
        Action<TOpt>? afterLoad = null) where TOpt : OptimizerBase
    {
        string dir = Directory.CreateTempSubdirectory("sharpoptim-resume-").FullName;
        try
        {
            (CharTransformer M, TOpt O) Make()
            {
                manual_seed(5);
                var m = new CharTransformer(13, 8, 16, 4, 1);
                return (m, makeOptimizer(m));
            }
            static void Steps(CharTransformer m, TOpt o, int from, int n)
            {
                for (int s = from; s < from + n; s++)
                {
                    o.zero_grad();
                    var x = arange(8, dtype: ScalarType.Int64).add(s).remainder(13).view(1, 8);
                    m.forward(x).square().mean().backward();
                    o.step();
                }
            }
            var (m1, o1) = Make();
            Steps(m1, o1, 0, total);
            var (m2, o2) = Make();
            Steps(m2, o2, 0, split);
            string path = Path.Combine(dir, "resume.ckpt");
            Checkpoint.Save(path, o2, m2);
            var (m3, o3) = Make();
            Checkpoint.Load(path, o3, m3);
            afterLoad?.Invoke(o3);
            Steps(m3, o3, split, total - split);
            foreach (var ((n, a), (_, b)) in m1.named_parameters().Zip(m3.named_parameters()))
                Assert.True(a.data<float>().ToArray().SequenceEqual(b.data<float>().ToArray()), $"{typeof(TOpt).Name}: {n} differs after resume");
            foreach (var o in new OptimizerBase[] { o1, o2, o3 }) o.Dispose();
            foreach (var m in new[] { m1, m2, m3 }) m.Dispose();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
