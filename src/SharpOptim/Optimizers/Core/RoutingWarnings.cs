using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpOptim.Optimizers;

/// <summary>
/// Where the optimizers that route parameters by module name (<see cref="Muon"/>, <see cref="Lanton"/>,
/// <see cref="AdamMini"/>) say that no parameter's name marks an embedding or output layer. Those layers need their
/// own treatment (Muon and LANTON send them to an Adam or sign step, Adam-mini gives them one second moment per token);
/// a model whose layers are unnamed or numbered (<c>nn.Sequential(nn.Linear(...), ...)</c> gives "0.weight",
/// "2.weight") would otherwise have its classifier silently treated as a hidden matrix. The warning names those
/// parameters and how to route them; it is written once per distinct message per process, to
/// <see cref="Writer"/>: standard error unless set. Set <see cref="Writer"/> to null (or <see cref="TextWriter.Null"/>)
/// to silence it, or to any writer to redirect it (a log). Routing given explicitly (the useMuon / kindOf /
/// partition arguments, or parameter groups) is never warned about.
/// </summary>
public static class RoutingWarnings
{
    private static readonly object Gate = new();
    private static readonly HashSet<string> Sent = new(StringComparer.Ordinal);
    private static TextWriter? _writer;
    private static bool _writerSet;

    /// <summary>Where warnings go: <see cref="Console.Error"/> (as it is when a warning is written) until set; null silences.</summary>
    public static TextWriter? Writer
    {
        get { lock (Gate) return _writerSet ? _writer : Console.Error; }
        set { lock (Gate) { _writer = value; _writerSet = true; } }
    }

    /// <summary>Back to the default (standard error as it is when a warning is written); for tests.</summary>
    internal static void ResetWriter()
    {
        lock (Gate) { _writer = null; _writerSet = false; }
    }

    /// <summary>
    /// Warns when default routing found no matrix whose name <paramref name="marksEmbeddingOrOutput"/>: every matrix
    /// is then <paramref name="treatedAs"/>. Called by the name-routing optimizers once their routing is decided.
    /// </summary>
    internal static void WarnIfNoNameMatches(string optimizer, IEnumerable<(string Name, Parameter Parameter)> parameters,
        Func<string, bool> marksEmbeddingOrOutput, string fragments, string treatedAs, string howToRoute)
    {
        var matrices = parameters.Where(x => x.Parameter.ndim >= 2).ToList();
        if (matrices.Count == 0 || matrices.Any(x => marksEmbeddingOrOutput(x.Name))) return;
        const int shown = 8;
        string list = string.Join(", ", matrices.Take(shown).Select(x => FormattableString.Invariant($"'{x.Name}' [{string.Join(", ", x.Parameter.shape)}]")))
            + (matrices.Count > shown ? FormattableString.Invariant($" and {matrices.Count - shown} more") : "");
        string message = FormattableString.Invariant(
            $"SharpOptim warning: {optimizer}: no parameter name marks an embedding or output layer (names containing {fragments}), so {list} will be {treatedAs}. If one of them is the model's output layer (a classifier's last Linear usually is) or an embedding, {howToRoute} (SharpOptim.Optimizers.RoutingWarnings.Writer = null silences this message.)");
        TextWriter? writer;
        lock (Gate)
        {
            if (!Sent.Add(message)) return;
            writer = _writerSet ? _writer : Console.Error;
        }
        writer?.WriteLine(message);
    }
}
