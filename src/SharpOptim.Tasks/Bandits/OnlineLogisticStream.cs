using System.Globalization;
using SharpOptim.Tasks.Data;

namespace SharpOptim.Tasks.Bandits;

/// <summary>
/// breast_cancer (569 × 30) for the online logistic-regression protocol of the SEA miniature: features standardized
/// with the mean and standard deviation of the first 100 rows only (the learner has not seen the rest), labels ±1
/// (+1 = benign, the data set's class 1).
/// </summary>
public sealed class OnlineLogisticStream
{
    private OnlineLogisticStream(double[][] z, double[] y) { Features = z; Labels = y; }

    /// <summary>Standardized rows.</summary>
    public double[][] Features { get; }
    /// <summary>Labels in {−1, +1}.</summary>
    public double[] Labels { get; }

    /// <summary>Loads breast_cancer from the embedded CSV.</summary>
    public static OnlineLogisticStream BreastCancer()
    {
        var text = EmbeddedData.ReadText("data/breast_cancer.csv", Data.BreastCancer.Sha256, gzip: false);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1).ToArray();
        var x = lines.Select(l => l.Split(',').Take(30).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        var y = lines.Select(l => l.Split(',')[30].Trim() == "1" ? 1.0 : -1.0).ToArray();
        for (int j = 0; j < 30; j++)
        {
            double mean = 0;
            for (int i = 0; i < 100; i++) mean += x[i][j];
            mean /= 100;
            double var = 0;
            for (int i = 0; i < 100; i++) var += (x[i][j] - mean) * (x[i][j] - mean);
            double sd = Math.Sqrt(var / 100);
            foreach (var row in x) row[j] = (row[j] - mean) / sd;
        }
        return new OnlineLogisticStream(x, y);
    }
}
