using System.Security.Cryptography;
using SharpOptim.Checkpoints;
using SharpOptim.Optimizers;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>
/// Atomic save and all-or-nothing load of a gradient-free method's state: the method's scalars (step counters,
/// cooled hyperparameters, the pending ZO2 update), its tensors (particles, parameters) and, when it wraps one, the
/// inner SharpOptim optimizer's state. Layout: "SOGRADFR" magic, format version, method name, scalars
/// (name, float64), tensors (name, dtype, shape, raw bytes), a flag and the inner optimizer's section, then the payload
/// length and its SHA-256. Loading checks the hash, the method, every name, dtype and shape (and the inner optimizer's
/// section, through its own checks) before anything changes; a malformed or foreign file is an
/// <see cref="InvalidDataException"/>.
/// </summary>
internal static class GradientFreeCheckpoint
{
    private static readonly byte[] Magic = "SOGRADFR"u8.ToArray();
    private const int Version = 1;

    public static void Save(string path, string method, IReadOnlyList<(string Name, double Value)> scalars,
        IReadOnlyList<(string Name, Tensor Value)> tensors, OptimizerBase? inner)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var payload = new MemoryStream();
        using (var w = new BinaryWriter(payload, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write(method);
            w.Write(scalars.Count);
            foreach (var (name, value) in scalars) { w.Write(name); w.Write(value); }
            w.Write(tensors.Count);
            foreach (var (name, t) in tensors)
            {
                using var c = t.detach().cpu().contiguous();
                w.Write(name);
                w.Write((int)c.dtype);
                w.Write((int)c.dim());
                foreach (var d in c.shape) w.Write(d);
                var bytes = c.bytes;
                w.Write(bytes.Length);
                w.Write(bytes);
            }
            w.Write(inner is not null);
            inner?.WriteState(w);
        }
        var body = payload.ToArray();
        var hash = SHA256.HashData(body);
        AtomicFile.Write(Path.GetFullPath(path), s =>
        {
            s.Write(body);
            s.Write(BitConverter.GetBytes((long)body.Length));
            s.Write(hash);
        });
    }

    /// <summary>Reads and checks a file; returns its scalars by name. <paramref name="tensors"/> are the targets the
    /// saved tensors are copied into (same names, dtypes, shapes, in order), only after
    /// every check passed (the inner optimizer state is applied just before).</summary>
    public static Dictionary<string, double> Load(string path, string method, IReadOnlyList<string> scalarNames,
        IReadOnlyList<(string Name, Tensor Target)> tensors, OptimizerBase? inner)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] all = File.ReadAllBytes(path);
        if (all.Length < Magic.Length + 40) throw new InvalidDataException($"'{path}' is too short to be a gradient-free checkpoint.");
        int bodyLength = all.Length - 40;
        long declared = BitConverter.ToInt64(all, bodyLength);
        if (declared != bodyLength || !SHA256.HashData(all.AsSpan(0, bodyLength)).AsSpan().SequenceEqual(all.AsSpan(bodyLength + 8, 32)))
            throw new InvalidDataException($"'{path}' fails its length or SHA-256 check: truncated, altered or not a gradient-free checkpoint.");
        var r = new BinaryReader(new MemoryStream(all, 0, bodyLength, writable: false), System.Text.Encoding.UTF8);
        var loaded = new List<Tensor>();
        (Action Apply, Action Discard)? innerState = null;
        try
        {
            if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) throw new InvalidDataException($"'{path}' is not a gradient-free checkpoint (bad magic).");
            int version = r.ReadInt32();
            if (version != Version) throw new InvalidDataException(FormattableString.Invariant($"'{path}' is format {version}; this build reads {Version}."));
            string m = r.ReadString();
            if (m != method) throw new InvalidDataException($"'{path}' holds the state of '{m}', not '{method}'.");
            int ns = r.ReadInt32();
            if (ns != scalarNames.Count) throw new InvalidDataException(FormattableString.Invariant($"'{path}' has {ns} scalars; {method} keeps {scalarNames.Count}."));
            var scalars = new Dictionary<string, double>();
            for (int i = 0; i < ns; i++)
            {
                string name = r.ReadString();
                if (name != scalarNames[i]) throw new InvalidDataException($"'{path}': scalar '{name}' where '{scalarNames[i]}' was expected.");
                scalars[name] = r.ReadDouble();
            }
            int nt = r.ReadInt32();
            if (nt != tensors.Count) throw new InvalidDataException(FormattableString.Invariant($"'{path}' has {nt} tensors; this {method} has {tensors.Count}."));
            for (int i = 0; i < nt; i++)
            {
                string name = r.ReadString();
                var target = tensors[i].Target;
                if (name != tensors[i].Name) throw new InvalidDataException($"'{path}': tensor '{name}' where '{tensors[i].Name}' was expected.");
                int dtype = r.ReadInt32();
                if (dtype != (int)target.dtype) throw new InvalidDataException($"'{path}': tensor '{name}' has dtype code {dtype}, expected {target.dtype}.");
                int rank = r.ReadInt32();
                if (rank != target.dim()) throw new InvalidDataException(FormattableString.Invariant($"'{path}': tensor '{name}' has rank {rank}, expected {target.dim()}."));
                var shape = new long[rank];
                for (int d = 0; d < rank; d++) shape[d] = r.ReadInt64();
                if (!shape.SequenceEqual(target.shape)) throw new InvalidDataException($"'{path}': tensor '{name}' has shape [{string.Join(", ", shape)}], expected [{string.Join(", ", target.shape)}].");
                int nbytes = r.ReadInt32();
                long expected = target.numel() * target.element_size();
                if (nbytes != expected || nbytes > r.BaseStream.Length - r.BaseStream.Position) throw new InvalidDataException(FormattableString.Invariant($"'{path}': tensor '{name}' has {nbytes} bytes, expected {expected}."));
                var t = empty(shape, target.dtype);
                t.bytes = r.ReadBytes(nbytes);
                loaded.Add(t);
            }
            bool hasInner = r.ReadBoolean();
            if (hasInner != (inner is not null)) throw new InvalidDataException($"'{path}' {(hasInner ? "holds" : "holds no")} inner optimizer state; this {method} {(inner is null ? "has no" : "has an")} inner optimizer.");
            if (inner is not null) innerState = inner.ReadState(r);
            if (r.BaseStream.Position != bodyLength) throw new InvalidDataException($"'{path}' has unread bytes: not a checkpoint this version wrote.");
            innerState?.Apply();
            using (no_grad())
                for (int i = 0; i < loaded.Count; i++) tensors[i].Target.copy_(loaded[i]);
            return scalars;
        }
        catch (EndOfStreamException e)
        {
            innerState?.Discard();
            throw new InvalidDataException($"'{path}' ends early: truncated or malformed.", e);
        }
        catch
        {
            innerState?.Discard();
            throw;
        }
        finally
        {
            foreach (var t in loaded) t.Dispose();
        }
    }
}
