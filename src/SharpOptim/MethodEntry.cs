namespace SharpOptim;

/// <summary>One method of a family beyond the first-order optimizers (gradient-free, multi-task, bilevel, policy,
/// online, distributed, analysis), as <c>sharpoptim list</c> shows it. Each family declares its methods in one static
/// list in its own folder; <see cref="Reconstruction"/> marks a method whose algorithm could only be reconstructed from
/// an abstract or secondary sources (its docs and README say so too; see DESIGN.md).</summary>
/// <param name="Family">The family's folder name, e.g. "GradientFree".</param>
/// <param name="Name">The name used on the command line, e.g. "eggroll".</param>
/// <param name="Type">The library type that implements it, e.g. "GradientFree.Eggroll".</param>
/// <param name="Paper">Authors, title and arXiv identifier (or venue) of the paper it follows.</param>
/// <param name="Reconstruction">True when the update rule is this library's reconstruction, not read from the paper
/// or its official code.</param>
public sealed record MethodEntry(string Family, string Name, string Type, string Paper, bool Reconstruction = false);
