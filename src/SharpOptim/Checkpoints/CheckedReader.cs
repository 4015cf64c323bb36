using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Checkpoints;

/// <summary>
/// Reads the variable-size pieces of saved state — counts, strings and tensors — checking every number read from
/// the stream before it sizes anything. A checkpoint's hash proves the file is the one written, not that the writer
/// was honest or that the format is ours, so a file with a valid hash can still say "dtype 200" or "2^40 elements";
/// TorchSharp's own <c>Tensor.Load</c> passes such numbers straight to libtorch (heap corruption, SIGSEGV, or
/// allocations of tens of gigabytes) and sizes a managed array by the rank it reads. Here dtype codes must be ones
/// with a fixed element size, ranks at most <see cref="MaxRank"/>, dims non-negative, and the bytes a tensor or
/// string needs (computed with overflow checks) at most the bytes left in the stream; every violation is an
/// <see cref="InvalidDataException"/> naming the value, raised before any allocation.
/// <para>Tensors are in TorchSharp's layout (<c>Tensor.Save(BinaryWriter)</c>): LEB128 dtype code, LEB128 rank,
/// LEB128 dims, then the elements' bytes in native order; strings in <see cref="BinaryWriter"/>'s layout (7-bit
/// encoded byte length, UTF-8).</para>
/// </summary>
internal static class CheckedReader
{
    /// <summary>The largest tensor rank accepted (libtorch's own tensors rarely exceed 8; 64 leaves room).</summary>
    public const int MaxRank = 64;

    /// <summary>The longest name accepted, in UTF-8 bytes (names are parameter paths and type names).</summary>
    public const int MaxStringBytes = 1 << 16;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The tensor element types a checkpoint may hold, with their sizes in bytes: the types with a fixed
    /// element size that TorchSharp can create and save (quantized types and ComplexFloat16 are excluded).</summary>
    private static int ElementSize(long code) => code switch
    {
        (long)ScalarType.Byte or (long)ScalarType.Int8 or (long)ScalarType.Bool => 1,
        (long)ScalarType.Int16 or (long)ScalarType.Float16 or (long)ScalarType.BFloat16 => 2,
        (long)ScalarType.Int32 or (long)ScalarType.Float32 => 4,
        (long)ScalarType.Int64 or (long)ScalarType.Float64 or (long)ScalarType.ComplexFloat32 => 8,
        (long)ScalarType.ComplexFloat64 => 16,
        _ => 0,
    };

    /// <summary>
    /// Runs one parsing step of <paramref name="source"/> (as it should appear in messages, e.g. a quoted path) and
    /// reports every way malformed bytes can make it fail as an <see cref="InvalidDataException"/> naming the
    /// source, with the original exception inside: the readers here check what they read, but the .NET and
    /// TorchSharp calls beneath them signal bad bytes with their own types (end of stream, format, overflow,
    /// argument, libtorch errors, and options or states the objects refuse).
    /// </summary>
    public static T Guard<T>(string source, Func<T> step)
    {
        try
        {
            return step();
        }
        catch (InvalidDataException e) when (!e.Message.Contains(source, StringComparison.Ordinal))
        {
            throw new InvalidDataException(FormattableString.Invariant($"{source}: {e.Message}"), e);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException(FormattableString.Invariant($"{source} ends early: it is truncated or not what SharpOptim wrote."), e);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or ExternalException or
                                      (InvalidOperationException and not ObjectDisposedException))
        {
            throw new InvalidDataException(FormattableString.Invariant($"{source} is malformed: {e.GetType().Name}: {e.Message}"), e);
        }
    }

    /// <inheritdoc cref="Guard{T}(string, Func{T})"/>
    public static void Guard(string source, Action step) => Guard(source, () => { step(); return 0; });

    /// <summary>Bytes left in the reader's stream, or <see cref="long.MaxValue"/> when the stream cannot tell.</summary>
    public static long Remaining(BinaryReader reader)
    {
        var s = reader.BaseStream;
        if (!s.CanSeek) return long.MaxValue;
        return Math.Max(0, s.Length - s.Position);
    }

    /// <summary>Reads an int32 count of items that take at least <paramref name="minBytesEach"/> bytes each,
    /// and checks it is in [0, <paramref name="max"/>] and that the stream holds that many items.</summary>
    public static int ReadCount(BinaryReader reader, string what, int max, int minBytesEach)
    {
        int n = reader.ReadInt32();
        if (n < 0 || n > max)
            throw new InvalidDataException(FormattableString.Invariant($"{what}: count {n} is outside [0, {max}]."));
        long left = Remaining(reader);
        if ((long)n * minBytesEach > left)
            throw new InvalidDataException(FormattableString.Invariant($"{what}: count {n} needs at least {(long)n * minBytesEach} bytes; {left} are left."));
        return n;
    }

    /// <summary>Reads a string written by <see cref="BinaryWriter.Write(string)"/>, checking its length first.</summary>
    public static string ReadString(BinaryReader reader, string what)
    {
        long length = ReadLeb128(reader, what + " (string length)", maxBytes: 5);
        long left = Remaining(reader);
        if (length > MaxStringBytes || length > left)
            throw new InvalidDataException(FormattableString.Invariant($"{what}: string length {length} exceeds {(length > MaxStringBytes ? $"the limit of {MaxStringBytes} bytes" : $"the {left} bytes left")}."));
        var bytes = reader.ReadBytes((int)length);
        if (bytes.Length != length) throw new EndOfStreamException(FormattableString.Invariant($"{what}: the string of {length} bytes is cut short at {bytes.Length}."));
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException(FormattableString.Invariant($"{what}: the {length}-byte string is not valid UTF-8."), e);
        }
    }

    /// <summary>Reads and checks a tensor's dtype and shape; the data follow (<see cref="ReadTensorData"/> or
    /// <see cref="SkipTensorData"/>).</summary>
    public static TensorHeader ReadTensorHeader(BinaryReader reader, string what)
    {
        long code = ReadLeb128(reader, what + " (dtype)", maxBytes: 9);
        int size = ElementSize(code);
        if (size == 0)
            throw new InvalidDataException(FormattableString.Invariant($"{what}: dtype code {code} is not a tensor element type a checkpoint holds."));
        long rank = ReadLeb128(reader, what + " (rank)", maxBytes: 9);
        if (rank > MaxRank)
            throw new InvalidDataException(FormattableString.Invariant($"{what}: rank {rank} exceeds {MaxRank}."));
        var shape = new long[rank];
        // Two products, both overflow-checked: the elements' bytes with every dim taken as at least 1 (libtorch
        // computes strides from the dims, so even a tensor with a zero dim must not have the others overflow), and
        // the bytes the data take (zero when a dim is zero).
        long span = size;
        for (int k = 0; k < rank; k++)
        {
            shape[k] = ReadLeb128(reader, FormattableString.Invariant($"{what} (dim {k})"), maxBytes: 9);
            long d = Math.Max(shape[k], 1);
            if (span > long.MaxValue / d)
                throw new InvalidDataException(FormattableString.Invariant($"{what}: shape [{string.Join(", ", shape[..(k + 1)])}, ...] of {(ScalarType)code} overflows a 64-bit byte count."));
            span *= d;
        }
        long bytes = shape.Contains(0) ? 0 : span;
        long left = Remaining(reader);
        if (bytes > left)
            throw new InvalidDataException(FormattableString.Invariant($"{what}: {(ScalarType)code} [{string.Join(", ", shape)}] needs {bytes} bytes; {left} are left."));
        return new TensorHeader((ScalarType)code, shape, bytes);
    }

    /// <summary>Allocates the tensor a checked header describes (on the CPU) and reads its bytes.</summary>
    public static Tensor ReadTensorData(BinaryReader reader, TensorHeader header, string what)
    {
        if (!reader.BaseStream.CanSeek)
            return ReadTensorDataOfUnknownLength(reader, header, what);
        var t = empty(header.Shape, dtype: header.DType);
        try
        {
            t.ReadBytesFromStream(reader.BaseStream, bufferSize: (int)Math.Clamp(header.Bytes, 1, 1 << 16));
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Reads past a checked tensor's bytes without allocating the tensor.</summary>
    public static void SkipTensorData(BinaryReader reader, TensorHeader header, string what)
    {
        var buffer = new byte[(int)Math.Clamp(header.Bytes, 1, 1 << 16)];
        long left = header.Bytes;
        while (left > 0)
        {
            int n = reader.BaseStream.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n <= 0) throw new EndOfStreamException(FormattableString.Invariant($"{what}: the data end {left} bytes early."));
            left -= n;
        }
    }

    /// <summary>
    /// When the stream cannot say how much it holds, the bytes are read into managed memory first and the tensor is
    /// allocated only once they have all arrived, so memory follows the bytes actually present rather than the
    /// shape claimed. (A managed buffer is limited to 2 GiB; larger tensors need a seekable stream, such as a file.)
    /// </summary>
    private static Tensor ReadTensorDataOfUnknownLength(BinaryReader reader, TensorHeader header, string what)
    {
        if (header.Bytes > Array.MaxLength)
            throw new InvalidDataException(FormattableString.Invariant($"{what}: {header.Bytes} bytes of tensor data from a stream that cannot report its length (the limit for such streams is {Array.MaxLength}); load from a file."));
        using var buffered = new MemoryStream();
        var chunk = new byte[(int)Math.Clamp(header.Bytes, 1, 1 << 16)];
        long left = header.Bytes;
        while (left > 0)
        {
            int n = reader.BaseStream.Read(chunk, 0, (int)Math.Min(chunk.Length, left));
            if (n <= 0) throw new EndOfStreamException(FormattableString.Invariant($"{what}: the data end {left} bytes early."));
            buffered.Write(chunk, 0, n);
            left -= n;
        }
        buffered.Position = 0;
        var t = empty(header.Shape, dtype: header.DType);
        try
        {
            t.ReadBytesFromStream(buffered, bufferSize: chunk.Length);
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads an unsigned LEB128 number of at most <paramref name="maxBytes"/> bytes (9 bytes hold 63 bits, so the
    /// result is never negative; 5 bytes is BinaryWriter's limit for an int32 length, whose value must also fit).
    /// TorchSharp's decoder accepts any number of bytes and lets the shift wrap, so that a long run of continuation
    /// bytes decodes to anything, including negative dims.
    /// </summary>
    private static long ReadLeb128(BinaryReader reader, string what, int maxBytes)
    {
        long value = 0;
        for (int i = 0; i < maxBytes; i++)
        {
            byte b = reader.ReadByte();
            value |= (long)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                if (maxBytes <= 5 && value > int.MaxValue)
                    throw new InvalidDataException(FormattableString.Invariant($"{what}: {value} does not fit in an int32."));
                return value;
            }
        }
        throw new InvalidDataException(FormattableString.Invariant($"{what}: a variable-length number runs past {maxBytes} bytes."));
    }
}
