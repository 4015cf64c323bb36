using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Distributed;

/// <summary>
/// One worker's local problem: its copy of the model and a closure that draws the worker's next mini-batch and returns
/// its scalar loss on the current weights (with autograd enabled, so the algorithm can call backward). Every worker
/// starts from the same initial weights (the algorithm's responsibility, e.g. by construction from the same seed or by
/// a broadcast) and draws from its own shard and its own random stream, seeded by (seed, rank).
/// </summary>
public sealed class WorkerProblem
{
    /// <summary>A problem over <paramref name="model"/>'s trainable parameters (in <c>parameters()</c> order).</summary>
    public WorkerProblem(nn.Module model, Func<Tensor> nextLoss)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(nextLoss);
        Model = model;
        NextLoss = nextLoss;
        Parameters = model.parameters().Where(p => p.requires_grad).ToArray();
        if (Parameters.Count == 0) throw new ArgumentException("the model has no trainable parameters.", nameof(model));
        Length = checked((int)Parameters.Sum(p => p.numel()));
    }

    /// <summary>The worker's model.</summary>
    public nn.Module Model { get; }

    /// <summary>Draws the next local mini-batch and returns its loss (a scalar with a graph to <see cref="Parameters"/>).</summary>
    public Func<Tensor> NextLoss { get; }

    /// <summary>The trainable parameters, in the order of the flat vectors that workers exchange.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Total number of trainable scalars: the length of a flat parameter vector.</summary>
    public int Length { get; }

    /// <summary>Copies the parameters, concatenated in order, into <paramref name="into"/> (length <see cref="Length"/>).</summary>
    public void CopyParametersTo(Span<float> into)
    {
        using var scope = NewDisposeScope();
        Flatten(Parameters.Select(p => (Tensor)p), into, nameof(into));
    }

    /// <summary>Overwrites the parameters with <paramref name="from"/> (length <see cref="Length"/>), in place, without autograd.</summary>
    public void SetParameters(ReadOnlySpan<float> from)
    {
        if (from.Length != Length)
            throw new ArgumentException(FormattableString.Invariant($"a flat parameter vector has {Length} floats; got {from.Length}."), nameof(from));
        using var _ = no_grad();
        int offset = 0;
        foreach (var p in Parameters)
        {
            int n = (int)p.numel();
            using var src = tensor(from.Slice(offset, n).ToArray(), p.shape, dtype: ScalarType.Float32);
            p.copy_(src);
            offset += n;
        }
    }

    /// <summary>Copies the current gradients (zeros where a parameter has none), concatenated in order, into <paramref name="into"/>.</summary>
    public void CopyGradientsTo(Span<float> into)
    {
        using var scope = NewDisposeScope();
        Flatten(Parameters.Select(p => p.grad ?? zeros_like(p)), into, nameof(into));
    }

    // Callers hold a dispose scope: it keeps every temporary of the chain below (detach, to, cpu, contiguous) reachable
    // until the scope ends. A temporary that nothing references may be finalized by a garbage collection that another
    // rank's thread starts while libtorch is still reading it (TorchSharp 0.107 passes the raw handle and does not keep
    // the wrapper alive during the native call), and its finalizer deletes the at::Tensor that the call dereferences:
    // the segmentation fault of `dist` with several workers (docs/distributed/README.md, "Native crash").
    private void Flatten(IEnumerable<Tensor> tensors, Span<float> into, string name)
    {
        if (into.Length != Length)
            throw new ArgumentException(FormattableString.Invariant($"a flat parameter vector has {Length} floats; got a buffer of {into.Length}."), name);
        int offset = 0;
        foreach (var t in tensors)
        {
            var flat = t.detach().to(ScalarType.Float32).cpu().contiguous().reshape(-1);
            var data = flat.data<float>();
            int n = (int)flat.numel();
            for (int i = 0; i < n; i++) into[offset + i] = data[i];
            offset += n;
        }
    }
}
