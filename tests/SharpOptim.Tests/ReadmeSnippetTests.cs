using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>
/// Every C# block of README.md compiles against the library as built, so the docs cannot drift from the API.
/// Each block compiles as the body of a method (its usings hoisted, SharpOptim.Optimizers and TorchSharp's torch in
/// scope as in the README's usage), preceded by declarations of the names it uses without declaring them, as a
/// user's training loop has them: a model, a batch, a loss, an optimizer of TorchSharp's.
/// </summary>
public class ReadmeSnippetTests
{
    /// <summary>Names a fragment may use without declaring them, with the declarations a real loop would have.</summary>
    private static readonly (string Name, string Declaration)[] Context =
    {
        ("model", "TorchSharp.Modules.Sequential model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10));"),
        ("x", "Tensor x = randn(32, 64);"),
        ("y", "Tensor y = randint(0, 10, new long[] { 32 });"),
        ("loss", "Tensor loss = zeros(1);"),
        ("samplesPerBatch", "long samplesPerBatch = 32;"),
        ("lossOf", "Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor> lossOf = (m, a, b) => nn.functional.cross_entropy(m.forward(a), b);"),
        ("torchSharpAdamW", "TorchSharp.Modules.AdamW torchSharpAdamW = optim.AdamW(model.parameters());"),
        ("residual", "Tensor residual = zeros(1);"),
        ("h", "Tensor h = zeros(1);"),
        ("m", "Tensor m = zeros(1);"),
        ("g", "Tensor g = zeros(1);"),
        ("args", "string[] args = Array.Empty<string>();"),
    };

    private static readonly string[] DefaultUsings =
    {
        "using System;", "using System.IO;", "using System.Linq;", "using System.Collections.Generic;", "using TorchSharp;",
        "using static TorchSharp.torch;", "using SharpOptim.Optimizers;",
    };

    public static IEnumerable<object[]> Snippets()
    {
        string readme = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "README.md"));
        var blocks = Regex.Matches(readme, @"^(?<indent>[ \t]*)```csharp[ \t]*\r?\n(?<body>.*?)^\k<indent>```", RegexOptions.Multiline | RegexOptions.Singleline);
        int line = 0;
        foreach (Match b in blocks)
        {
            line = readme[..b.Index].Count(c => c == '\n') + 1;
            string indent = b.Groups["indent"].Value;
            string body = string.Join("\n", b.Groups["body"].Value.Split('\n').Select(l => l.StartsWith(indent, StringComparison.Ordinal) ? l[indent.Length..] : l));
            yield return new object[] { line, body };
        }
    }

    [Fact]
    public void TheReadmeHasSnippets() => Assert.True(Snippets().Count() >= 5, "README.md lost its C# examples, or this test cannot find them");

    [Theory]
    [MemberData(nameof(Snippets))]
    public void CompilesAgainstTheLibrary(int line, string snippet)
    {
        var lines = snippet.Split('\n');
        // using directives (not 'using var' declarations): a namespace, a static type or an alias, then ';'.
        var directive = new Regex(@"^\s*using\s+(static\s+)?[A-Za-z_][\w.]*\s*(=\s*[\w.<>, ]+)?;\s*(//.*)?$");
        var usings = lines.TakeWhile(l => directive.IsMatch(l) || string.IsNullOrWhiteSpace(l)).ToList();
        var code = lines.Skip(usings.Count).ToList();
        string text = string.Join("\n", code);
        var declared = Regex.Matches(text, @"\b(?:var|Tensor|double|long|int)\s+(\w+)\s*=").Select(mm => mm.Groups[1].Value).ToHashSet();
        var used = Context.Where(c => !declared.Contains(c.Name) && Regex.IsMatch(text, $@"\b{c.Name}\b")).ToList();
        // The other context declarations that mention 'model' need it declared first.
        if (!declared.Contains("model") && used.Any(c => c.Declaration.Contains("model.", StringComparison.Ordinal)) && used.All(c => c.Name != "model"))
            used.Insert(0, Context[0]);
        var allUsings = DefaultUsings.Concat(usings.Where(u => !string.IsNullOrWhiteSpace(u)).Select(u => Regex.Replace(u.Trim(), @"\s*//.*$", ""))).Distinct();
        string source = string.Join("\n", allUsings) + "\n#pragma warning disable CS0168, CS0219, CS8321\nstatic class Snippet\n{\n    static void Run()\n    {\n"
                        + string.Join("\n", used.Select(c => c.Declaration)) + "\n" + text + "\n    }\n}\n";
        var tree = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest));
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.GetFiles(AppContext.BaseDirectory, "*.dll"))
            .Where(p => IsManaged(p))
            .GroupBy(Path.GetFileName).Select(g => g.First())
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create($"ReadmeLine{line}", new[] { tree }, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, $"README.md line {line}: the C# block does not compile:\n" + string.Join("\n", errors.Select(e => e.ToString())) + "\n--- compiled as ---\n" + source);
    }

    private static bool IsManaged(string path)
    {
        try
        {
            System.Reflection.AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }
}
