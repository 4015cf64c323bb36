using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Models;

/// <summary>
/// A small LeNet-style convolutional classifier for 28x28 grey images given as flat rows of 784 pixels:
/// conv1 (1→16, 5x5) → ReLU → 2x2 max-pool → conv2 (16→32, 5x5) → ReLU → 2x2 max-pool → fc (512→64) → ReLU →
/// head (64→classes). The output layer is named <c>head</c> so that Muon routes it to its Adam; the conv kernels
/// are 4-D hidden weights that Muon flattens to [out, in·5·5]. Layers are called through <c>call</c> so that forward
/// hooks run (EGGROLL's population forward adds its low-rank terms through them).
/// </summary>
public sealed class SmallCnn : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2;
    private readonly Linear fc, head;

    /// <summary>Builds the layers for <paramref name="classes"/> outputs.</summary>
    public SmallCnn(int classes) : base("SmallCnn")
    {
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, "classes must be positive.");
        conv1 = nn.Conv2d(1, 16, 5);
        conv2 = nn.Conv2d(16, 32, 5);
        fc = nn.Linear(32 * 4 * 4, 64);
        head = nn.Linear(64, classes);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x.view(-1, 1, 28, 28);
        h = nn.functional.max_pool2d(nn.functional.relu(conv1.call(h)), 2);
        h = nn.functional.max_pool2d(nn.functional.relu(conv2.call(h)), 2);
        h = nn.functional.relu(fc.call(h.flatten(1)));
        return head.call(h).MoveToOuterDisposeScope();
    }
}
