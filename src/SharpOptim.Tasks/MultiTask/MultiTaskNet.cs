using SharpOptim.Optimizers;
using SharpOptim.Tasks.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.MultiTask;

/// <summary>The model of a <see cref="MultiTaskProblem"/>: a shared MLP trunk (ReLU after every layer, so the
/// representation is non-negative) and one linear head per task, with the problem's losses and test metrics.</summary>
public sealed class MultiTaskNet : nn.Module<Tensor, Tensor>
{
    private readonly MultiTaskProblem _problem;
    private readonly List<Linear> _trunk = new();
    private readonly List<Linear> _heads = new();

    /// <summary>Builds the layers (initialised from TorchSharp's current random state).</summary>
    public MultiTaskNet(MultiTaskProblem problem) : base("MultiTaskNet")
    {
        _problem = problem;
        var w = problem.TrunkWidths;
        for (int i = 0; i + 1 < w.Count; i++)
        {
            var l = nn.Linear(w[i], w[i + 1]);
            _trunk.Add(l);
            register_module(FormattableString.Invariant($"trunk{i}"), l);
        }
        int z = w[^1];
        for (int t = 0; t < problem.Heads.Count; t++)
        {
            int outputs = problem.Heads[t] switch
            {
                MultiTaskHeadKind.Digit => 10,
                MultiTaskHeadKind.Reconstruction => w[0],
                _ => 1,
            };
            var h = nn.Linear(z, outputs);
            _heads.Add(h);
            register_module(FormattableString.Invariant($"head_{problem.TaskName(t)}"), h);
        }
    }

    /// <summary>The trunk's parameters (the shared parameters).</summary>
    public IReadOnlyList<Parameter> TrunkParameters => _trunk.SelectMany(l => l.parameters()).ToList();

    /// <summary>The shared representation of a batch.</summary>
    public Tensor Trunk(Tensor x)
    {
        // Intermediates live in this scope, not unreferenced across the next native call (README, Compatibility).
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var l in _trunk) h = nn.functional.relu(l.forward(h));
        return ReferenceEquals(h, x) ? h : h.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => Trunk(x);

    /// <summary>The task losses on representation <paramref name="z"/> of the batch whose targets are <paramref name="targets"/>.</summary>
    public IReadOnlyList<Tensor> Losses(Tensor z, MultiTaskTargets targets)
    {
        using var scope = NewDisposeScope();
        var losses = new Tensor[_heads.Count];
        for (int t = 0; t < _heads.Count; t++)
        {
            var o = _heads[t].forward(z);
            losses[t] = _problem.Heads[t] switch
            {
                MultiTaskHeadKind.Digit => nn.functional.cross_entropy(o, targets.Digit),
                MultiTaskHeadKind.Parity => nn.functional.binary_cross_entropy_with_logits(o.reshape(-1), targets.Parity),
                MultiTaskHeadKind.AtLeastFive => nn.functional.binary_cross_entropy_with_logits(o.reshape(-1), targets.AtLeastFive),
                _ => nn.functional.mse_loss(o, targets.Reconstruction),
            };
            losses[t].MoveToOuterDisposeScope();
        }
        return losses;
    }

    /// <summary>Test metrics of every task (accuracy, or MSE for reconstruction) on <paramref name="x"/>, in eval mode and without a graph.</summary>
    public double[] Metrics(Tensor x, MultiTaskTargets targets)
    {
        eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var s = new ScalarHold();
        var z = Trunk(x);
        var m = new double[_heads.Count];
        for (int t = 0; t < _heads.Count; t++)
        {
            var o = _heads[t].forward(z);
            m[t] = _problem.Heads[t] switch
            {
                MultiTaskHeadKind.Digit => o.argmax(1).eq(targets.Digit).to_type(ScalarType.Float64).mean().item<double>(),
                MultiTaskHeadKind.Parity => o.reshape(-1).gt(s[0]).to_type(ScalarType.Float32).eq(targets.Parity).to_type(ScalarType.Float64).mean().item<double>(),
                MultiTaskHeadKind.AtLeastFive => o.reshape(-1).gt(s[0]).to_type(ScalarType.Float32).eq(targets.AtLeastFive).to_type(ScalarType.Float64).mean().item<double>(),
                _ => nn.functional.mse_loss(o, targets.Reconstruction).to_type(ScalarType.Float64).item<double>(),
            };
        }
        train();
        return m;
    }
}
