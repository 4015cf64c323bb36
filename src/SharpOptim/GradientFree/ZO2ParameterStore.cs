using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.GradientFree;

/// <summary>
/// The CPU analogue of ZO2's offloading (<see cref="ZO2Schedule"/>, brief §4.4: "a parameter store per block ...
/// with explicit load/store calls"): the parameters of stages not in use live serialized in one contiguous
/// off-heap file (a temporary file deleted on close, float32 bytes exactly as in memory: lossless), and the
/// parameter tensors of an offloaded stage own no memory (they are pointed at an empty tensor with
/// <c>set_</c>, which frees their storage). <see cref="Load"/> allocates the stage's tensors again and reads their
/// bytes back; <see cref="Offload"/> writes them out and frees them. Only contiguous CPU parameters are accepted.
/// The official ZO2 keeps offloaded blocks in CPU memory and moves them to the GPU (optionally as fp16, which is
/// lossy: brief §4.5); on a CPU-only machine the analogue of "GPU memory" is the process's resident memory, and a
/// lossless store keeps the MeZO trajectory bit for bit.
/// </summary>
internal sealed class ZO2ParameterStore : IDisposable
{
    private readonly FileStream _file;
    private readonly Parameter[] _params;
    private readonly long[] _offsets;
    private readonly long[][] _shapes;
    private readonly ScalarType[] _dtypes;
    private readonly bool[] _resident;

    public ZO2ParameterStore(IReadOnlyList<Parameter> parameters)
    {
        _params = parameters.ToArray();
        _offsets = new long[_params.Length];
        _shapes = new long[_params.Length][];
        _dtypes = new ScalarType[_params.Length];
        _resident = new bool[_params.Length];
        long offset = 0;
        for (int j = 0; j < _params.Length; j++)
        {
            var p = _params[j];
            if (p.device.type != DeviceType.CPU || !p.is_contiguous())
                throw new ArgumentException($"zo2: the compact store holds contiguous CPU parameters; parameter {j} is on {p.device} (contiguous: {p.is_contiguous()}).", nameof(parameters));
            _offsets[j] = offset;
            _shapes[j] = p.shape;
            _dtypes[j] = p.dtype;
            _resident[j] = true;
            offset += p.numel() * p.element_size();
        }
        string path = Path.Combine(Path.GetTempPath(), "sharpoptim-zo2-" + Guid.NewGuid().ToString("N") + ".bin");
        _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        _file.SetLength(offset);
        TotalBytes = offset;
        ResidentBytes = offset;
        PeakResidentBytes = offset;
    }

    /// <summary>Bytes of all parameters the store manages.</summary>
    public long TotalBytes { get; }

    /// <summary>Bytes of the managed parameters currently in memory.</summary>
    public long ResidentBytes { get; private set; }

    /// <summary>The largest <see cref="ResidentBytes"/> since the last <see cref="ResetPeak"/>.</summary>
    public long PeakResidentBytes { get; private set; }

    /// <summary>Starts a new peak measurement at the current resident bytes.</summary>
    public void ResetPeak() => PeakResidentBytes = ResidentBytes;

    /// <summary>Whether parameter <paramref name="j"/> is in memory.</summary>
    public bool IsResident(int j) => _resident[j];

    private static long Bytes(long[] shape, ScalarType dtype)
    {
        using var probe = empty(0, dtype: dtype);
        return shape.Aggregate(1L, (a, b) => a * b) * probe.element_size();
    }

    /// <summary>Writes parameter <paramref name="j"/> to the store and frees its memory.</summary>
    public void Offload(int j)
    {
        if (!_resident[j]) return;
        var p = _params[j];
        long n = p.numel() * p.element_size();
        _file.Position = _offsets[j];
        _file.Write(p.bytes);                                  // a view of the tensor's memory, no copy
        using (no_grad())
        using (var nothing = empty(0, dtype: _dtypes[j]))
            p.set_(nothing);                                   // the parameter's storage is released
        _resident[j] = false;
        ResidentBytes -= n;
    }

    /// <summary>Allocates parameter <paramref name="j"/> again and reads its bytes back (exactly what was written).</summary>
    public void Load(int j)
    {
        if (_resident[j]) return;
        var p = _params[j];
        long n = Bytes(_shapes[j], _dtypes[j]);
        using var t = empty(_shapes[j], dtype: _dtypes[j]);
        _file.Position = _offsets[j];
        _file.ReadExactly(t.bytes);
        using (no_grad()) p.set_(t);
        _resident[j] = true;
        ResidentBytes += n;
        PeakResidentBytes = Math.Max(PeakResidentBytes, ResidentBytes);
    }

    public void Dispose() => _file.Dispose();
}
