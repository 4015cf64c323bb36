using SharpOptim.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>
/// Forward hooks that turn one model into a whole population: the input carries the members along its leading axis
/// (member <c>i</c> owns rows <c>[i·B, (i+1)·B)</c>), each <see cref="Linear"/> and <see cref="LayerNorm"/> computes
/// its plain output once for all rows and the hooks add each member's perturbation term, viewed as
/// <c>[N, rows, features]</c>. The model's own code runs unchanged; it must call its layers through
/// <c>call(...)</c> (which runs hooks), as the project's models do. Removed on dispose.
/// </summary>
internal sealed class PopulationHooks : IDisposable
{
    private readonly List<Action> _remove = new();

    /// <param name="model">The model whose layers get hooks.</param>
    /// <param name="population">N, the number of members along the leading axis.</param>
    /// <param name="linear">(layer, input as [N, rows, in]) → the term to add as [N, rows, out], or null.</param>
    /// <param name="layerNorm">(layer, normalised input x̂ as [N, rows, d]) → the term to add as [N, rows, d], or null.</param>
    public PopulationHooks(nn.Module model, int population, Func<Linear, Tensor, Tensor?> linear, Func<LayerNorm, Tensor, Tensor?>? layerNorm)
    {
        foreach (var (_, module) in model.named_modules())
        {
            if (module is Linear lin)
            {
                var h = lin.register_forward_hook((m, input, output) =>
                {
                    long n = lin.weight!.shape[1], mOut = lin.weight.shape[0];
                    CheckRows(output, population);
                    using var x3 = input.reshape(population, -1, n);
                    var delta = linear(lin, x3);
                    if (delta is null) return output;
                    using var s = new ScalarHold();
                    using (delta)
                    using (var shaped = delta.reshape(output.shape))   // a view: disposed too, or it pins delta's storage
                        return output.add(shaped, s[1]);
                });
                _remove.Add(h.remove);
            }
            else if (module is LayerNorm ln && layerNorm is not null)
            {
                var h = ln.register_forward_hook((m, input, output) =>
                {
                    CheckRows(output, population);
                    long d = output.shape[^1];
                    using var xhat = nn.functional.layer_norm(input, ln.normalized_shape, null, null, ln.eps);
                    using var x3 = xhat.reshape(population, -1, d);
                    var delta = layerNorm(ln, x3);
                    if (delta is null) return output;
                    using var s = new ScalarHold();
                    using (delta)
                    using (var shaped = delta.reshape(output.shape))   // a view: disposed too, or it pins delta's storage
                        return output.add(shaped, s[1]);
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
