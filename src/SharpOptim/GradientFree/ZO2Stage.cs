using static TorchSharp.torch;
using TorchSharp.Modules;

namespace SharpOptim.GradientFree;

/// <summary>One stage of a <see cref="ZO2Schedule"/>: a forward function and the parameters it (and only it) uses —
/// the embeddings, one transformer block, the final norm and head, or one layer of an MLP.</summary>
/// <param name="Name">A name for messages.</param>
/// <param name="Forward">The stage's computation; it must depend on no other stage's parameters.</param>
/// <param name="Parameters">The parameters the stage owns.</param>
public sealed record ZO2Stage(string Name, Func<Tensor, Tensor> Forward, IReadOnlyList<Parameter> Parameters);
