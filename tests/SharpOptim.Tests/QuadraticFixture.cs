using System.Text.Json;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Tests;

/// <summary>
/// One parameter of a golden fixture on the quadratic test problem (tools/golden/common.py): its start value,
/// curvature h, target and K noise tensors, so that g_t = h ⊙ (p − target) + noise[t mod K] is computed with the same
/// float32 ops as the reference; plus the parameter values the reference recorded after given steps.
/// </summary>
internal sealed record QuadraticFixture(string Name, JsonElement Json, Parameter P, Tensor H, Tensor Target, Tensor[] Noise,
    Dictionary<int, float[]> Expected)
{
    /// <summary>Reads every element of <paramref name="array"/> (fields name, shape, p0, h, target, noise and a
    /// step→values object named <paramref name="recordsField"/>).</summary>
    public static List<QuadraticFixture> LoadAll(JsonElement array, int k, string recordsField = "records") =>
        array.EnumerateArray().Select(b =>
        {
            var shape = b.GetProperty("shape").Longs();
            return new QuadraticFixture(b.GetProperty("name").GetString()!, b,
                new Parameter(tensor(b.GetProperty("p0").Floats()).reshape(shape)),
                tensor(b.GetProperty("h").Floats()).reshape(shape), tensor(b.GetProperty("target").Floats()).reshape(shape),
                Golden.Split(b.GetProperty("noise").Floats(), shape, k),
                b.GetProperty(recordsField).EnumerateObject().ToDictionary(x => int.Parse(x.Name), x => x.Value.Floats()));
        }).ToList();

    /// <summary>Sets every parameter's gradient for step <paramref name="t"/> (0-based).</summary>
    public static void SetGradients(IEnumerable<QuadraticFixture> ps, int t, int k)
    {
        using var _ = no_grad();
        foreach (var b in ps) b.P.grad = b.H.mul(b.P.sub(b.Target)).add(b.Noise[t % k]);
    }

    /// <summary>Checks every parameter whose values the reference recorded after step <paramref name="step"/>.</summary>
    public static void CheckRecorded(IEnumerable<QuadraticFixture> ps, int step, double rtol, double atol, string what)
    {
        foreach (var b in ps)
            if (b.Expected.TryGetValue(step, out var want))
                Approx.AllClose(want, b.P.data<float>().ToArray(), rtol, atol, $"{what} {b.Name} after step {step}");
    }
}
