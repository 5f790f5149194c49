using System.Text.Json;
using System.Text.Json.Nodes;

namespace XDit.Engine.FastAttn;

/// <summary>
/// A DiTFastAttn compression plan: one <see cref="FastAttnMethod"/> per (block, step) of a model's self-attention
/// layers. Saved and read as xDiT writes it, <c>{"block0": {"step0": "FULL_ATTN", ...}, ...}</c>, so that a plan
/// calibrated by either tool serves the other.
/// </summary>
public sealed class FastAttnPlan
{
    readonly FastAttnMethod[][] _methods;

    public FastAttnPlan(int blocks, int steps)
    {
        if (blocks < 1 || steps < 1) throw new ArgumentException($"a DiTFastAttn plan needs at least one block and one step, got {blocks} x {steps}");
        _methods = Enumerable.Range(0, blocks).Select(_ => Enumerable.Repeat(FastAttnMethod.FullAttn, steps).ToArray()).ToArray();
    }

    public int Blocks => _methods.Length;
    public int Steps => _methods[0].Length;

    public FastAttnMethod this[int block, int step]
    {
        get => step < Steps ? _methods[block][step] : FastAttnMethod.FullAttn;
        set => _methods[block][step] = value;
    }

    /// <summary>Whether the full attention of (block, step) must also leave the residual full − window: some window
    /// step follows it before the next full step (xDiT's need_compute_residual).</summary>
    public bool NeedsResidual(int block, int step)
    {
        if (!this[block, step].Has(FastAttnMethod.FullAttn)) return false;
        for (int j = step + 1; j < Steps; j++)
        {
            var m = _methods[block][j];
            if (m.Has(FastAttnMethod.ResidualWindowAttn)) return true;
            if (m.Has(FastAttnMethod.FullAttn)) return false;
        }
        return false;
    }

    /// <summary>Whether the output of (block, step) is read later: the next step shares it.</summary>
    public bool NeedsOutput(int block, int step)
        => !this[block, step].Has(FastAttnMethod.OutputShare) && step + 1 < Steps && _methods[block][step + 1].Has(FastAttnMethod.OutputShare);

    /// <summary>How many (block, step) cells use each method.</summary>
    public IReadOnlyDictionary<FastAttnMethod, int> Counts()
        => _methods.SelectMany(m => m).GroupBy(m => m).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>"FULL_ATTN 60%, OUTPUT_SHARE 25%, ..." in the order of the method table.</summary>
    public string Summary()
    {
        var counts = Counts();
        double total = Blocks * Steps;
        return string.Join(", ", FastAttnMethodNames.Methods.Where(counts.ContainsKey).Select(m => $"{m.Name()} {100.0 * counts[m] / total:F0}%"));
    }

    public void Save(string path)
    {
        var root = new JsonObject();
        for (int b = 0; b < Blocks; b++)
        {
            var row = new JsonObject();
            for (int s = 0; s < Steps; s++) row[$"step{s}"] = _methods[b][s].Name();
            root[$"block{b}"] = row;
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        File.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads a plan file; every error names the file and, where it applies, the block and step.</summary>
    public static FastAttnPlan Load(string path)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a DiTFastAttn plan (invalid JSON: {e.Message})", e); }
        if (root is not JsonObject blocks || blocks.Count == 0)
            throw new InvalidDataException($"{path}: a DiTFastAttn plan is a JSON object {{\"block0\": {{\"step0\": \"FULL_ATTN\", ...}}, ...}}");
        var rows = new List<FastAttnMethod[]>();
        foreach (var (blockName, blockNode) in blocks)
        {
            if (blockName != $"block{rows.Count}")
                throw new InvalidDataException($"{path}: expected \"block{rows.Count}\", found \"{blockName}\" (blocks are numbered from 0 in order)");
            if (blockNode is not JsonObject steps || steps.Count == 0)
                throw new InvalidDataException($"{path}: {blockName} must map \"step0\", \"step1\", ... to methods");
            var row = new List<FastAttnMethod>();
            foreach (var (stepName, methodNode) in steps)
            {
                if (stepName != $"step{row.Count}")
                    throw new InvalidDataException($"{path}: {blockName}: expected \"step{row.Count}\", found \"{stepName}\"");
                string? name = methodNode is JsonValue v && v.TryGetValue<string>(out var str) ? str : null;
                if (name is null || !FastAttnMethodNames.TryParse(name, out var method))
                    throw new InvalidDataException($"{path}: {blockName} {stepName}: {methodNode?.ToJsonString() ?? "null"} is not one of {string.Join(", ", FastAttnMethodNames.All)}");
                row.Add(method);
            }
            if (rows.Count > 0 && row.Count != rows[0].Length)
                throw new InvalidDataException($"{path}: {blockName} has {row.Count} steps, block0 has {rows[0].Length}");
            rows.Add(row.ToArray());
        }
        var plan = new FastAttnPlan(rows.Count, rows[0].Length);
        for (int b = 0; b < rows.Count; b++)
            for (int s = 0; s < rows[b].Length; s++) plan[b, s] = rows[b][s];
        return plan;
    }

    /// <summary>Throws unless this plan fits a model of <paramref name="blocks"/> blocks run for <paramref name="steps"/>
    /// steps, with or without classifier-free guidance. <paramref name="source"/> names the plan in the message.</summary>
    public void CheckFits(int blocks, int steps, bool cfg, string source)
    {
        if (Blocks != blocks) throw new ArgumentException($"{source}: the DiTFastAttn plan has {Blocks} blocks, the model has {blocks}");
        if (Steps != steps) throw new ArgumentException($"{source}: the DiTFastAttn plan is for {Steps} steps, this run has {steps}");
        for (int b = 0; b < Blocks; b++)
        {
            if (_methods[b][0] != FastAttnMethod.FullAttn && _methods[b][0] != FastAttnMethod.FullAttnCfgShare)
                throw new ArgumentException($"{source}: block{b} step0 is {_methods[b][0].Name()}, but the first step has nothing to share or reuse: it must be a full attention");
            for (int s = 0; s < Steps; s++)
                if (!cfg && _methods[b][s].Has(FastAttnMethod.CfgShare))
                    throw new ArgumentException($"{source}: block{b} step{s} is {_methods[b][s].Name()}, which needs classifier-free guidance (a guidance scale above 1)");
        }
    }
}
