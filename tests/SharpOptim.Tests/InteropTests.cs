using System.Text.Json;
using SharpOptim.Interop;
using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// State interop with PyTorch (files written by PyTorch 1.13, tools/golden/pytorch_state.py) and with TorchSharp's
/// own optimizers: a run saved by one resumes in the other on the same trajectory.
/// </summary>
public class InteropTests
{
    private static readonly string FixtureDir = Path.Combine(AppContext.BaseDirectory, "Golden", "pytorch_state");

    public static IEnumerable<object[]> PyTorchCases() => new[] { "adamw", "adam_amsgrad", "sgd_nesterov" }.Select(n => new object[] { n });

    /// <summary>Our optimizer of the fixture's kind over [w] and [b], created with deliberately different options:
    /// every hyperparameter that matters must come from the file.</summary>
    private static OptimizerBase Create(string name, Parameter w, Parameter b) => name switch
    {
        "adamw" => new Optimizers.AdamW(new ParamGroup[] { new() { Parameters = new[] { w } }, new() { Parameters = new[] { b } } }, lr: 1, weight_decay: 0.5),
        "adam_amsgrad" => new Optimizers.Adam(new ParamGroup[] { new() { Parameters = new[] { w } }, new() { Parameters = new[] { b } } }, lr: 1, amsgrad: true),
        "sgd_nesterov" => new Optimizers.SGD(new ParamGroup[] { new() { Parameters = new[] { w } }, new() { Parameters = new[] { b } } }, lr: 1, momentum: 0.5, nesterov: true),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(PyTorchCases))]
    public void APyTorchRunResumesOnPyTorchsTrajectory(string name)
    {
        using var doc = Golden.Load("pytorch_state.json");
        var c = doc.RootElement.GetProperty("cases").GetProperty(name);
        foreach (var path in new[] { ExecutionPath.Fused, ExecutionPath.Portable })
        {
            using var w = new Parameter(tensor(c.GetProperty("at_save").GetProperty("w").Floats()).reshape(5, 4));
            using var b = new Parameter(tensor(c.GetProperty("at_save").GetProperty("b").Floats()));
            using var opt = Create(name, w, b);
            opt.Path = path;
            PyTorchOptimizerState.Load(Path.Combine(FixtureDir, c.GetProperty("file").GetString()!), opt);
            var groups = c.GetProperty("groups").EnumerateArray().ToList();
            for (int gi = 0; gi < 2; gi++)
                Assert.Equal(groups[gi].GetProperty("lr").GetDouble(), opt.Groups[gi].Options.LearningRate!.Value, 15);
            Assert.All(opt.States, s => Assert.True(s.IsInitialized));
            if (name != "sgd_nesterov") Assert.All(opt.States, s => Assert.Equal(5, s.Step));
            var grads = c.GetProperty("grads").EnumerateArray().ToList();
            var after = c.GetProperty("after").EnumerateArray().ToList();
            for (int t = 0; t < grads.Count; t++)
            {
                w.grad = tensor(grads[t].GetProperty("w").Floats()).reshape(5, 4);
                b.grad = tensor(grads[t].GetProperty("b").Floats());
                opt.step();
                Approx.AllClose(after[t].GetProperty("w").Floats(), w.data<float>().ToArray(), 1e-5, 1e-7, $"{name} ({path}) w after resumed step {t + 1}");
                Approx.AllClose(after[t].GetProperty("b").Floats(), b.data<float>().ToArray(), 1e-5, 1e-7, $"{name} ({path}) b after resumed step {t + 1}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(PyTorchCases))]
    public void PyTorchFilesWrittenBySharpOptimLoadBackBitForBit(string name)
    {
        using var doc = Golden.Load("pytorch_state.json");
        var c = doc.RootElement.GetProperty("cases").GetProperty(name);
        using var w = new Parameter(tensor(c.GetProperty("at_save").GetProperty("w").Floats()).reshape(5, 4));
        using var b = new Parameter(tensor(c.GetProperty("at_save").GetProperty("b").Floats()));
        using var opt = Create(name, w, b);
        PyTorchOptimizerState.Load(Path.Combine(FixtureDir, c.GetProperty("file").GetString()!), opt);
        string dir = Directory.CreateTempSubdirectory("sharpoptim-interop").FullName;
        try
        {
            string file = Path.Combine(dir, "state.pt");
            PyTorchOptimizerState.Save(file, opt);
            Assert.Equal(new[] { file }, Directory.GetFiles(dir));   // no temporary left
            using var w2 = new Parameter(w.detach().clone());
            using var b2 = new Parameter(b.detach().clone());
            using var again = Create(name, w2, b2);
            PyTorchOptimizerState.Load(file, again);
            Assert.Equal(TestModels.StateSnapshot(opt), TestModels.StateSnapshot(again));
            Assert.Equal(opt.States.Select(s => s.Step), again.States.Select(s => s.Step));
            Assert.Equal(opt.Groups.Select(g => g.Options.ToString()), again.Groups.Select(g => g.Options.ToString()));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AFileThatDoesNotFitChangesNothing()
    {
        using var doc = Golden.Load("pytorch_state.json");
        var c = doc.RootElement.GetProperty("cases").GetProperty("adamw");
        string file = Path.Combine(FixtureDir, c.GetProperty("file").GetString()!);
        // Wrong shape: a 4x5 weight where the file has 5x4.
        using var w = new Parameter(randn(4, 5));
        using var b = new Parameter(randn(5));
        using var opt = Create("adamw", w, b);
        var before = opt.Groups.Select(g => g.Options.ToString()).ToList();
        var e = Assert.ThrowsAny<Exception>(() => PyTorchOptimizerState.Load(file, opt));
        Assert.True(e is ArgumentException or InvalidDataException, e.ToString());
        Assert.Contains("[4, 5]", e.Message);
        Assert.Equal(before, opt.Groups.Select(g => g.Options.ToString()));
        Assert.All(opt.States, s => Assert.False(s.IsInitialized));
        // The wrong kind of optimizer.
        using var sgd = Create("sgd_nesterov", new Parameter(randn(5, 4)), new Parameter(randn(5)));
        Assert.ThrowsAny<Exception>(() => PyTorchOptimizerState.Load(file, sgd));
        Assert.All(sgd.States, s => Assert.False(s.IsInitialized));
        // No counterpart in PyTorch.
        using var lion = new Lion(new[] { new Parameter(randn(3)) });
        var n = Assert.Throws<NotSupportedException>(() => PyTorchOptimizerState.Load(file, lion));
        Assert.Contains("Lion", n.Message);
    }

    [Fact]
    public void LoadStateDictOfATorchSharpFilePointsToTheInterop()
    {
        using var a = new Parameter(randn(4, 3));
        using var b = new Parameter(randn(4, 3));
        a.grad = randn(4, 3);
        using var theirs = optim.AdamW(new[] { a }, lr: 0.01);
        theirs.step();
        string file = Path.Combine(Path.GetTempPath(), FormattableString.Invariant($"sharpoptim-ts-{Guid.NewGuid():N}.bin"));
        try
        {
            theirs.save_state_dict(file);
            using var ours = new Optimizers.AdamW(new[] { b });
            var e = Assert.Throws<InvalidDataException>(() => ours.load_state_dict(file));
            Assert.Contains("TorchSharpOptimizerState.LoadTorchSharpFile", e.Message);
            TorchSharpOptimizerState.LoadTorchSharpFile(file, ours);
            Assert.Equal(1, ours.States.Single().Step);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>TorchSharp's AdamW, SGD, Adagrad and RMSProp runs continue in SharpOptim and back, file and in memory.</summary>
    [Theory]
    [InlineData("adamw")]
    [InlineData("adam")]
    [InlineData("sgd")]
    [InlineData("adagrad")]
    [InlineData("rmsprop")]
    public void TorchSharpRunsContinueInSharpOptimAndBack(string name)
    {
        var gen = new Generator(11);
        var w0 = randn(new long[] { 6, 3 }, generator: gen);
        var grads = Enumerable.Range(0, 10).Select(_ => randn(new long[] { 6, 3 }, generator: gen)).ToList();
        (OptimizerHelper Theirs, OptimizerBase Ours) Pair(Parameter a, Parameter b) => name switch
        {
            "adamw" => (optim.AdamW(new[] { a }, lr: 0.01, beta1: 0.8, weight_decay: 0.1, amsgrad: true), new Optimizers.AdamW(new[] { b }, lr: 1, amsgrad: true)),
            "adam" => (optim.Adam(new[] { a }, lr: 0.01, beta2: 0.9, weight_decay: 0.1), new Optimizers.Adam(new[] { b }, lr: 1)),
            "sgd" => (optim.SGD(new[] { a }, 0.05, momentum: 0.9, dampening: 0.1), new Optimizers.SGD(new[] { b }, lr: 1, momentum: 0.3)),
            "adagrad" => (optim.Adagrad(new[] { a }, lr: 0.1, lr_decay: 0.01, initial_accumulator_value: 0.2), new Optimizers.Adagrad(new[] { b }, lr: 1)),
            "rmsprop" => (optim.RMSProp(new[] { a }, lr: 0.01, momentum: 0.5, centered: true), new Optimizers.RMSprop(new[] { b }, lr: 1, momentum: 0.2, centered: true)),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        string dir = Directory.CreateTempSubdirectory("sharpoptim-interop").FullName;
        try
        {
            // TorchSharp trains 5 steps and saves; SharpOptim loads its file and both continue 5 steps.
            using var a = new Parameter(w0.clone());
            using var b = new Parameter(w0.clone());
            var (theirs, ours) = Pair(a, b);
            using var _t = theirs;
            using var _o = ours;
            for (int t = 0; t < 5; t++) { a.grad = grads[t].clone(); theirs.step(); }
            string file = Path.Combine(dir, "torchsharp.bin");
            theirs.save_state_dict(file);
            using (no_grad()) b.copy_(a);
            TorchSharpOptimizerState.LoadTorchSharpFile(file, ours);
            for (int t = 5; t < 10; t++)
            {
                a.grad = grads[t].clone();
                b.grad = grads[t].clone();
                theirs.step();
                ours.step();
                Approx.AllClose(a.data<float>().ToArray(), b.data<float>().ToArray(), 1e-5, 1e-7, $"{name}: step {t + 1} after the import");
            }

            // And back: SharpOptim's state goes into a fresh TorchSharp optimizer (by file), both continue.
            using var a2 = new Parameter(b.detach().clone());
            using var b2 = new Parameter(b.detach().clone());
            var (theirs2, spare) = Pair(a2, b2);
            using var _t2 = theirs2;
            spare.Dispose();
            string back = Path.Combine(dir, "sharpoptim.bin");
            TorchSharpOptimizerState.SaveTorchSharpFile(back, ours);
            theirs2.load_state_dict(back);
            for (int t = 0; t < 3; t++)
            {
                a2.grad = grads[t].clone();
                b.grad = grads[t].clone();
                theirs2.step();
                ours.step();
                Approx.AllClose(b.data<float>().ToArray(), a2.data<float>().ToArray(), 1e-5, 1e-7, $"{name}: step {t + 1} after the export");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
