using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Models;

/// <summary>
/// A multilayer perceptron classifier: Linear → ReLU → … → Linear. The hidden layers are named fc0, fc1, … and the
/// last one head, so that name-based routing treats the classifier as an output layer (Muon and LANTON send it to
/// their head optimizer), as for any model with a named head. (Adam-mini matches the official output names —
/// lm_head, output, final_layer — so it keeps one block per tensor here.)
/// </summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    private readonly List<Linear> _layers = new();

    /// <summary>Creates the layers from the given widths (input, hidden…, output).</summary>
    public Mlp(params int[] widths) : base("Mlp")
    {
        if (widths.Length < 2 || widths.Any(w => w <= 0))
            throw new ArgumentException(FormattableString.Invariant($"Mlp needs at least an input and an output width, all positive; got [{string.Join(", ", widths)}]."), nameof(widths));
        for (int i = 0; i + 1 < widths.Length; i++)
        {
            var layer = nn.Linear(widths[i], widths[i + 1]);
            _layers.Add(layer);
            register_module(i + 2 < widths.Length ? FormattableString.Invariant($"fc{i}") : "head", layer);
        }
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        // The hidden activations live in this scope: an unreferenced one left to the finalizer could be freed during
        // the next layer's native call when another thread collects (README, Compatibility).
        using var scope = NewDisposeScope();
        for (int i = 0; i < _layers.Count; i++)
        {
            x = _layers[i].call(x);
            if (i + 1 < _layers.Count) x = nn.functional.relu(x);
        }
        return x.MoveToOuterDisposeScope();
    }
}
