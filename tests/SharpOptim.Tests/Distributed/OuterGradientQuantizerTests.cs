using SharpOptim.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

public class OuterGradientQuantizerTests
{
    [Fact]
    public void RoundTripMatchesTheReferenceScript()
    {
        var q = StreamingDiLoCoGolden.Root.GetProperty("quantizer");
        var values = q.GetProperty("input").Floats();
        OuterGradientQuantizer.RoundTrip(values);
        Assert.Equal(q.GetProperty("round_trip").Floats(), values);
    }

    [Fact]
    public void ErrorStaysWithinTheFormatsBounds()
    {
        // E3M0 rounds log2(|v|/s) to the nearest integer in [-6, 0]: relative error ≤ √2 − 1 above s·2^-6.5, and
        // values below become 0 (absolute error < s·2^-6.5).
        var random = new Random(5);
        var values = Enumerable.Range(0, 4001).Select(i => (float)((random.NextDouble() - 0.5) * Math.Pow(2, -12 * random.NextDouble()))).ToArray();
        values[17] = 0f;
        var decoded = (float[])values.Clone();
        var codes = new byte[(values.Length + 1) / 2];
        float scale = OuterGradientQuantizer.Encode(values, codes);
        Assert.Equal(values.Max(v => MathF.Abs(v)), scale);
        OuterGradientQuantizer.Decode(codes, scale, decoded);
        double threshold = scale * Math.Pow(2, -6.5);
        int checkedAbove = 0;
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i], d = decoded[i];
            if (Math.Abs(v) >= threshold)
            {
                Assert.True(Math.Abs(d - v) <= (Math.Sqrt(2) - 1) * Math.Abs(v) * (1 + 1e-6), $"value {v} decoded as {d}");
                Assert.Equal(Math.Sign(v), Math.Sign(d));
                checkedAbove++;
            }
            else Assert.True(Math.Abs(d - v) <= threshold, $"small value {v} decoded as {d}");
        }
        Assert.True(checkedAbove > 1000);
        Assert.Equal(0f, decoded[17]);
        // Every decoded value is ±s·2^e with e in [-6, 0], or 0: at most 15 distinct values.
        Assert.True(decoded.Distinct().Count() <= 15);
        Assert.Equal(values.Length / 2 + 1 + 4, OuterGradientQuantizer.PayloadBytes(values.Length));
    }

    [Fact]
    public void AllZeroTensorsAndBadInput()
    {
        var zeros = new float[7];
        OuterGradientQuantizer.RoundTrip(zeros);
        Assert.All(zeros, z => Assert.Equal(0f, z));
        var e = Assert.Throws<ArgumentException>(() => OuterGradientQuantizer.Encode(new[] { 1f, float.NaN }, new byte[1]));
        Assert.Contains("NaN", e.Message);
        Assert.Throws<ArgumentException>(() => OuterGradientQuantizer.Encode(new[] { 1f, 2f, 3f }, new byte[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => OuterGradientQuantizer.Decode(new byte[1], -1f, new float[2]));
    }
}
