using SharpOptim.Optimizers;
using TorchSharp.PyBridge;

namespace SharpOptim.Interop;

/// <summary>
/// Reads and writes PyTorch optimizer state files (<c>torch.save(optimizer.state_dict(), path)</c>) for the optimizers
/// that have a PyTorch counterpart: SGD, Adam, AdamW, Adagrad and RMSprop. A PyTorch run resumes in SharpOptim (and
/// back) on the same trajectory: the file's parameter groups and parameters must be in the order of the SharpOptim
/// optimizer's. The pickle format is read and written by TorchSharp.PyBridge into TorchSharp's own optimizer of the
/// same kind, whose state then moves through <see cref="TorchSharpOptimizerState"/> with all of its checks: nothing
/// in the target changes unless the whole file fits it.
/// </summary>
public static class PyTorchOptimizerState
{
    /// <summary>Loads a PyTorch <c>optimizer.state_dict()</c> file into <paramref name="target"/> (the path comes first,
    /// as in every SharpOptim file API: <c>Checkpoint.Load(path, ...)</c>).</summary>
    public static void Load(string path, OptimizerBase target)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException(FormattableString.Invariant($"No PyTorch optimizer state at '{path}'."), path);
        using var twin = TorchSharpOptimizerState.CreateTwin(target);
        try
        {
            twin.load_py(path);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException(FormattableString.Invariant($"'{path}' is not a PyTorch {twin.GetType().Name} state_dict for these parameter groups: {e.Message}"), e);
        }
        TorchSharpOptimizerState.CopyFrom(target, twin);
    }

    /// <summary>Earlier argument order of <see cref="Load(string, OptimizerBase)"/>.</summary>
    [Obsolete("Use PyTorchOptimizerState.Load(path, target): SharpOptim's file APIs take the path first, as Checkpoint.Load does.")]
    public static void Load(OptimizerBase target, string path) => Load(path, target);

    /// <summary>Earlier argument order of <see cref="Save(string, OptimizerBase)"/>.</summary>
    [Obsolete("Use PyTorchOptimizerState.Save(path, source): SharpOptim's file APIs take the path first, as Checkpoint.Save does.")]
    public static void Save(OptimizerBase source, string path) => Save(path, source);

    /// <summary>Writes <paramref name="source"/>'s state as PyTorch's <c>torch.save(optimizer.state_dict(), path)</c>, atomically.</summary>
    public static void Save(string path, OptimizerBase source)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(path);
        using var twin = TorchSharpOptimizerState.CreateTwin(source);
        TorchSharpOptimizerState.CopyTo(source, twin);
        string full = Path.GetFullPath(path);
        string temp = full + FormattableString.Invariant($".{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = File.Create(temp)) twin.save_py(stream, leaveOpen: true);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
