using System.Runtime.InteropServices;
using System.Security.Cryptography;
using SharpOptim.Optimizers;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpOptim.Checkpoints;

/// <summary>
/// Atomic save and validated load of optimizer state, optionally with a model's state.
/// <para>
/// Saving writes a temporary file beside the target (named as <see cref="AtomicFile"/> names them), flushes it to
/// disk, then renames it over the target, so a crash or an exception mid-save leaves the previous checkpoint intact;
/// temporaries that killed saves of the same target left behind are removed afterwards. The file ends with its
/// payload length and SHA-256, so a truncated or altered file is rejected. Loading reads and checks everything
/// (format, hash, optimizer type, options, group and parameter shapes, model tensor names and shapes) before
/// changing anything.
/// </para>
/// <para>
/// The hash only proves the file is the one that was written. The parser therefore trusts no number in it: every
/// dtype code, rank, dim, count and string length is checked (against the types a checkpoint holds, against the
/// objects being loaded, and against the bytes left in the file) before it sizes an allocation, and every malformed
/// file, whatever call meets the bad bytes first, is reported as an <see cref="InvalidDataException"/> naming the
/// file (see <see cref="CheckedReader"/>).
/// </para>
/// <para>File layout: "SHARPOPT" magic, format version (int32), flags (int32: 1 = optimizer, 2 = model,
/// 4 = Lookahead, 8 = EMA, 16 = LR scheduler), then the sections present in that order (optimizer state, model state,
/// Lookahead state, EMA state, scheduler position), then payload length (int64) and SHA-256 of everything before it
/// (32 bytes). Format 2 added the last three sections; a file without them is written as format 1 (the same bytes
/// format 1 always had), so that older SharpOptim versions still read it, and this version reads both.</para>
/// <para>
/// <see cref="Save(string, TrainingState)"/> and <see cref="Load(string, TrainingState)"/> save and resume a whole run
/// (optimizer with its Lookahead, EMA, scheduler position, model) in one file: every section is read and checked
/// before any is applied, so a bad or truncated file changes none of them.
/// </para>
/// </summary>
public static class Checkpoint
{
    private static readonly byte[] Magic = "SHARPOPT"u8.ToArray();
    private const int FormatVersion = 2;
    private const int OptimizerFlag = 1, ModelFlag = 2, LookaheadFlag = 4, EmaFlag = 8, SchedulerFlag = 16, AllFlags = 31;
    private const int TrailerLength = 8 + 32;

    /// <summary>Test hook: wraps the stream a save writes to (used to fail a write partway).</summary>
    internal static Func<Stream, Stream>? WrapWriteStreamForTests;

    /// <summary>Saves the optimizer's state, and the model's if given, to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, OptimizerBase? optimizer, nn.Module? model = null)
    {
        if (optimizer is null && model is null) throw new ArgumentException("Nothing to save: both optimizer and model are null.");
        Save(path, new TrainingState { Optimizer = optimizer, Model = model });
    }

    /// <summary>
    /// Saves every part of <paramref name="state"/> that is set (optimizer, Lookahead, EMA, scheduler position, model)
    /// to <paramref name="path"/> atomically, for <see cref="Load(string, TrainingState)"/> to resume the run.
    /// </summary>
    public static void Save(string path, TrainingState state)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(state);
        if (Flags(state) == 0) throw new ArgumentException("Nothing to save: the TrainingState has no part set.", nameof(state));
        if (state.Scheduler is not null) SchedulerState.CheckSupported(state.Scheduler);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException(FormattableString.Invariant($"Checkpoint directory '{dir}' does not exist."));
        string tmp = AtomicFile.NewTemporaryPath(full);
        try
        {
            using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var hashing = new HashingWriteStream(file, hash);
                Stream target = WrapWriteStreamForTests?.Invoke(hashing) ?? hashing;
                WritePayload(target, state);
                long length = hashing.Written;
                var trailer = new BinaryWriter(file, System.Text.Encoding.UTF8, leaveOpen: true);
                trailer.Write(length);
                trailer.Write(hash.GetHashAndReset());
                trailer.Flush();
                file.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
            SyncDirectory(dir);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        // Only after the new checkpoint is in place: temporaries that saves of this target left when their process
        // was killed (best effort; never the temporary of a save still running).
        AtomicFile.RemoveStaleTemporaries(full);
    }

    private static int Flags(TrainingState state) =>
        (state.ResolveOptimizer() is null ? 0 : OptimizerFlag) | (state.Model is null ? 0 : ModelFlag) | (state.Lookahead is null ? 0 : LookaheadFlag)
        | (state.Ema is null ? 0 : EmaFlag) | (state.Scheduler is null ? 0 : SchedulerFlag);

    /// <summary>Writes the payload of a checkpoint of <paramref name="state"/> (everything before the trailer). The
    /// tests also use it to compare the complete state of a run before and after a failed load.</summary>
    internal static void WritePayload(Stream target, TrainingState state)
    {
        int flags = Flags(state);
        // Only format 2 holds the new sections; a file without them keeps format 1's bytes.
        int version = (flags & ~(OptimizerFlag | ModelFlag)) == 0 ? 1 : 2;
        using var w = new BinaryWriter(target, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(version);
        w.Write(flags);
        state.ResolveOptimizer()?.WriteState(w);
        if (state.Model is not null) WriteModel(w, state.Model);
        state.Lookahead?.Save(w);
        state.Ema?.Save(w);
        if (state.Scheduler is not null) SchedulerState.Write(w, state.Scheduler);
        w.Flush();
    }

    /// <summary>
    /// Loads a checkpoint into <paramref name="optimizer"/> and, if given, <paramref name="model"/> (a checkpoint
    /// that also holds a model's state can be loaded into the optimizer alone). Throws
    /// <see cref="InvalidDataException"/> for a truncated, altered, malformed or foreign file, or one whose contents
    /// do not match the objects; in every such case nothing is changed.
    /// </summary>
    public static void Load(string path, OptimizerBase? optimizer, nn.Module? model = null) =>
        Load(path, new TrainingState { Optimizer = optimizer, Model = model });

    /// <summary>
    /// Resumes a run saved by <see cref="Save(string, TrainingState)"/>: loads every section of the file into the
    /// matching part of <paramref name="state"/>. The parts must be the ones the file holds, except that the model
    /// may be left out (its section is then checked and skipped); a part the file lacks is an
    /// <see cref="InvalidDataException"/>, a section with no part to go into an <see cref="ArgumentException"/>.
    /// Every section is read and checked before any is applied: for a truncated, altered, malformed or foreign file,
    /// or one that does not match the objects, an <see cref="InvalidDataException"/> is thrown and nothing changes.
    /// Reads format 1 and format 2 files.
    /// </summary>
    public static void Load(string path, TrainingState state)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(state);
        state.ResolveOptimizer();
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Load(file, path, state);
    }

    /// <summary>Loads a checkpoint from a seekable stream holding exactly the file's bytes; <paramref name="path"/>
    /// names it in messages. (The crafted-file tests feed thousands of files through this without touching disk.)</summary>
    internal static void Load(Stream file, string path, OptimizerBase? optimizer, nn.Module? model) =>
        Load(file, path, new TrainingState { Optimizer = optimizer, Model = model });

    /// <inheritdoc cref="Load(Stream, string, OptimizerBase?, nn.Module?)"/>
    internal static void Load(Stream file, string path, TrainingState state)
    {
        var optimizer = state.ResolveOptimizer();
        var model = state.Model;
        if (state.Ema is { IsSwappedIn: true })
            throw new InvalidOperationException("Loading a checkpoint into an EMA whose averages are swapped in; dispose the SwapIn handle first.");
        long payload = VerifyIntegrity(file, path);
        file.Position = 0;
        var r = new BinaryReader(new BoundedReadStream(file, payload), System.Text.Encoding.UTF8);
        int flags = CheckedReader.Guard(FormattableString.Invariant($"'{path}'"), () =>
        {
            r.ReadBytes(Magic.Length);
            int version = r.ReadInt32();
            if (version is < 1 or > FormatVersion) throw new InvalidDataException(FormattableString.Invariant($"'{path}' is checkpoint format {version}; this SharpOptim reads formats 1 to {FormatVersion}."));
            int f = r.ReadInt32();
            int allowed = version == 1 ? OptimizerFlag | ModelFlag : AllFlags;
            if ((f & ~allowed) != 0 || f == 0)
                throw new InvalidDataException(version == 1
                    ? FormattableString.Invariant($"'{path}' has section flags {f}; a format-1 checkpoint has 1 (optimizer), 2 (model) or 3 (both).")
                    : FormattableString.Invariant($"'{path}' has section flags {f}; a format-2 checkpoint has a non-empty combination of 1 (optimizer), 2 (model), 4 (Lookahead), 8 (EMA) and 16 (scheduler)."));
            return f;
        });
        bool hasOpt = (flags & OptimizerFlag) != 0, hasModel = (flags & ModelFlag) != 0;
        bool hasLookahead = (flags & LookaheadFlag) != 0, hasEma = (flags & EmaFlag) != 0, hasScheduler = (flags & SchedulerFlag) != 0;
        if (optimizer is not null && !hasOpt) throw new InvalidDataException(FormattableString.Invariant($"'{path}' holds no optimizer state."));
        if (model is not null && !hasModel) throw new InvalidDataException(FormattableString.Invariant($"'{path}' holds no model state."));
        if (state.Lookahead is not null && !hasLookahead) throw new InvalidDataException(FormattableString.Invariant($"'{path}' holds no Lookahead state."));
        if (state.Ema is not null && !hasEma) throw new InvalidDataException(FormattableString.Invariant($"'{path}' holds no EMA state."));
        if (state.Scheduler is not null && !hasScheduler) throw new InvalidDataException(FormattableString.Invariant($"'{path}' holds no scheduler position."));
        // The optimizer section can only be parsed with the optimizer's option types, so it cannot be skipped; the
        // run's other parts are not skipped either, so that a resume never silently drops one.
        if (hasOpt && optimizer is null) throw new ArgumentException(FormattableString.Invariant($"'{path}' holds optimizer state: pass the optimizer to load it into."));
        if (hasLookahead && state.Lookahead is null) throw new ArgumentException(FormattableString.Invariant($"'{path}' holds a Lookahead state: set TrainingState.Lookahead to load it into."));
        if (hasEma && state.Ema is null) throw new ArgumentException(FormattableString.Invariant($"'{path}' holds an EMA state: set TrainingState.Ema to load it into."));
        if (hasScheduler && state.Scheduler is null) throw new ArgumentException(FormattableString.Invariant($"'{path}' holds a scheduler position: set TrainingState.Scheduler to load it into."));

        var pending = new List<(Action Apply, Action Discard)>();
        List<(Tensor Target, Tensor Loaded)>? modelTensors = null;
        try
        {
            CheckedReader.Guard(FormattableString.Invariant($"'{path}'"), () =>
            {
                if (hasOpt) pending.Add(optimizer!.ReadState(r));
                if (hasModel && model is not null) modelTensors = ReadModel(r, model);
                else if (hasModel) SkipModel(r);
                if (hasLookahead) pending.Add(state.Lookahead!.ReadState(r));
                if (hasEma) pending.Add(state.Ema!.ReadState(r));
                if (hasScheduler) pending.Add((SchedulerState.Read(r, state.Scheduler!), () => { }));
                if (r.BaseStream.Position != payload)
                    throw new InvalidDataException(FormattableString.Invariant($"'{path}' has {payload - r.BaseStream.Position} unread bytes: not a checkpoint this version wrote."));
            });
        }
        catch
        {
            foreach (var p in pending) p.Discard();
            modelTensors?.ForEach(x => x.Loaded.Dispose());
            throw;
        }

        foreach (var p in pending) p.Apply();
        if (modelTensors is not null)
        {
            using var _ = no_grad();
            foreach (var (t, l) in modelTensors)
            {
                t.copy_(l);
                l.Dispose();
            }
        }
    }

    /// <summary>Checks magic, length and SHA-256; returns the payload length.</summary>
    private static long VerifyIntegrity(Stream file, string path)
    {
        long size = file.Length;
        if (size < Magic.Length + 8 + TrailerLength)
            throw new InvalidDataException(FormattableString.Invariant($"'{path}' is {size} bytes: too short to be a SharpOptim checkpoint (truncated?)."));
        var head = new byte[Magic.Length];
        file.ReadExactly(head);
        if (!head.AsSpan().SequenceEqual(Magic)) throw new InvalidDataException(FormattableString.Invariant($"'{path}' is not a SharpOptim checkpoint (bad magic)."));
        file.Position = size - TrailerLength;
        var trailer = new byte[TrailerLength];
        file.ReadExactly(trailer);
        long payload = BitConverter.ToInt64(trailer, 0);
        if (payload != size - TrailerLength)
            throw new InvalidDataException(FormattableString.Invariant($"'{path}' is truncated or damaged: it records {payload} payload bytes but holds {size - TrailerLength}."));
        file.Position = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[(int)Math.Min(1 << 16, payload)];
        long left = payload;
        while (left > 0)
        {
            int n = file.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n <= 0) throw new InvalidDataException(FormattableString.Invariant($"'{path}' ends early."));
            hash.AppendData(buffer, 0, n);
            left -= n;
        }
        if (!hash.GetHashAndReset().AsSpan().SequenceEqual(trailer.AsSpan(8)))
            throw new InvalidDataException(FormattableString.Invariant($"'{path}' fails its SHA-256 check: the file is damaged."));
        return payload;
    }

    private static void WriteModel(BinaryWriter w, nn.Module model)
    {
        var sd = model.state_dict();
        w.Write(sd.Count);
        foreach (var (name, t) in sd)
        {
            w.Write(name);
            t.Save(w);
        }
    }

    private static List<(Tensor, Tensor)> ReadModel(BinaryReader r, nn.Module model)
    {
        var sd = model.state_dict();
        int count = r.ReadInt32();
        if (count != sd.Count) throw new InvalidDataException(FormattableString.Invariant($"The checkpoint's model has {count} tensors; this model has {sd.Count}."));
        var result = new List<(Tensor, Tensor)>();
        try
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < count; i++)
            {
                string name = CheckedReader.ReadString(r, FormattableString.Invariant($"Model tensor {i} name"));
                if (!sd.TryGetValue(name, out var target)) throw new InvalidDataException(FormattableString.Invariant($"The checkpoint's model tensor '{name}' does not exist in this model."));
                if (!seen.Add(name)) throw new InvalidDataException(FormattableString.Invariant($"The checkpoint's model tensor '{name}' appears twice."));
                string what = FormattableString.Invariant($"Model tensor '{name}'");
                var header = CheckedReader.ReadTensorHeader(r, what);
                // Compared before allocating: only a tensor exactly like the model's reaches libtorch.
                if (!header.Shape.SequenceEqual(target.shape) || header.DType != target.dtype)
                    throw new InvalidDataException(FormattableString.Invariant($"Model tensor '{name}': checkpoint has {header}, this model {target.dtype} [{string.Join(", ", target.shape)}]."));
                result.Add((target, CheckedReader.ReadTensorData(r, header, what)));
            }
            return result;
        }
        catch
        {
            foreach (var (_, l) in result) l.Dispose();
            throw;
        }
    }

    /// <summary>Reads past the model section (checking its structure) when only the optimizer is being loaded.</summary>
    private static void SkipModel(BinaryReader r)
    {
        // A model tensor takes at least 4 bytes (name length, dtype, rank, one data byte or dim).
        int count = CheckedReader.ReadCount(r, "Model tensor count", int.MaxValue, minBytesEach: 4);
        for (int i = 0; i < count; i++)
        {
            string name = CheckedReader.ReadString(r, FormattableString.Invariant($"Model tensor {i} name"));
            string what = FormattableString.Invariant($"Model tensor '{name}'");
            CheckedReader.SkipTensorData(r, CheckedReader.ReadTensorHeader(r, what), what);
        }
    }

    private static void SyncDirectory(string dir)
    {
        // Make the rename itself durable on POSIX systems. Best effort: not all file systems allow it.
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        int fd = open(dir, 0);
        if (fd < 0) return;
        fsync(fd);
        close(fd);
    }

    [DllImport("libc", SetLastError = true)] private static extern int open(string path, int flags);
    [DllImport("libc", SetLastError = true)] private static extern int fsync(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int close(int fd);

    private sealed class HashingWriteStream(Stream inner, IncrementalHash hash) : WriteOnlyStream
    {
        public override void Flush() => inner.Flush();

        protected override void WriteCore(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }
    }

    /// <summary>The payload of a checkpoint file (its first <c>limit</c> bytes): reads stop before the trailer, and
    /// <see cref="Length"/> tells the readers how many bytes a size they read may claim.</summary>
    private sealed class BoundedReadStream(Stream inner, long limit) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => limit;
        public override long Position { get => inner.Position; set => Seek(value, SeekOrigin.Begin); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            long left = limit - inner.Position;
            if (left <= 0) return 0;
            return inner.Read(buffer[..(int)Math.Min(buffer.Length, left)]);
        }
        public override long Seek(long offset, SeekOrigin origin)
        {
            long target = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => inner.Position + offset,
                _ => limit + offset,
            };
            if (target < 0 || target > limit)
                throw new IOException(FormattableString.Invariant($"Seek to {target} outside the checkpoint's payload of {limit} bytes."));
            return inner.Seek(target, SeekOrigin.Begin);
        }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
