using System.Text.Json;
using SharpOptim.GradientFree;

namespace SharpOptim.Tests.GradientFree;

/// <summary>The normals a reference script drew, served by key (generation, tensor, member); keys the script did not
/// draw are an error, except the CBO shuffle keys (tensor −2), served as zeros (the index order).</summary>
internal sealed class FixtureNoise : INoiseSource
{
    private readonly Dictionary<(long, int, int), float[]> _table = new();

    public FixtureNoise(JsonElement entries)
    {
        foreach (var e in entries.EnumerateArray())
            _table[(e.GetProperty("g").GetInt64(), e.GetProperty("t").GetInt32(), e.GetProperty("m").GetInt32())] = e.GetProperty("v").Floats();
    }

    public void Fill(Span<float> destination, long generation, int tensor, int member)
    {
        if (tensor == -2) { destination.Clear(); return; }
        if (!_table.TryGetValue((generation, tensor, member), out var v))
            throw new InvalidOperationException($"fixture has no noise for key ({generation}, {tensor}, {member})");
        if (v.Length < destination.Length) throw new InvalidOperationException($"fixture noise ({generation}, {tensor}, {member}) has {v.Length} values, {destination.Length} wanted");
        v.AsSpan(0, destination.Length).CopyTo(destination);
    }
}
