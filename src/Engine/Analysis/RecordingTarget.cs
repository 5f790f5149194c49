namespace XDit.Engine.Analysis;

/// <summary>
/// What the recorder keeps of each layer, with DiTCacheAnalysis' names: k, v (an attention layer's keys and values
/// as the attention receives them: after q/k norm and RoPE where the model applies them), a (its image-token output
/// after the output projection, to_out.0; Flux's single blocks have none, so there it is the attention output, as
/// in the tool), ek, ev, ea (the same for the text tokens of joint attention: SD3, Flux double blocks; ea after
/// to_add_out where the layer has one), and block (a block's image-token output). Beyond the tool, for the step
/// caches: residual (what a block adds to the image tokens, output − input: what a cache reuses) and tea_input
/// (block 0's modulated input, TeaCache's indicator; one series, layer "block 0").
/// </summary>
public static class RecordingTarget
{
    public const string K = "k", V = "v", A = "a", TextK = "ek", TextV = "ev", TextA = "ea", Block = "block";
    public const string Residual = "residual", TeaInput = "tea_input";

    /// <summary>The paper's targets and the block outputs: what `xdit analyze` records unless told.</summary>
    public static readonly IReadOnlyList<string> Default = [K, V, A, TextK, TextV, TextA, Block];
    public static readonly IReadOnlyList<string> All = [K, V, A, TextK, TextV, TextA, Block, Residual, TeaInput];

    /// <summary>Parses "k,v,a" or "all"; throws naming the unknown target.</summary>
    public static IReadOnlyList<string> ParseList(string text)
    {
        if (text.Trim() == "all") return All;
        var result = new List<string>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!All.Contains(part)) throw new ArgumentException($"--targets: unknown target '{part}'; expected some of {string.Join(", ", All)} or all");
            if (!result.Contains(part)) result.Add(part);
        }
        if (result.Count == 0) throw new ArgumentException("--targets: no target named");
        return result;
    }
}

/// <summary>Which attention layers are recorded: self-attention (joint attention included: the tool's choice),
/// cross-attention (PixArt's attn2, whose K/V are the caption's and do not change between steps), or both.</summary>
public enum LayerSelection { Self, Cross, All }

/// <summary>Whether the rows of the two guidance halves are measured together (the tool: the whole batch) or each
/// half on its own ("uncond" = the first half of the batch rows, "cond" = the second).</summary>
public enum HalfSelection { Together, Separate }

/// <summary>One recorded series: a target of a layer, over the whole batch ("all") or one guidance half.</summary>
public readonly record struct SeriesKey(string Target, string Layer, string Half)
{
    public const string AllRows = "all", Uncond = "uncond", Cond = "cond";
    public override string ToString() => Half == AllRows ? $"{Target} {Layer}" : $"{Target} {Layer} ({Half})";
}
