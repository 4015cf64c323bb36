using System.Globalization;
using SharpOptim.Tasks.Data;

namespace SharpOptim.Tasks.Bandits;

/// <summary>
/// A classification data set prepared for the supervised-to-bandit conversion (as the official NeuralUCB code's
/// data_multi.py Bandit_multi does it): float64 features with every row scaled to unit L2 norm, integer labels, and
/// K = number of classes arms. The stream order is chosen by the caller (<see cref="StreamOrder"/>).
/// </summary>
public sealed class BanditDataset
{
    private BanditDataset(string name, double[][] features, int[] labels, int classes)
    {
        Name = name;
        Features = features;
        Labels = labels;
        Classes = classes;
    }

    /// <summary>Data set name.</summary>
    public string Name { get; }
    /// <summary>Rows, each of unit L2 norm (all-zero rows stay zero).</summary>
    public double[][] Features { get; }
    /// <summary>Class of each row.</summary>
    public int[] Labels { get; }
    /// <summary>Number of classes = arms.</summary>
    public int Classes { get; }
    /// <summary>Number of rows.</summary>
    public int Count => Labels.Length;
    /// <summary>Feature dimension d.</summary>
    public int Dimension => Features[0].Length;

    /// <summary>scikit-learn's digits (1,797 × 64) in the embedded file's row order, raw pixel values 0..16
    /// L2-normalized per row (exact in float64: the squared sums are integers).</summary>
    public static BanditDataset Digits()
    {
        var text = EmbeddedData.ReadText("data/digits.csv.gz", Data.Digits.Sha256, gzip: true);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var x = new double[lines.Length][];
        var y = new int[lines.Length];
        for (int r = 0; r < lines.Length; r++)
        {
            var cells = lines[r].Split(',');
            if (cells.Length != 65) throw new InvalidDataException(FormattableString.Invariant($"digits: row {r} has {cells.Length} columns, expected 65."));
            x[r] = new double[64];
            for (int c = 0; c < 64; c++) x[r][c] = double.Parse(cells[c], CultureInfo.InvariantCulture);
            y[r] = int.Parse(cells[64], CultureInfo.InvariantCulture);
        }
        return new BanditDataset("digits", Normalize(x), y, 10);
    }

    /// <summary>MNIST-10k (10,000 × 784; train then test rows of the fetched set), L2-normalized per row.</summary>
    public static BanditDataset Mnist10k(string? cacheDirectory)
    {
        using var data = Data.Mnist10k.Load(cacheDirectory);
        var rows = new List<double[]>();
        var labels = new List<int>();
        foreach (var (xs, ys) in new[] { (data.TrainX, data.TrainY), (data.TestX, data.TestY) })
        {
            var flat = xs.to_type(TorchSharp.torch.ScalarType.Float64).contiguous().data<double>().ToArray();
            var lab = ys.data<long>().ToArray();
            int d = (int)xs.shape[1];
            for (int r = 0; r < lab.Length; r++)
            {
                rows.Add(flat.AsSpan(r * d, d).ToArray());
                labels.Add((int)lab[r]);
            }
        }
        return new BanditDataset("mnist10k", Normalize(rows.ToArray()), labels.ToArray(), data.Classes);
    }

    /// <summary>A seeded permutation of the rows (System.Random's seeded shuffle, stable across .NET versions).</summary>
    public int[] StreamOrder(int seed)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        new Random(seed).Shuffle(order);
        return order;
    }

    private static double[][] Normalize(double[][] x)
    {
        foreach (var row in x)
        {
            double s = 0;
            foreach (double v in row) s += v * v;
            if (s == 0) continue;
            double n = Math.Sqrt(s);
            for (int i = 0; i < row.Length; i++) row[i] /= n;
        }
        return x;
    }
}
