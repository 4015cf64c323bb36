using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;
using Xunit.Abstractions;

namespace SharpOptim.Tests;

/// <summary>
/// Packs SharpOptim and the sharpoptim tool (SharpOptim.Cli) into a temporary local feed, once for this class.
/// The packages get a version no earlier run used and restore into a temporary packages folder, so a stale
/// package can never stand in for the one just packed. Packing reuses the assemblies that the test run has just
/// built (<c>--no-build</c>, same configuration as this test assembly), which keeps the test to a pack, a small
/// build and an install.
/// </summary>
public sealed class PackedFeed : IDisposable
{
    public string Root { get; }
    public string Feed { get; }
    public string Packages { get; }
    public string Version { get; }
    public string RepoRoot { get; }
    public string LibraryPackage { get; }
    public string ToolPackage { get; }
    public string PackLog { get; }
    public TimeSpan PackTime { get; }

    public PackedFeed()
    {
        RepoRoot = FindRepoRoot();
        Root = Path.Combine(Path.GetTempPath(), $"sharpoptim-consumer-{Guid.NewGuid():N}");
        Feed = Path.Combine(Root, "feed");
        Packages = Path.Combine(Root, "packages");
        Directory.CreateDirectory(Feed);
        Directory.CreateDirectory(Packages);
        Version = string.Create(CultureInfo.InvariantCulture,
            $"0.0.1-consumertest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Random.Shared.Next(1_000_000)}");
        string configuration = typeof(PackedFeed).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration
            ?? throw new InvalidOperationException("The test assembly has no AssemblyConfigurationAttribute; cannot tell which build to pack.");

        var clock = Stopwatch.StartNew();
        // The two packs touch different projects' outputs, so they run side by side.
        var library = Task.Run(() => Dotnet.Run(RepoRoot, TimeSpan.FromMinutes(5), null,
            "pack", "src/SharpOptim/SharpOptim.csproj", "--no-build", "-c", configuration, "-o", Feed,
            $"-p:PackageVersion={Version}", "-nodeReuse:false"));
        var tool = Task.Run(() => Dotnet.Run(RepoRoot, TimeSpan.FromMinutes(5), null,
            "pack", "src/SharpOptim.Cli/SharpOptim.Cli.csproj", "--no-build", "-c", configuration, "-o", Feed,
            $"-p:PackageVersion={Version}", "-nodeReuse:false"));
        var (libCode, libOut) = library.GetAwaiter().GetResult();
        var (toolCode, toolOut) = tool.GetAwaiter().GetResult();
        PackTime = clock.Elapsed;
        PackLog = libOut + "\n" + toolOut;
        if (libCode != 0) throw new InvalidOperationException($"dotnet pack SharpOptim exited with {libCode}:\n{libOut}");
        if (toolCode != 0) throw new InvalidOperationException($"dotnet pack SharpOptim.Cli exited with {toolCode}:\n{toolOut}");
        LibraryPackage = Path.Combine(Feed, $"SharpOptim.{Version}.nupkg");
        ToolPackage = Path.Combine(Feed, $"SharpOptim.Cli.{Version}.nupkg");
    }

    /// <summary>Environment for restores and installs: this run's packages folder, no telemetry or banners.</summary>
    public Dictionary<string, string?> Environment() => new()
    {
        ["NUGET_PACKAGES"] = Packages,
    };

    /// <summary>
    /// The packages folder that the repository's own restore filled (TorchSharp, libtorch: ~600 MB). The
    /// consumer restores use it as a read-only fallback so that the test does not download or copy libtorch
    /// again; everything else, SharpOptim included, lands in this run's own folder.
    /// </summary>
    public static string SharedPackagesFolder() =>
        System.Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    public static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SharpOptim.sln")) && File.Exists(Path.Combine(dir.FullName, "README.md")))
                return dir.FullName;
        throw new InvalidOperationException($"No SharpOptim.sln above '{AppContext.BaseDirectory}'.");
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { } // a file still held by an exiting child process; the temp folder is cleaned by the OS
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Runs the dotnet CLI as a child process with a deadline, capturing stdout and stderr together.</summary>
internal static class Dotnet
{
    public static (int Code, string Output) Run(string workDir, TimeSpan timeout, IDictionary<string, string?>? env, params string[] args)
        => Exec(DotnetHost(), workDir, timeout, env, args);

    public static (int Code, string Output) Exec(string file, string workDir, TimeSpan timeout, IDictionary<string, string?>? env, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // The test host inherits MSBuild's locations from the `dotnet test` that started it; a child build must find
        // its own, as a user's would. Build servers would outlive the child and hold its output pipes open.
        foreach (var name in new[] { "MSBuildExtensionsPath", "MSBUILD_EXE_PATH", "MSBuildSDKsPath", "MSBuildLoadMicrosoftTargetsReadOnly" })
            psi.Environment.Remove(name);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["UseSharedCompilation"] = "false";
        psi.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        if (env != null) foreach (var (k, v) in env) psi.Environment[k] = v;

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start '{file}'.");
        var output = new StringBuilder();
        var gate = new object();
        p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (gate) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (gate) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            lock (gate) return (-1, $"'{file} {string.Join(' ', args)}' did not finish within {timeout.TotalSeconds:F0} s; killed.\n{output}");
        }
        p.WaitForExit(); // drains the asynchronous readers
        lock (gate) return (p.ExitCode, output.ToString());
    }

    /// <summary>The dotnet host running this test (the same SDK installation), or dotnet on the PATH.</summary>
    private static string DotnetHost()
    {
        string? self = System.Environment.ProcessPath;
        if (self != null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        string? root = System.Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (root != null && File.Exists(Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet")))
            return Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return "dotnet";
    }
}

/// <summary>
/// The consumer path as a new user takes it from the README: a new console app outside this repository references
/// SharpOptim from a local feed and trains with AdamW, Muon, Adam-mini and Sophia under TorchSharp's OneCycleLR,
/// resumes a run from one checkpoint and continues a PyTorch AdamW run on PyTorch's trajectory (its Program.cs is the
/// README's Install snippet), and
/// the tool installs by name and runs. The proof that a build outside the repository gets libtorch, and the
/// libstdc++ step from the package's buildTransitive targets (without it the app dies on Debian 12).
/// </summary>
public class ConsumerPackageTests : IClassFixture<PackedFeed>
{
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(5);
    private readonly PackedFeed _feed;
    private readonly ITestOutputHelper _log;

    public ConsumerPackageTests(PackedFeed feed, ITestOutputHelper log) => (_feed, _log) = (feed, log);

    [Fact]
    public void LibraryPackageCarriesTheBuildTransitiveTargetsLicenceReadmeDocsAndSymbols()
    {
        Assert.True(File.Exists(_feed.LibraryPackage), $"'{_feed.LibraryPackage}' was not packed:\n{_feed.PackLog}");
        Assert.True(File.Exists(Path.ChangeExtension(_feed.LibraryPackage, ".snupkg")), "no symbol package next to the library package");
        using var zip = ZipFile.OpenRead(_feed.LibraryPackage);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet();
        foreach (var expected in new[] { "lib/net10.0/SharpOptim.dll", "lib/net10.0/SharpOptim.xml", "buildTransitive/SharpOptim.targets",
                     "build/SharpOptim.targets", "README.md", "LICENSE" })
            Assert.True(names.Contains(expected), $"'{expected}' missing from the library package: {string.Join(", ", names.Order())}");
        Assert.DoesNotContain(names, n => n.StartsWith("lib/", StringComparison.Ordinal) && n.Contains("SharpOptim.Tasks", StringComparison.Ordinal));

        var nuspec = XDocument.Load(zip.Entries.Single(e => e.FullName == "SharpOptim.nuspec").Open());
        XNamespace ns = nuspec.Root!.Name.Namespace;
        var meta = nuspec.Root.Element(ns + "metadata")!;
        Assert.Equal("MIT", meta.Element(ns + "license")?.Value);
        Assert.Equal("README.md", meta.Element(ns + "readme")?.Value);
        Assert.Contains("muon", meta.Element(ns + "tags")?.Value ?? "");
        var torchSharp = meta.Descendants(ns + "dependency").SingleOrDefault(d => (string?)d.Attribute("id") == "TorchSharp");
        Assert.True(torchSharp != null, $"the library package does not depend on TorchSharp: {meta}");
        Assert.Equal(PackageVersion("TorchSharpVersion"), (string?)torchSharp.Attribute("version"));
    }

    [Fact]
    public void NewConsoleAppFromTheReadmeTrainsWithFourOptimizersUnderOneCycleLRFromThePackedFeed()
    {
        string app = Path.Combine(_feed.Root, "MyApp");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="sharpoptim-local" value="{_feed.Feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="shared" value="{PackedFeed.SharedPackagesFolder()}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "MyApp.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="SharpOptim" Version="{_feed.Version}" />
                <PackageReference Include="{NativePackage()}" Version="{PackageVersion("LibTorchVersion")}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), ReadmeInstallSnippet());

        var clock = Stopwatch.StartNew();
        var (buildCode, buildOut) = Dotnet.Run(app, Step, _feed.Environment(), "build", "-c", "Release", "-nodeReuse:false", "-p:UseSharedCompilation=false");
        Assert.True(buildCode == 0, $"the consumer app did not build (exit {buildCode}):\n{buildOut}");
        if (OperatingSystem.IsLinux() && !SystemLibstdcxxHas("GLIBCXX_3.4.32"))
            Assert.Contains("SharpOptim: marked GLIBCXX_3.4.32 weak", buildOut); // the package's buildTransitive targets ran

        // The PyTorch run to continue: model.pt and adamw.pt as PyTorch 1.13 saved them (tools/golden/pytorch_state_run.py).
        string pytorchRun = Path.Combine(app, "pytorch-run");
        Directory.CreateDirectory(pytorchRun);
        foreach (var file in new[] { "model.pt", "adamw.pt" })
            File.Copy(Path.Combine(AppContext.BaseDirectory, "Golden", "pytorch_state_run", file), Path.Combine(pytorchRun, file));

        string dll = Path.Combine(app, "bin", "Release", "net10.0", "MyApp.dll");
        var (runCode, runOut) = Dotnet.Run(app, Step, new Dictionary<string, string?> { ["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1" }, dll, pytorchRun);
        Assert.True(runCode == 0, $"the consumer app failed (exit {runCode}):\n{runOut}");

        // Resumed from one checkpoint (AdamW in Lookahead, EMA, OneCycleLR, model), the run ends bit for bit where the
        // uninterrupted run ends (the program compares the EMA model's losses as floats).
        Assert.Matches(new Regex(@"^resume: EMA loss \d+\.\d+, uninterrupted \d+\.\d+, identical: True\s*$", RegexOptions.Multiline), runOut);
        Assert.True(File.Exists(Path.Combine(app, "run.ckpt")), "the program wrote no checkpoint");

        // The PyTorch run continues on PyTorch's trajectory: the loss of every continued step and the final weights,
        // to rtol 1e-5 (float32; libtorch 2.10 here, 1.13 in PyTorch, so the last bits of a reduction may differ).
        using var golden = Golden.Load("pytorch_state_run.json");
        var root = golden.RootElement;
        var continuedLosses = Regex.Matches(runOut, @"^pytorch: loss (\S+)\s*$", RegexOptions.Multiline)
            .Select(m => float.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToArray();
        float[] Numbers(string what) => Regex.Match(runOut, $@"^pytorch: {what} (.+?)\s*$", RegexOptions.Multiline).Groups[1].Value
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        Assert.True(continuedLosses.Length == 5, $"expected five 'pytorch: loss' lines:\n{runOut}");
        Approx.AllClose(root.GetProperty("losses_after").Floats(), continuedLosses, rtol: 1e-5, atol: 1e-7, what: "the continued PyTorch run's losses");
        Approx.AllClose(root.GetProperty("weight").Floats(), Numbers("weight"), rtol: 1e-5, atol: 1e-6, what: "the continued PyTorch run's weight");
        Approx.AllClose(root.GetProperty("bias").Floats(), Numbers("bias"), rtol: 1e-5, atol: 1e-6, what: "the continued PyTorch run's bias");

        var losses = Regex.Matches(runOut, @"^([\w-]+): loss (\d+\.\d+) -> (\d+\.\d+)\s*$", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value,
                m => (First: double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), Last: double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)));
        foreach (var name in new[] { "adamw", "muon", "adam-mini", "sophia" })
            Assert.True(losses.ContainsKey(name), $"expected a '{name}: loss A -> B' line:\n{runOut}");
        foreach (var (name, (first, last)) in losses)
        {
            Assert.True(double.IsFinite(first) && first > 0.05, $"{name}: the first loss {first} is not that of an untrained model");
            Assert.True(last < 0.2 * first, $"{name}: the loss went from {first} to {last}, not below a fifth of where it started:\n{runOut}");
        }
        foreach (var (name, (first, last)) in losses) _log.WriteLine($"{name}: loss {first} -> {last}");
        _log.WriteLine($"consumer app: pack {_feed.PackTime.TotalSeconds:F0} s (once), build + run {clock.Elapsed.TotalSeconds:F0} s");
    }

    [Fact]
    public void ToolInstallsByNameWithoutTestOrPythonLibrariesAndRunsCompareOnDigits()
    {
        Assert.True(File.Exists(_feed.ToolPackage), $"'{_feed.ToolPackage}' was not packed:\n{_feed.PackLog}");
        using (var zip = ZipFile.OpenRead(_feed.ToolPackage))
        {
            var names = zip.Entries.Select(e => e.FullName).ToList();
            string native = $"tools/net10.0/any/runtimes/{NativeRid()}/native/";
            foreach (var needed in new[] { "tools/net10.0/any/DotnetToolSettings.xml", "tools/net10.0/any/SharpOptim.Cli.dll",
                         "tools/net10.0/any/SharpOptim.dll", "tools/net10.0/any/TorchSharp.dll" })
                Assert.Contains(needed, names);
            Assert.Contains(names, n => n.StartsWith(native, StringComparison.Ordinal) && n.Contains("torch_cpu", StringComparison.Ordinal));
            Assert.Contains(names, n => n.StartsWith(native, StringComparison.Ordinal) && n.Contains("LibTorchSharp", StringComparison.Ordinal));
            var unwanted = names.Where(n => Regex.IsMatch(Path.GetFileName(n),
                @"^(lib)?(torch_python|shm|nnapi_backend|jitbackend_test|torchbind_test|backend_with_compiler|aoti_custom_ops)\.|^(xunit|Microsoft\.TestPlatform|Microsoft\.VisualStudio\.TestPlatform|testhost)",
                RegexOptions.IgnoreCase)).ToList();
            Assert.True(unwanted.Count == 0, $"the tool package carries files no user needs: {string.Join(", ", unwanted)}");
            Assert.DoesNotContain(names, n => n.StartsWith("tools/net10.0/any/runtimes/", StringComparison.Ordinal) && !n.Contains($"/{NativeRid()}/", StringComparison.Ordinal) && n.Contains("torch", StringComparison.OrdinalIgnoreCase));
        }

        _log.WriteLine($"tool package {new FileInfo(_feed.ToolPackage).Length / 1e6:F1} MB, library package {new FileInfo(_feed.LibraryPackage).Length / 1e6:F2} MB");
        string toolPath = Path.Combine(_feed.Root, "tools");
        var clock = Stopwatch.StartNew();
        var (installCode, installOut) = Dotnet.Run(_feed.Root, Step, _feed.Environment(),
            "tool", "install", "--tool-path", toolPath, "SharpOptim.Cli", "--add-source", _feed.Feed, "--version", _feed.Version);
        Assert.True(installCode == 0, $"dotnet tool install SharpOptim.Cli failed (exit {installCode}):\n{installOut}");
        var installTime = clock.Elapsed;

        string command = Path.Combine(toolPath, OperatingSystem.IsWindows() ? "sharpoptim.exe" : "sharpoptim");
        var (listCode, listOut) = Dotnet.Exec(command, _feed.Root, Step, null, "list");
        Assert.True(listCode == 0, $"sharpoptim list failed (exit {listCode}):\n{listOut}");
        Assert.Matches(new Regex(@"^adamw\s+8\s+yes\s+Loshchilov & Hutter", RegexOptions.Multiline), listOut);
        Assert.Matches(new Regex(@"^muon\s", RegexOptions.Multiline), listOut);

        string outDir = Path.Combine(_feed.Root, "compare");
        var (cmpCode, cmpOut) = Dotnet.Exec(command, _feed.Root, Step, null,
            "compare", "--task", "digits", "--optimizers", "adamw,muon", "--steps", "20", "--seeds", "1", "--no-progress", "--out", outDir);
        Assert.True(cmpCode == 0, $"sharpoptim compare failed (exit {cmpCode}):\n{cmpOut}");
        foreach (var file in new[] { "results.json", "results.csv", "report.md" })
            Assert.True(File.Exists(Path.Combine(outDir, file)), $"sharpoptim compare wrote no {file} in '{outDir}':\n{cmpOut}");
        Assert.Contains("adamw", File.ReadAllText(Path.Combine(outDir, "results.csv")));
        Assert.Contains("muon", File.ReadAllText(Path.Combine(outDir, "results.csv")));
        _log.WriteLine($"tool: install {installTime.TotalSeconds:F0} s, list + compare {(clock.Elapsed - installTime).TotalSeconds:F0} s");
    }

    /// <summary>The first C# block of the README's Install section: the program a new user copies.</summary>
    internal static string ReadmeInstallSnippet()
    {
        string readme = File.ReadAllText(Path.Combine(PackedFeed.FindRepoRoot(), "README.md"));
        int section = readme.IndexOf("\n## Install", StringComparison.Ordinal);
        Assert.True(section >= 0, "README.md has no '## Install' section");
        var m = Regex.Match(readme[section..], @"```csharp\n(.*?)```", RegexOptions.Singleline);
        Assert.True(m.Success, "README.md's Install section has no ```csharp block");
        return m.Groups[1].Value;
    }

    /// <summary>A version from Directory.Packages.props (the versions the repository builds against).</summary>
    private static string PackageVersion(string property)
    {
        var props = XDocument.Load(Path.Combine(PackedFeed.FindRepoRoot(), "Directory.Packages.props"));
        return props.Descendants(property).Single().Value;
    }

    private static string NativeRid() =>
        OperatingSystem.IsWindows() ? "win-x64" : OperatingSystem.IsMacOS() ? "osx-arm64" : "linux-x64";

    /// <summary>The libtorch package for this OS, as build/NativeLibTorch.props picks it.</summary>
    private static string NativePackage() => $"libtorch-cpu-{NativeRid()}";

    private static bool SystemLibstdcxxHas(string version)
    {
        foreach (var path in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" })
            if (File.Exists(path))
                return File.ReadAllBytes(path).AsSpan().IndexOf(Encoding.ASCII.GetBytes(version + "\0")) >= 0;
        return false;
    }
}
