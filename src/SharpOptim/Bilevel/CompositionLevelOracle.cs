using static TorchSharp.torch;

namespace SharpOptim.Bilevel;

/// <summary>
/// Values and dense Jacobians of the outer levels f_i(u) of a <see cref="NestedCompositionalProblem"/> (the only place
/// in the nested method that differentiates them). The graph is built on a fresh leaf copy of u under
/// <c>enable_grad</c>, and read d_i times with <c>retain_graph</c> (never <c>create_graph</c>). Output checks: a 1-D
/// (or 0-dim) floating tensor of the expected length, else an <see cref="ArgumentException"/> naming the level.
/// </summary>
internal static class CompositionLevelOracle
{
    /// <summary>(f(u) as a 1-D tensor of d_out entries, ∂f/∂u as [d_out, d_in]); u is 1-D. Counts one backward per row.</summary>
    public static (Tensor Value, Tensor Jacobian) ValueAndJacobian(CompositionLevel level, int index, Tensor u, Tensor? batch, int expectedOut, ref long backwards)
    {
        long din = u.numel();
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var ul = u.detach().clone().requires_grad_(true);
        var value = level(ul, batch);
        var flat = CheckOutput(value, index, expectedOut);
        var rows = new Tensor[flat.shape[0]];
        for (long k = 0; k < rows.Length; k++)
        {
            backwards++;
            if (!flat.requires_grad) { rows[k] = zeros(din, dtype: u.dtype, device: u.device); continue; }
            var r = autograd.grad(new[] { flat[k] }, new[] { ul }, retain_graph: true, create_graph: false, allow_unused: true)[0];
            rows[k] = r is null || r.IsInvalid ? zeros(din, dtype: u.dtype, device: u.device) : r.detach().reshape(din);
        }
        var jac = stack(rows, 0).MoveToOuterDisposeScope();
        var val = flat.detach().clone().MoveToOuterDisposeScope();
        return (val, jac);
    }

    /// <summary>The value f(u) alone, without a graph.</summary>
    public static Tensor Value(CompositionLevel level, int index, Tensor u, Tensor? batch, int expectedOut)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return CheckOutput(level(u.detach(), batch), index, expectedOut).clone().MoveToOuterDisposeScope();
    }

    /// <summary>Checks a level's output and returns it flattened; <paramref name="expectedOut"/> &lt; 0: any length.</summary>
    public static Tensor CheckOutput(Tensor value, int index, int expectedOut)
    {
        string name = $"level f_{index}";
        if (value is null) throw new ArgumentException($"The {name} returned null.", "levels");
        if (!value.is_floating_point()) throw new ArgumentException($"The {name} must return a floating tensor, got {value.dtype}.", "levels");
        if (value.dim() > 1) throw new ArgumentException($"The {name} must return a 1-D tensor (or a scalar), got shape [{string.Join(", ", value.shape)}].", "levels");
        if (expectedOut >= 0 && value.numel() != expectedOut)
            throw new ArgumentException($"The {name} must return {expectedOut} entries (what the level above it takes), got {value.numel()}.", "levels");
        if (value.numel() == 0) throw new ArgumentException($"The {name} returned an empty tensor.", "levels");
        return value.reshape(value.numel());
    }
}
