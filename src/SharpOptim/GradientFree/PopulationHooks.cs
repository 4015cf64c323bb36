using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>
/// Forward hooks that turn one model into a whole population: the input carries the members along its leading axis
/// (member <c>i</c> owns rows <c>[i·B, (i+1)·B)</c>), each <see cref="Linear"/>, <see cref="Conv2d"/> and
/// <see cref="LayerNorm"/> computes its plain output once for all rows and the hooks add each member's perturbation
/// term into that output in place (no second output-sized tensor, no extra pass to add it), viewed as
/// <c>[N, rows, features]</c> (Linear, LayerNorm) or <c>[N, B, out, H'·W']</c> (Conv2d). The model's own code runs
/// unchanged; it must call its layers through <c>call(...)</c> (which runs hooks), as the project's models do.
/// Removed on dispose.
/// </summary>
internal sealed class PopulationHooks : IDisposable
{
    private readonly List<Action> _remove = new();

    /// <param name="model">The model whose layers get hooks.</param>
    /// <param name="population">N, the number of members along the leading axis.</param>
    /// <param name="linear">(layer, input as [N, rows, in], output as [N, rows, out]): adds the members' terms into the output.</param>
    /// <param name="layerNorm">(layer, normalised input x̂ as [N, rows, d], output as [N, rows, d]): adds the members' terms, or null.</param>
    /// <param name="conv">(layer, input [N·B, C, H, W], output as [N, B, out, H'·W']): adds the members' terms, or null.</param>
    public PopulationHooks(nn.Module model, int population, Action<Linear, Tensor, Tensor> linear, Action<LayerNorm, Tensor, Tensor>? layerNorm,
        Action<Conv2d, Tensor, Tensor>? conv = null)
    {
        foreach (var (_, module) in model.named_modules())
        {
            if (module is Linear lin)
            {
                var h = lin.register_forward_hook((m, input, output) =>
                {
                    long n = lin.weight!.shape[1], mOut = lin.weight.shape[0];
                    CheckRows(output, population);
                    var o = output.is_contiguous() ? output : output.contiguous();
                    using var x3 = input.reshape(population, -1, n);
                    using var o3 = o.view(population, -1, mOut);
                    linear(lin, x3, o3);
                    return o;
                });
                _remove.Add(h.remove);
            }
            else if (module is Conv2d cv && conv is not null)
            {
                var h = cv.register_forward_hook((m, input, output) =>
                {
                    CheckRows(output, population);
                    var o = output.is_contiguous() ? output : output.contiguous();
                    using var o4 = o.view(population, output.shape[0] / population, output.shape[1], -1);
                    conv(cv, input, o4);
                    return o;
                });
                _remove.Add(h.remove);
            }
            else if (module is LayerNorm ln && layerNorm is not null)
            {
                var h = ln.register_forward_hook((m, input, output) =>
                {
                    CheckRows(output, population);
                    long d = output.shape[^1];
                    var o = output.is_contiguous() ? output : output.contiguous();
                    using var xhat = nn.functional.layer_norm(input, ln.normalized_shape, null, null, ln.eps);
                    using var x3 = xhat.reshape(population, -1, d);
                    using var o3 = o.view(population, -1, d);
                    layerNorm(ln, x3, o3);
                    return o;
                });
                _remove.Add(h.remove);
            }
        }
    }

    private static void CheckRows(Tensor output, int population)
    {
        if (output.dim() == 0 || output.shape[0] % population != 0)
            throw new ArgumentException(FormattableString.Invariant($"a population forward needs the {population} members along the leading axis; a layer got leading size {(output.dim() == 0 ? 0 : output.shape[0])}."));
    }

    public void Dispose()
    {
        foreach (var r in _remove) r();
        _remove.Clear();
    }
}
