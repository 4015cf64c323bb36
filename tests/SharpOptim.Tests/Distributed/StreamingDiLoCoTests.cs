using SharpOptim.Distributed;
using Xunit;

namespace SharpOptim.Tests.Distributed;

public class StreamingDiLoCoTests
{
    private static float[][] Run(string section, bool? quantizeOverride = null, int? tau = null, double? alpha = null, int[]? fragments = null)
    {
        var s = StreamingDiLoCoGolden.Root.GetProperty(section);
        var options = new StreamingDiLoCoOptions
        {
            InnerSteps = s.GetProperty("h").GetInt32(),
            ParameterFragments = fragments ?? s.GetProperty("fragments").EnumerateArray().Select(f => f.GetInt32()).ToArray(),
            OverlapSteps = tau ?? s.GetProperty("tau").GetInt32(),
            MixingAlpha = alpha ?? s.GetProperty("alpha").GetDouble(),
            Quantize = quantizeOverride ?? s.GetProperty("quantize").GetBoolean(),
        };
        return StreamingDiLoCoGolden.Run(StreamingDiLoCoGolden.Workers, 3, c =>
        {
            var p = StreamingDiLoCoGolden.Problem(c.Rank);
            return new StreamingDiLoCo(c, p, StreamingDiLoCoGolden.AdamW(p), options);
        });
    }

    [Theory]
    [InlineData("streaming")]      // 2 strided fragments, τ = 1, α = 0.5, 4-bit outer gradients
    [InlineData("streaming_fp32")] // the same without quantization
    public void ThreeOuterStepsMatchTheReference(string section)
    {
        var reported = Run(section);
        var expected = StreamingDiLoCoGolden.Root.GetProperty(section).GetProperty("global").Floats();
        foreach (var r in reported) StreamingDiLoCoGolden.AssertClose(expected, r);
    }

    [Fact]
    public void OneFragmentNoOverlapNoMixingNoQuantizationIsDiLoCo()
    {
        var reported = Run("diloco", quantizeOverride: false, tau: 0, alpha: 0.0, fragments: new[] { 0, 0, 0, 0 });
        var expected = StreamingDiLoCoGolden.Root.GetProperty("diloco").GetProperty("global").Floats();
        foreach (var r in reported) StreamingDiLoCoGolden.AssertClose(expected, r);
    }

    [Fact]
    public void OneFragmentNoOverlapNoMixingNoQuantizationEqualsTheLibrarysDiLoCo()
    {
        // Against d16a's DiLoCo class (same inner optimizer, same batches): the same algorithm written twice.
        var streaming = Run("diloco", quantizeOverride: false, tau: 0, alpha: 0.0, fragments: new[] { 0, 0, 0, 0 });
        var diloco = StreamingDiLoCoGolden.Run(StreamingDiLoCoGolden.Workers, 3, c =>
        {
            var p = StreamingDiLoCoGolden.Problem(c.Rank);
            return new DiLoCo(p, c, 4, ps => TorchSharp.torch.optim.AdamW(ps, lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1), 0.7, 0.9, true);
        });
        for (int i = 0; i < streaming.Length; i++) StreamingDiLoCoGolden.AssertClose(diloco[i], streaming[i], 1e-6, 1e-7);
    }

    [Fact]
    public void FragmentsCutThePeakPayloadAndFourBitsCutItAgain()
    {
        InProcessWorld.Run(1, c =>
        {
            var p = StreamingDiLoCoGolden.Problem(0);
            var one = new StreamingDiLoCo(c, p, StreamingDiLoCoGolden.AdamW(p), new() { InnerSteps = 4, Quantize = false, OverlapSteps = 0 });
            var two = new StreamingDiLoCo(c, p, StreamingDiLoCoGolden.AdamW(p), new() { InnerSteps = 4, Quantize = false, ParameterFragments = new[] { 0, 0, 1, 1 } });
            var twoQ = new StreamingDiLoCo(c, p, StreamingDiLoCoGolden.AdamW(p), new() { InnerSteps = 4, Quantize = true, ParameterFragments = new[] { 0, 0, 1, 1 } });
            Assert.Equal(51L * 4, one.PeakPayloadBytes);          // 4·6 + 6 + 6·3 + 3 = 51 floats
            Assert.Equal(30L * 4, two.PeakPayloadBytes);          // fragment 0: the first layer (30 floats)
            Assert.Equal(12L + 3 + 4 + 4, twoQ.PeakPayloadBytes); // 24 and 6 values at 4 bits + one scale each
        });
        Assert.Equal(new[] { 0, 1, 0, 1, 0 }, StreamingDiLoCo.StridedFragments(new[] { 0, 1, 2, 3, 4 }, 2));
    }

    [Fact]
    public void BadOptionsAreRejectedBeforeAnyState()
    {
        InProcessWorld.Run(1, c =>
        {
            var p = StreamingDiLoCoGolden.Problem(0);
            var opt = StreamingDiLoCoGolden.AdamW(p);
            var e = Assert.Throws<ArgumentException>(() => new StreamingDiLoCo(c, p, opt, new() { InnerSteps = 5, ParameterFragments = new[] { 0, 0, 1, 1 } }));
            Assert.Contains("H) = 5", e.Message);
            Assert.Throws<ArgumentOutOfRangeException>(() => new StreamingDiLoCo(c, p, opt, new() { InnerSteps = 4, OverlapSteps = 2, ParameterFragments = new[] { 0, 0, 1, 1 } }));
            Assert.Throws<ArgumentException>(() => new StreamingDiLoCo(c, p, opt, new() { ParameterFragments = new[] { 0, 0, 2, 2 } }));
            Assert.Throws<ArgumentException>(() => new StreamingDiLoCo(c, p, opt, new() { ParameterFragments = new[] { 0, 0 } }));
            Assert.Throws<ArgumentOutOfRangeException>(() => new StreamingDiLoCo(c, p, opt, new() { MixingAlpha = 1.5 }));
        });
    }
}
