namespace SharpOptim.Tasks.Bilevel;

/// <summary>Area under the ROC curve by the Mann-Whitney U statistic (ties count one half).</summary>
public static class Auc
{
    /// <summary>P(score of a random positive &gt; score of a random negative) + ½P(tie); NaN when a class is absent.</summary>
    public static double Compute(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        if (scores.Count != positive.Count) throw new ArgumentException($"{scores.Count} scores for {positive.Count} labels.", nameof(positive));
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        var rank = new double[scores.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && scores[order[j + 1]] == scores[order[i]]) j++;
            double mid = (i + j) / 2.0 + 1;   // average 1-based rank of the tie group
            for (int k = i; k <= j; k++) rank[order[k]] = mid;
            i = j + 1;
        }
        long nPos = positive.Count(p => p), nNeg = positive.Count - nPos;
        if (nPos == 0 || nNeg == 0) return double.NaN;
        double sum = 0;
        for (int i = 0; i < rank.Length; i++) if (positive[i]) sum += rank[i];
        return (sum - nPos * (nPos + 1) / 2.0) / ((double)nPos * nNeg);
    }
}
