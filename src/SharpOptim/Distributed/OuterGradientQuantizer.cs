namespace SharpOptim.Distributed;

/// <summary>
/// The 4-bit floating-point format Streaming DiLoCo uses for outer gradients (Douillard et al., "Streaming DiLoCo with
/// overlapping communication: Towards a Distributed Free Lunch", arXiv 2501.18512). RECONSTRUCTION: the paper states
/// that outer gradients travel as 4-bit floats and are accumulated in fp32, but the exact format and scaling were not
/// available (../shared/papers/distributed.md §11). This is the brief's E3M0 format: one sign bit and three exponent
/// bits, no mantissa, with one float32 scale per tensor, <c>s = max|v|</c>. Exponent code 0 means zero; codes 1…7 mean
/// <c>e = −6…0</c>. A value encodes as <c>sign(v)·s·2^e</c> with <c>e = round(log₂(|v|/s))</c> (ties away from zero),
/// and as zero when that exponent is below −6.
/// Error bound (what the tests check): for <c>|v| ≥ s·2^−6.5</c> the relative error is at most <c>√2 − 1</c> (the log₂
/// rounding error is at most ½); below, the value becomes 0 and the absolute error is below <c>s·2^−6.5</c>.
/// Two codes are packed per byte (low nibble first); the payload of <c>k</c> values is <c>⌈k/2⌉ + 4</c> bytes.
/// </summary>
public static class OuterGradientQuantizer
{
    /// <summary>Smallest exponent that is not rounded to zero.</summary>
    public const int MinimumExponent = -6;

    /// <summary>Bytes on the wire for <paramref name="count"/> values: packed 4-bit codes plus one float32 scale.</summary>
    public static long PayloadBytes(long count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "a count must not be negative.");
        return (count + 1) / 2 + sizeof(float);
    }

    /// <summary>
    /// Encodes <paramref name="values"/> into <paramref name="codes"/> (length ⌈values.Length/2⌉) and returns the
    /// scale. Non-finite input is rejected (an outer gradient with NaN/Inf means training has already diverged).
    /// </summary>
    public static float Encode(ReadOnlySpan<float> values, Span<byte> codes)
    {
        int needed = (values.Length + 1) / 2;
        if (codes.Length != needed)
            throw new ArgumentException(FormattableString.Invariant($"{values.Length} values need {needed} code bytes; got {codes.Length}."), nameof(codes));
        float scale = 0f;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!float.IsFinite(v))
                throw new ArgumentException(FormattableString.Invariant($"value {i} is {v}; only finite values can be quantized."), nameof(values));
            scale = MathF.Max(scale, MathF.Abs(v));
        }
        codes.Clear();
        for (int i = 0; i < values.Length; i++)
        {
            int code = Code(values[i], scale);
            codes[i >> 1] |= (byte)((i & 1) == 0 ? code : code << 4);
        }
        return scale;
    }

    /// <summary>Decodes <paramref name="codes"/> with <paramref name="scale"/> into <paramref name="values"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> codes, float scale, Span<float> values)
    {
        int needed = (values.Length + 1) / 2;
        if (codes.Length != needed)
            throw new ArgumentException(FormattableString.Invariant($"{values.Length} values need {needed} code bytes; got {codes.Length}."), nameof(codes));
        if (!float.IsFinite(scale) || scale < 0)
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "the scale must be finite and non-negative.");
        for (int i = 0; i < values.Length; i++)
        {
            int code = (i & 1) == 0 ? codes[i >> 1] & 0xF : codes[i >> 1] >> 4;
            values[i] = Value(code, scale);
        }
    }

    /// <summary>Replaces every value by its quantized-then-dequantized value (one scale for the whole span).</summary>
    public static void RoundTrip(Span<float> values)
    {
        var codes = new byte[(values.Length + 1) / 2];
        float scale = Encode(values, codes);
        Decode(codes, scale, values);
    }

    private static int Code(float v, float scale)
    {
        if (v == 0f || scale == 0f) return 0;
        double e = Math.Round(Math.Log2(Math.Abs((double)v) / scale), MidpointRounding.AwayFromZero);
        if (e < MinimumExponent) return 0;
        if (e > 0) e = 0; // |v| ≤ s, so only rounding noise could push it above
        int exponentCode = (int)e - MinimumExponent + 1; // 1…7
        return v < 0 ? exponentCode | 8 : exponentCode;
    }

    private static float Value(int code, float scale)
    {
        int exponentCode = code & 7;
        if (exponentCode == 0) return 0f;
        float magnitude = scale * MathF.ScaleB(1f, exponentCode - 1 + MinimumExponent);
        return (code & 8) != 0 ? -magnitude : magnitude;
    }
}
