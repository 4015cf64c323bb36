using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using SharpOptim.Optimizers;

namespace SharpOptim.Tests;

/// <summary>
/// Malformed checkpoints that pass the integrity check. The test parses a real checkpoint into its fields (an
/// independent reading of the format: magic, version, flags, optimizer section, model section, tensors in
/// TorchSharp's LEB128 layout), damages each field in the ways a reader can get wrong (out-of-range dtype codes,
/// huge or negative dims, counts and string lengths, truncation) and reseals the file with a correct length and
/// SHA-256 trailer, so the damage reaches the parser instead of being caught by the checksum.
/// </summary>
internal static class CraftedCheckpoints
{
    public enum Kind { Magic, Version, Flags, StringLength, StringBytes, Int64, Int32, Double, Bool, DType, Rank, Dim, Data }

    public readonly record struct Field(Kind Kind, int Offset, int Length, string What);

    public readonly record struct Case(string Name, byte[] File);

    /// <summary>The file for <paramref name="payload"/>: the payload, its length (int64) and its SHA-256.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> payload)
    {
        var file = new byte[payload.Length + 40];
        payload.CopyTo(file);
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(payload.Length), payload.Length);
        SHA256.HashData(payload, file.AsSpan(payload.Length + 8));
        return file;
    }

    /// <summary>The payload (everything before the trailer) of a checkpoint file.</summary>
    public static byte[] Payload(byte[] file) => file[..^40];

    /// <summary>Splits a format-1 payload written for <paramref name="optimizer"/> (and a model) into its fields, in order.</summary>
    public static List<Field> Parse(byte[] payload, OptimizerBase optimizer)
    {
        var fields = new List<Field>();
        int pos = 0;
        void Take(Kind kind, int length, string what)
        {
            if (pos + length > payload.Length) throw new InvalidOperationException($"The test's parser ran past the end at {what}.");
            fields.Add(new Field(kind, pos, length, what));
            pos += length;
        }
        int Int32(string what) { int v = BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(pos)); Take(Kind.Int32, 4, what); return v; }
        long Leb(Kind kind, string what)
        {
            int start = pos;
            long v = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = payload[pos++];
                v |= (long)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) break;
            }
            fields.Add(new Field(kind, start, pos - start, what));
            return v;
        }
        string String(string what)
        {
            int n = (int)Leb(Kind.StringLength, what + " (length)");
            string s = Encoding.UTF8.GetString(payload, pos, n);
            Take(Kind.StringBytes, n, what);
            return s;
        }
        void Tensor(string what)
        {
            long dtype = Leb(Kind.DType, what + " dtype");
            long rank = Leb(Kind.Rank, what + " rank");
            long count = 1;
            for (int k = 0; k < rank; k++) count *= Leb(Kind.Dim, $"{what} dim {k}");
            long size = dtype switch { 0 or 1 or 11 => 1, 2 or 5 or 15 => 2, 3 or 6 => 4, 4 or 7 or 9 => 8, 10 => 16, _ => throw new InvalidOperationException($"dtype {dtype}") };
            Take(Kind.Data, checked((int)(count * size)), what + " data");
        }

        Take(Kind.Magic, 8, "magic");
        Take(Kind.Version, 4, "version");
        int flags = BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(pos));
        Take(Kind.Flags, 4, "flags");
        if ((flags & 1) != 0)
        {
            String("optimizer type");
            Take(Kind.Int64, 8, "step count");
            Take(Kind.Int64, 8, "skipped steps");
            int groups = Int32("group count");
            for (int g = 0; g < groups; g++)
            {
                Take(Kind.Double, 8, $"group {g} initial lr");
                Take(Kind.Double, 8, $"group {g} lr");
                foreach (var p in ((OptionsBase)optimizer.Groups[g].Options).Hyperparameters)
                {
                    bool has = payload[pos] != 0;
                    Take(Kind.Bool, 1, $"group {g} {p.Name} present");
                    if (!has) continue;
                    if (p.PropertyType == typeof(double?)) Take(Kind.Double, 8, $"group {g} {p.Name}");
                    else if (p.PropertyType == typeof(bool?)) Take(Kind.Bool, 1, $"group {g} {p.Name}");
                    else Take(Kind.Int64, 8, $"group {g} {p.Name}");
                }
                int parameters = Int32($"group {g} parameter count");
                for (int i = 0; i < parameters; i++)
                {
                    string name = String($"group {g} parameter {i} name");
                    int rank = Int32($"'{name}' rank");
                    for (int k = 0; k < rank; k++) Take(Kind.Int64, 8, $"'{name}' dim {k}");
                    Take(Kind.Bool, 1, $"'{name}' initialized");
                    Take(Kind.Int64, 8, $"'{name}' step");
                    int tensors = Int32($"'{name}' state tensor count");
                    for (int t = 0; t < tensors; t++)
                    {
                        string tname = String($"'{name}' state tensor {t} name");
                        Tensor($"'{name}'.{tname}");
                    }
                }
            }
        }
        if ((flags & 2) != 0)
        {
            int count = Int32("model tensor count");
            for (int i = 0; i < count; i++)
            {
                string name = String($"model tensor {i} name");
                Tensor($"model '{name}'");
            }
        }
        if (pos != payload.Length) throw new InvalidOperationException($"The test's parser stopped at {pos} of {payload.Length} bytes.");
        return fields;
    }

    /// <summary>LEB128 (TorchSharp's tensor header encoding, and BinaryWriter's 7-bit string length) of an unsigned value.</summary>
    public static byte[] Leb(ulong v)
    {
        var bytes = new List<byte>();
        do
        {
            byte b = (byte)(v & 0x7F);
            v >>= 7;
            bytes.Add(v != 0 ? (byte)(b | 0x80) : b);
        } while (v != 0);
        return bytes.ToArray();
    }

    private static byte[] Splice(byte[] payload, Field f, ReadOnlySpan<byte> replacement)
    {
        var result = new byte[payload.Length - f.Length + replacement.Length];
        payload.AsSpan(0, f.Offset).CopyTo(result);
        replacement.CopyTo(result.AsSpan(f.Offset));
        payload.AsSpan(f.Offset + f.Length).CopyTo(result.AsSpan(f.Offset + replacement.Length));
        return result;
    }

    private static byte[] Le(long v, int length)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, v);
        return b[..length];
    }

    /// <summary>
    /// Every crafted file for one checkpoint: single-byte changes of every header byte and a sample of data bytes;
    /// truncations at every field boundary (±1) and every 13th length; every dtype code 0..255 and huge or negative
    /// codes; huge, negative and wrong ranks and dims; out-of-range counts and int64 fields; huge and malformed
    /// string lengths; non-finite option values.
    /// </summary>
    public static List<Case> Generate(byte[] file, OptimizerBase optimizer)
    {
        var payload = Payload(file);
        var fields = Parse(payload, optimizer);
        var cases = new List<Case>();
        void Add(string name, byte[] p) => cases.Add(new Case(name, Seal(p)));

        // Huge and negative LEB128 values: 2^31 and 2^32 + 6 (wraps to Float32 if cast to a narrower type), 2^40,
        // 2^62, 2^63 - 1, and ten-byte encodings that decode to -1 and long.MinValue.
        ulong[] hugeLeb = { 128, (1UL << 31) - 1, 1UL << 31, (1UL << 32) + 6, 1UL << 40, 1UL << 62, long.MaxValue, ulong.MaxValue, 1UL << 63 };
        byte[][] overlongLeb =
        {
            Enumerable.Repeat((byte)0xFF, 10).ToArray(),                      // past 64 bits
            Enumerable.Repeat((byte)0x80, 20).Append((byte)0x06).ToArray(),   // 21 bytes: shift counts wrap
            new byte[] { 0x86, 0x00 },                                         // non-minimal encoding of 6
        };

        // 1. Single-byte changes of every non-data byte, and of every 61st data byte.
        int dataIndex = 0;
        foreach (var f in fields)
            for (int i = 0; i < f.Length; i++)
            {
                int at = f.Offset + i;
                byte b = payload[at];
                IEnumerable<byte> values = f.Kind == Kind.Data
                    ? (dataIndex++ % 61 == 0 ? new[] { (byte)(b ^ 0x80) } : Array.Empty<byte>())
                    : new[] { (byte)(b ^ 0x01), (byte)(b ^ 0x80), (byte)(b ^ 0xFF), (byte)0x00, (byte)0x7F, (byte)0xFF };
                foreach (var v in values.Distinct().Where(v => v != b))
                {
                    var p = (byte[])payload.Clone();
                    p[at] = v;
                    Add($"byte {at} ({f.What}) {b:x2}->{v:x2}", p);
                }
            }

        // 2. Truncations, resealed: at every field boundary and one byte either side, and every 13th length.
        var lengths = new SortedSet<int>();
        foreach (var f in fields)
            foreach (int l in new[] { f.Offset - 1, f.Offset, f.Offset + 1, f.Offset + f.Length - 1 })
                if (l >= 0 && l < payload.Length) lengths.Add(l);
        for (int l = 0; l < payload.Length; l += 13) lengths.Add(l);
        foreach (int l in lengths) Add($"truncated to {l} of {payload.Length}", payload[..l]);

        // 3. Field-level damage.
        bool firstOptimizerDType = true, firstModelDType = true;
        foreach (var f in fields)
        {
            switch (f.Kind)
            {
                case Kind.DType:
                    bool model = f.What.StartsWith("model", StringComparison.Ordinal);
                    bool all = model ? firstModelDType : firstOptimizerDType;
                    if (model) firstModelDType = false; else firstOptimizerDType = false;
                    // Every code 0..255 for the first tensor of each section; the codes TorchSharp has no fixed
                    // size for (8, 12-14), the first unknown ones and the extremes of one byte for every tensor.
                    foreach (int code in all ? Enumerable.Range(0, 256) : new[] { 0, 7, 8, 11, 12, 13, 14, 15, 16, 17, 64, 127, 128, 255 })
                        Add($"{f.What} = byte {code}", Splice(payload, f, new[] { (byte)code }));
                    foreach (var v in hugeLeb) Add($"{f.What} = {v}", Splice(payload, f, Leb(v)));
                    foreach (var o in overlongLeb) Add($"{f.What} = overlong {Convert.ToHexString(o)}", Splice(payload, f, o));
                    break;
                case Kind.Rank:
                    foreach (var v in new ulong[] { 0, 1, 3, 9, 65, 1000 }.Concat(hugeLeb)) Add($"{f.What} = {v}", Splice(payload, f, Leb(v)));
                    foreach (var o in overlongLeb) Add($"{f.What} = overlong {Convert.ToHexString(o)}", Splice(payload, f, o));
                    break;
                case Kind.Dim:
                    foreach (var v in new ulong[] { 0, 1, 17, 1UL << 20 }.Concat(hugeLeb)) Add($"{f.What} = {v}", Splice(payload, f, Leb(v)));
                    foreach (var o in overlongLeb) Add($"{f.What} = overlong {Convert.ToHexString(o)}", Splice(payload, f, o));
                    break;
                case Kind.Int32:
                    int i32 = BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(f.Offset));
                    foreach (int v in new[] { -1, int.MinValue, int.MaxValue, 1 << 30, 65, 0, i32 + 1, i32 - 1 }.Distinct().Where(v => v != i32))
                        Add($"{f.What} = {v}", Splice(payload, f, Le(v, 4)));
                    break;
                case Kind.Int64:
                    long i64 = BinaryPrimitives.ReadInt64LittleEndian(payload.AsSpan(f.Offset));
                    foreach (long v in new[] { -1, long.MinValue, long.MaxValue, 1L << 40, 0, i64 + 1 }.Distinct().Where(v => v != i64))
                        Add($"{f.What} = {v}", Splice(payload, f, Le(v, 8)));
                    break;
                case Kind.Double:
                    foreach (double v in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, -1.0, 1e308, 0.0 })
                        Add($"{f.What} = {v}", Splice(payload, f, Le(BitConverter.DoubleToInt64Bits(v), 8)));
                    break;
                case Kind.StringLength:
                    int len = payload[f.Offset];
                    foreach (var v in new ulong[] { 0, (ulong)len + 1, 127, 128, 1 << 20, 1 << 28, int.MaxValue, uint.MaxValue, 1UL << 40 }.Where(v => v != (ulong)len))
                        Add($"{f.What} = {v}", Splice(payload, f, Leb(v)));
                    if (len > 0) Add($"{f.What} = {len - 1}", Splice(payload, f, Leb((ulong)(len - 1))));
                    foreach (var o in overlongLeb) Add($"{f.What} = overlong {Convert.ToHexString(o)}", Splice(payload, f, o));
                    break;
                case Kind.StringBytes:
                    Add($"{f.What} = invalid UTF-8", Splice(payload, f, Enumerable.Repeat((byte)0xC3, f.Length).ToArray()));
                    break;
                case Kind.Flags:
                    foreach (int v in new[] { 0, 1, 2, 4, 7, 255, -1 })
                        Add($"flags = {v}", Splice(payload, f, Le(v, 4)));
                    break;
            }
        }
        return cases;
    }
}
