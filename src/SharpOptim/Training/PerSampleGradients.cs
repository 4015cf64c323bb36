using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Training;

/// <summary>
/// Per-sample gradients as a [b, d] matrix (row i = the gradient of sample i's loss with respect to every parameter,
/// flattened and concatenated in the order of <c>parameters()</c>), for <see cref="AdaptiveBatchSize"/>.
/// <para>
/// <see cref="Compute"/> works for any model: one forward and one <c>autograd.grad</c> per sample, so it costs about
/// b backward passes (the official AdAdaGrad code uses <c>torch.func.vmap</c>, which TorchSharp does not have). It does
/// not touch the parameters' <c>.grad</c>. For a linear softmax classifier (multinomial logistic regression with
/// cross-entropy) <see cref="LinearSoftmax"/> gives the same matrix in closed form, at the cost of one forward pass:
/// the gradient of sample i is (softmax(W x_i + c) − e_{y_i}) x_iᵀ for W and softmax(W x_i + c) − e_{y_i} for c.
/// Both return float64 matrices only if the model is float64; they keep the parameters' dtype.
/// </para>
/// </summary>
public static class PerSampleGradients
{
    /// <summary>
    /// Per-sample gradients of <paramref name="loss"/>(model(x_i), y_i) for each row i of <paramref name="x"/>, by one
    /// backward pass per sample. The loss receives a batch of one sample ([1, ...] output and target).
    /// </summary>
    public static Tensor Compute(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y, Func<Tensor, Tensor, Tensor> loss)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(loss);
        long b = x.shape[0];
        if (y.shape.Length == 0 || y.shape[0] != b)
            throw new ArgumentException(FormattableString.Invariant($"x has {b} samples, y has shape [{string.Join(", ", y.shape)}]."), nameof(y));
        var ps = model.parameters().Where(p => p.requires_grad).ToList();
        if (ps.Count == 0) throw new ArgumentException("The model has no trainable parameters.", nameof(model));
        var rows = new List<Tensor>((int)b);
        using var scope = NewDisposeScope();
        using (enable_grad())
        {
            for (long i = 0; i < b; i++)
            {
                var li = loss(model.forward(x.narrow(0, i, 1)), y.narrow(0, i, 1));
                var grads = torch.autograd.grad(new[] { li }, ps.Cast<Tensor>().ToList(), allow_unused: true);
                rows.Add(cat(grads.Select((g, k) => (g is null ? zeros_like(ps[k]) : g).detach().reshape(-1)).ToList(), 0));
            }
        }
        return stack(rows, 0).MoveToOuterDisposeScope();
    }

    /// <summary>The number of elements of each trainable parameter of <paramref name="model"/>, in the order
    /// <see cref="Compute"/> concatenates them: the parameter blocks the inner-product and orthogonality tests use.</summary>
    public static long[] BlockSizes(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.parameters().Where(p => p.requires_grad).Select(p => p.NumberOfElements).ToArray();
    }

    /// <summary>
    /// Closed-form per-sample cross-entropy gradients of a linear softmax classifier logits = x Wᵀ + c:
    /// columns [vec(W) row-major, c] (the order of <c>nn.Linear</c>'s weight then bias). <paramref name="bias"/> may be null.
    /// </summary>
    public static Tensor LinearSoftmax(Tensor x, Tensor y, Tensor weight, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(weight);
        if (x.dim() != 2 || weight.dim() != 2 || x.shape[1] != weight.shape[1])
            throw new ArgumentException(FormattableString.Invariant($"x [{string.Join(", ", x.shape)}] and weight [{string.Join(", ", weight.shape)}] do not form logits = x Wᵀ."), nameof(x));
        if (y.dim() != 1 || y.shape[0] != x.shape[0])
            throw new ArgumentException(FormattableString.Invariant($"y must have shape [{x.shape[0]}], got [{string.Join(", ", y.shape)}]."), nameof(y));
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.shape[0]))
            throw new ArgumentException(FormattableString.Invariant($"bias must have shape [{weight.shape[0]}], got [{string.Join(", ", bias.shape)}]."), nameof(bias));
        long b = x.shape[0], k = weight.shape[0], f = weight.shape[1];
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = x.matmul(weight.detach().t());
        using var s = new ScalarHold();
        if (bias is not null) logits = logits.add(bias.detach(), s[1]);
        var r = logits.softmax(1).sub(nn.functional.one_hot(y, k).to_type(logits.dtype));   // [b, k]
        var gw = r.unsqueeze(2).mul(x.unsqueeze(1)).reshape(b, k * f);                   // [b, k·f]
        var result = bias is null ? gw : cat(new[] { gw, r }, 1);
        return result.MoveToOuterDisposeScope();
    }
}
