using SharpOptim.Distributed;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests.Distributed;

public class WorkerProblemTests
{
    [Fact]
    public void FlatVectorsFollowParameterOrderAndRoundTrip()
    {
        manual_seed(3);
        var model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1));
        var x = randn(5, 3);
        var problem = new WorkerProblem(model, () => model.call(x).square().mean());
        Assert.Equal(3 * 2 + 2 + 2 * 1 + 1, problem.Length);

        var flat = new float[problem.Length];
        problem.CopyParametersTo(flat);
        var first = model.parameters().First().detach().reshape(-1).data<float>().ToArray();
        Assert.Equal(first, flat.Take(6).ToArray());

        var replaced = Enumerable.Range(0, problem.Length).Select(i => i * 0.5f).ToArray();
        problem.SetParameters(replaced);
        problem.CopyParametersTo(flat);
        Assert.Equal(replaced, flat);
        Assert.Equal(5f, model.parameters().Last().detach().item<float>()); // the last bias is element 10 of 11

        var grads = new float[problem.Length];
        problem.CopyGradientsTo(grads); // no backward yet: zeros
        Assert.All(grads, g => Assert.Equal(0f, g));
        problem.NextLoss().backward();
        problem.CopyGradientsTo(grads);
        Assert.Equal(model.parameters().Last().grad!.item<float>(), grads[^1]);

        var e = Assert.Throws<ArgumentException>(() => problem.SetParameters(new float[3]));
        Assert.Contains("got 3", e.Message);
        problem.CopyParametersTo(flat);
        Assert.Equal(replaced, flat); // unchanged by the rejected call
    }
}
