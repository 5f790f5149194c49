namespace XDit.Engine.FastAttn;

/// <summary>
/// What DiTFastAttn does with one self-attention layer at one step (methods.md §7; the names are xDiT's, which its
/// plan files use). <see cref="CfgShare"/> combines with a full or window attention.
/// </summary>
[Flags]
public enum FastAttnMethod
{
    /// <summary>Plain attention (and, when a later window step needs it, the residual of full minus window).</summary>
    FullAttn = 1,
    /// <summary>WA-RS: window attention plus the residual cached at the last full step.</summary>
    ResidualWindowAttn = 2,
    /// <summary>AST: the module's output of the previous step, nothing computed.</summary>
    OutputShare = 4,
    /// <summary>ASC: computed on the conditional half of the batch and copied onto the unconditional half.</summary>
    CfgShare = 8,
    ResidualWindowAttnCfgShare = ResidualWindowAttn | CfgShare,
    FullAttnCfgShare = FullAttn | CfgShare,
}

/// <summary>xDiT's names of the methods, as its plan JSON writes them.</summary>
public static class FastAttnMethodNames
{
    static readonly (FastAttnMethod Method, string Name)[] Table =
    [
        (FastAttnMethod.FullAttn, "FULL_ATTN"),
        (FastAttnMethod.ResidualWindowAttn, "RESIDUAL_WINDOW_ATTN"),
        (FastAttnMethod.OutputShare, "OUTPUT_SHARE"),
        (FastAttnMethod.ResidualWindowAttnCfgShare, "RESIDUAL_WINDOW_ATTN_CFG_SHARE"),
        (FastAttnMethod.FullAttnCfgShare, "FULL_ATTN_CFG_SHARE"),
    ];

    public static string Name(this FastAttnMethod m)
    {
        foreach (var (method, name) in Table) if (method == m) return name;
        throw new ArgumentException($"{(int)m} is not a DiTFastAttn method");
    }

    public static bool TryParse(string name, out FastAttnMethod method)
    {
        foreach (var (m, n) in Table)
            if (n == name) { method = m; return true; }
        method = default;
        return false;
    }

    /// <summary>Every method, in the table's order (the order summaries list them in).</summary>
    public static IEnumerable<FastAttnMethod> Methods => Table.Select(t => t.Method);

    public static IEnumerable<string> All => Table.Select(t => t.Name);

    public static bool Has(this FastAttnMethod m, FastAttnMethod flag) => (m & flag) != 0;
}
