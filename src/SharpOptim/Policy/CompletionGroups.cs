namespace SharpOptim.Policy;

/// <summary>
/// The groups of a rollout batch: completions that share a prompt id (<c>uid</c>, brief §0.3) form one group, in order of
/// first appearance. Group methods (RLOO, GRPO, DisCO, ARPO) need at least two completions per group, because their
/// baseline or ranking compares a completion with its siblings.
/// </summary>
public sealed class CompletionGroups
{
    private CompletionGroups(long[] ids, int[][] rows, int count)
    {
        Ids = ids;
        Rows = rows;
        Completions = count;
    }

    /// <summary>The prompt id of each group.</summary>
    public IReadOnlyList<long> Ids { get; }

    /// <summary>The completion (row) indices of each group, ascending.</summary>
    public IReadOnlyList<int[]> Rows { get; }

    /// <summary>Number of completions (rows) in the batch.</summary>
    public int Completions { get; }

    /// <summary>Number of groups.</summary>
    public int Count => Rows.Count;

    /// <summary>
    /// Groups <paramref name="groupIds"/> (one id per completion). Throws an <see cref="ArgumentException"/> naming
    /// <paramref name="parameterName"/> when the list is empty, when it does not have <paramref name="expectedRows"/>
    /// entries (pass −1 to skip that check), or when a group has fewer than <paramref name="minimumSize"/> completions.
    /// </summary>
    public static CompletionGroups FromIds(IReadOnlyList<long> groupIds, int minimumSize, long expectedRows = -1, string parameterName = "groupIds")
    {
        ArgumentNullException.ThrowIfNull(groupIds, parameterName);
        if (groupIds.Count == 0) throw new ArgumentException("the batch has no completions (empty group ids).", parameterName);
        if (expectedRows >= 0 && groupIds.Count != expectedRows)
            throw new ArgumentException(FormattableString.Invariant($"{groupIds.Count} group ids for {expectedRows} completions."), parameterName);
        var order = new List<long>();
        var members = new Dictionary<long, List<int>>();
        for (int i = 0; i < groupIds.Count; i++)
        {
            if (!members.TryGetValue(groupIds[i], out var list))
            {
                members[groupIds[i]] = list = new List<int>();
                order.Add(groupIds[i]);
            }
            list.Add(i);
        }
        foreach (var id in order)
            if (members[id].Count < minimumSize)
                throw new ArgumentException(FormattableString.Invariant($"group {id} has {members[id].Count} completion(s); this method needs at least {minimumSize} per prompt (G ≥ {minimumSize})."), parameterName);
        return new CompletionGroups(order.ToArray(), order.Select(id => members[id].ToArray()).ToArray(), groupIds.Count);
    }
}
