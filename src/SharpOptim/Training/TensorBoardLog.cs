using System.Numerics;
using System.Text;
using SharpOptim.Optimizers;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Training;

/// <summary>
/// Writes a training run's scalars as a TensorBoard event file, so runs can be looked at the way users already look at
/// theirs (<c>tensorboard --logdir DIR</c>). One instance is one run: give each run its own directory (TensorBoard
/// shows every subfolder of the log directory as a run).
/// <para>The hook any training loop can use: call <see cref="Step(int, double, optim.Optimizer, double?)"/> after each
/// optimizer step; it records <c>loss</c>, <c>lr</c> (of the first parameter group), <c>grad_norm</c> (the global
/// ‖g‖₂ of the gradients the step used, computed when not given) and <c>state_bytes</c> (SharpOptim optimizers);
/// <see cref="Scalar"/> records anything else.</para>
/// <para>Format: TFRecord framing (length, masked CRC-32C of the length, an <c>Event</c> protocol buffer, its masked
/// CRC-32C), the first event carrying <c>file_version = "brain.Event:2"</c>; wall time in seconds since the Unix epoch
/// as a double. TorchSharp ships a <c>SummaryWriter</c>, but 0.107's records wall time as .NET ticks (or 0 by
/// default) rather than Unix seconds, which puts every point at the same or a nonsensical time in TensorBoard's
/// relative/wall views, and it reopens the file for every value; this writer keeps the file open, buffers, and
/// flushes every <see cref="FlushEvery"/> events and on <see cref="Flush"/>/<see cref="Dispose"/>.</para>
/// </summary>
public sealed class TensorBoardLog : IDisposable
{
    private static long _uid;
    private readonly FileStream _file;
    private readonly Func<double> _clock;
    private readonly MemoryStream _event = new();
    private int _unflushed;

    /// <summary>Events written between automatic flushes.</summary>
    public const int FlushEvery = 64;

    /// <summary>Creates <paramref name="directory"/> if needed and opens a new event file in it
    /// (<c>events.out.tfevents.SECONDS.HOST.PID.N</c>, the name TensorBoard looks for).</summary>
    /// <param name="directory">The run's folder.</param>
    /// <param name="clock">Wall time in seconds since the Unix epoch (default: the system clock); tests fix it.</param>
    public TensorBoardLog(string directory, Func<double>? clock = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        _clock = clock ?? (() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        Directory.CreateDirectory(directory);
        DirectoryPath = Path.GetFullPath(directory);
        string host = System.Net.Dns.GetHostName();
        if (host.Length == 0 || host.Any(c => !(char.IsLetterOrDigit(c) || c is '-' or '_' or '.'))) host = "localhost";
        FilePath = Path.Combine(DirectoryPath, FormattableString.Invariant(
            $"events.out.tfevents.{(long)_clock()}.{host}.{Environment.ProcessId}.{Interlocked.Increment(ref _uid)}"));
        _file = new FileStream(FilePath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16);
        WriteEvent(step: null, fileVersion: "brain.Event:2", tag: null, value: 0);
        Flush();
    }

    /// <summary>The run's folder.</summary>
    public string DirectoryPath { get; }

    /// <summary>The event file.</summary>
    public string FilePath { get; }

    /// <summary>Records one scalar under <paramref name="tag"/> at <paramref name="step"/> (stored as float32, as
    /// TensorBoard's simple_value is).</summary>
    public void Scalar(string tag, double value, long step)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tag);
        ObjectDisposedException.ThrowIf(!_file.CanWrite, this);
        WriteEvent(step, null, tag, (float)value);
        if (++_unflushed >= FlushEvery) Flush();
    }

    /// <summary>Records the standard scalars of one optimizer step: <c>loss</c>, <c>lr</c> (first parameter group),
    /// <c>grad_norm</c> (<paramref name="gradientNorm"/>, or the global ‖g‖₂ of the optimizer's parameters' current
    /// gradients) and, for SharpOptim optimizers, <c>state_bytes</c>.</summary>
    public void Step(int step, double loss, optim.Optimizer optimizer, double? gradientNorm = null)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        Scalar("loss", loss, step);
        if (optimizer.ParamGroups.FirstOrDefault() is { } group) Scalar("lr", group.LearningRate, step);
        Scalar("grad_norm", gradientNorm ?? GradientNorm(optimizer), step);
        if (optimizer is OptimizerBase sharp) Scalar("state_bytes", sharp.StateBytes, step);
    }

    /// <summary>The global L2 norm of the current gradients of <paramref name="optimizer"/>'s parameters.</summary>
    public static double GradientNorm(optim.Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        double sum = 0;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        foreach (var p in optimizer.parameters())
            if (p.grad is { } g)
            {
                var d = g.to_type(ScalarType.Float64).flatten();
                sum += d.dot(d).item<double>();
            }
        return Math.Sqrt(sum);
    }

    /// <summary>Writes buffered events to disk.</summary>
    public void Flush()
    {
        if (!_file.CanWrite) return;
        _file.Flush(flushToDisk: false);
        _unflushed = 0;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_file.CanWrite) return;
        Flush();
        _file.Dispose();
        _event.Dispose();
    }

    // Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
    // Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
    private void WriteEvent(long? step, string? fileVersion, string? tag, float value)
    {
        _event.SetLength(0);
        WriteTag(_event, 1, 1);
        WriteDouble(_event, _clock());
        if (step is { } s && s != 0)
        {
            WriteTag(_event, 2, 0);
            WriteVarint(_event, unchecked((ulong)s));
        }
        if (fileVersion is not null) WriteBytes(_event, 3, Encoding.UTF8.GetBytes(fileVersion));
        if (tag is not null)
        {
            var tagBytes = Encoding.UTF8.GetBytes(tag);
            var val = new MemoryStream();
            WriteBytes(val, 1, tagBytes);
            WriteTag(val, 2, 5);
            Span<byte> f = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(f, value);
            val.Write(f);
            var summary = new MemoryStream();
            WriteBytes(summary, 1, val.ToArray());
            WriteBytes(_event, 5, summary.ToArray());
        }
        var data = _event.GetBuffer().AsSpan(0, (int)_event.Length);
        Span<byte> header = stackalloc byte[12];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc32C(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc32C(data));
        _file.Write(header);
        _file.Write(data);
        _file.Write(footer);
    }

    /// <summary>CRC-32C (Castagnoli) of <paramref name="data"/>, masked as TFRecord does: rotate right by 15 and add
    /// 0xa282ead8.</summary>
    public static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data) crc = BitOperations.Crc32C(crc, b);
        crc ^= 0xFFFFFFFF;
        return unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8U);
    }

    private static void WriteTag(Stream s, int field, int wireType) => WriteVarint(s, (ulong)((field << 3) | wireType));

    private static void WriteVarint(Stream s, ulong v)
    {
        while (v >= 0x80)
        {
            s.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        s.WriteByte((byte)v);
    }

    private static void WriteDouble(Stream s, double d)
    {
        Span<byte> b = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteDoubleLittleEndian(b, d);
        s.Write(b);
    }

    private static void WriteBytes(Stream s, int field, byte[] bytes)
    {
        WriteTag(s, field, 2);
        WriteVarint(s, (ulong)bytes.Length);
        s.Write(bytes);
    }
}
