using SharpOptim.Cli;
using Xunit;

namespace SharpOptim.Tests;

/// <summary>The tool's check for a native libtorch before any command touches TorchSharp.</summary>
public class NativeLibTorchCheckTests
{
    [Fact]
    public void ThisTestOutputHasLibTorchForThisMachine()
    {
        Assert.Null(NativeLibTorch.Problem(AppContext.BaseDirectory, NativeLibTorch.CurrentRid()));
    }

    [Fact]
    public void AMissingPlatformIsNamedWithThePlatformsTheCopyCarries()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"sharpoptim-native-{Guid.NewGuid():N}");
        try
        {
            string native = Path.Combine(dir, "runtimes", "linux-x64", "native");
            Directory.CreateDirectory(native);
            File.WriteAllBytes(Path.Combine(native, "libtorch_cpu.so"), [0x7f]);
            Directory.CreateDirectory(Path.Combine(dir, "runtimes", "win-x64", "native")); // LibTorchSharp only, no libtorch

            Assert.Null(NativeLibTorch.Problem(dir, "linux-x64"));
            string? problem = NativeLibTorch.Problem(dir, "osx-arm64");
            Assert.NotNull(problem);
            Assert.Contains("(osx-arm64)", problem);
            Assert.Contains("'libtorch_cpu.dylib'", problem);
            Assert.Contains("carries libtorch for linux-x64.", problem);
            Assert.Contains(dir, problem);

            string? none = NativeLibTorch.Problem(Path.Combine(dir, "runtimes"), "linux-x64");
            Assert.Contains("carries libtorch for no platform", none);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void APublishLayoutWithTheLibraryBesideTheProgramPasses()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"sharpoptim-native-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(Path.Combine(dir, "torch_cpu.dll"), [0x4d]);
            Assert.Null(NativeLibTorch.Problem(dir, "win-x64"));
            Assert.NotNull(NativeLibTorch.Problem(dir, "linux-x64"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
