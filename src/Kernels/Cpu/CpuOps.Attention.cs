using System.Numerics.Tensors;
using XDit.Runtime;
using Tensor = XDit.Runtime.Tensor;

namespace XDit.Kernels.Cpu;

public sealed partial class CpuOps
{
    // 96 = 16 micro-kernel rows (6 each), so only the last block of a sequence has a ragged edge; 96 rows of scores
    // for 1024 keys (384 KiB) still sit in L2.
    const int QueryBlock = 96;
    [ThreadStatic] static float[]? t_scores;

    public unsafe Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionOptions? options = null, Tensor? lse = null)
    {
        OpContracts.Attention(q, k, v, options, lse);
        int B = q.Dim(0), Nq = q.Dim(1), H = q.Dim(2), d = q.Dim(3);
        int Nk = k.Dim(1), dv = v.Dim(3);
        options ??= new AttentionOptions();
        float scale = options.Scale ?? 1f / MathF.Sqrt(d);
        var keyBias = options.KeyBias;
        var bias = options.Bias;

        var result = NewF32(B, Nq, H, dv);
        using var qd = Read(q);
        using var kd = Read(k);
        using var vd = Read(v);
        using var kb = keyBias is null ? default : Read(keyBias);
        using var bd = bias is null ? default : Read(bias);
        using var ld = lse is null ? default : Write(lse, nameof(lse));
        bool causal = options.Causal;
        bool windowed = options.Window is not null;
        int window = options.Window ?? 0;
        int kbBatch = keyBias is null || keyBias.Dim(0) == 1 ? 0 : Nk;
        int biasBatch = bias is null || bias.Dim(0) == 1 ? 0 : H * Nq * Nk;
        // Every query block of a head multiplies against the same Kᵀ and V: pack them into GEMM panels once per
        // (batch, head) instead of once per block (the packing otherwise costs about as much as the products).
        long kPacked = GemmKernel.PackedBLength(Nk, d), vPacked = GemmKernel.PackedBLength(dv, Nk), headPacked = kPacked + vPacked;
        var packStorage = (HostStorage)_arena.Allocate(Math.Max(1, (long)B * H * headPacked) * sizeof(float));
        try
        {
            fixed (float* pq = qd.Span, pk = kd.Span, pv = vd.Span, po = result.Span<float>(), pkb = kb.Span, pb = bd.Span, pl = ld.Span)
            fixed (byte* ppack = packStorage.Bytes)
            {
                nint q0 = (nint)pq, k0 = (nint)pk, v0 = (nint)pv, o0 = (nint)po, kb0 = (nint)pkb, b0 = (nint)pb, l0 = (nint)pl, pack0 = (nint)ppack;
                bool hasKb = keyBias is not null, hasBias = bias is not null, hasLse = lse is not null;
                int qBlocks = (Nq + QueryBlock - 1) / QueryBlock;

                void PackHead(int bh)
                {
                    int b = bh / H, h = bh % H;
                    float* dst = (float*)pack0 + bh * headPacked;
                    GemmKernel.PackB(Nk, d, (float*)k0 + ((long)b * Nk * H + h) * d, H * d, transB: true, dst);
                    // a windowed block multiplies its band of V rows unpacked: a packed V serves only whole key ranges
                    if (!windowed) GemmKernel.PackB(dv, Nk, (float*)v0 + ((long)b * Nk * H + h) * dv, H * dv, transB: false, dst + kPacked);
                }

                // One task per (batch, head, block of 96 queries): S = scale·Q·Kᵀ, P = exp(S + biases − rowmax),
                // O = P·V / rowsum. The scores stay in a per-thread buffer; normalising the dv outputs of a row
                // instead of its Nk probabilities saves a pass over the scores.
                void QueryBlockTask(int t)
                {
                    int bh = t / qBlocks, b = bh / H, h = bh % H, i0 = t % qBlocks * QueryBlock;
                    int rows = Math.Min(QueryBlock, Nq - i0);
                    // Under a window the block scores only keys [j0, j1): the band of its rows, widened down to a
                    // packed panel's start so that Kᵀ's panels are used as packed.
                    int j0 = 0, j1 = Nk;
                    if (windowed)
                    {
                        j0 = Math.Max(0, i0 - window) / GemmKernel.PanelWidth * GemmKernel.PanelWidth;
                        j1 = (int)Math.Min(Nk, (long)i0 + rows + window);
                        if (j1 < j0) j1 = j0;
                    }
                    int width = j1 - j0;
                    float* packedK = (float*)pack0 + bh * headPacked + (long)j0 * d, packedV = (float*)pack0 + bh * headPacked + kPacked;
                    float* qRows = (float*)q0 + (((long)b * Nq + i0) * H + h) * d;
                    float* oRows = (float*)o0 + (((long)b * Nq + i0) * H + h) * dv;
                    float* inverseSums = stackalloc float[QueryBlock];
                    fixed (float* ps = ScoreBuffer(Nk))
                    {
                        GemmKernel.MultiplyPacked(rows, width, d, qRows, H * d, packedK, ps, width, scale);
                        for (int r = 0; r < rows; r++)
                        {
                            int i = i0 + r;
                            var s = new Span<float>(ps + (long)r * width, width);
                            if (hasKb) TensorPrimitives.Add(s, new ReadOnlySpan<float>((float*)kb0 + b * kbBatch + j0, width), s);
                            if (hasBias) TensorPrimitives.Add(s, new ReadOnlySpan<float>((float*)b0 + (long)b * biasBatch + ((long)h * Nq + i) * Nk + j0, width), s);
                            if (causal && i + 1 < j1) s[Math.Max(0, i + 1 - j0)..].Fill(float.NegativeInfinity);
                            if (windowed)
                            {
                                // hide j < i − w and j > i + w
                                int lo = (int)Math.Clamp((long)i - window - j0, 0, width), hi = (int)Math.Clamp((long)i + window + 1 - j0, lo, width);
                                s[..lo].Fill(float.NegativeInfinity);
                                s[hi..].Fill(float.NegativeInfinity);
                            }
                            float rowLse = ExpRow(ps + (long)r * width, width, out inverseSums[r]);
                            if (hasLse) ((float*)l0)[((long)b * H + h) * Nq + i] = rowLse;
                        }
                        if (!windowed) GemmKernel.MultiplyPacked(rows, dv, Nk, ps, Nk, packedV, oRows, H * dv, 1f);
                        else if (width == 0) for (int r = 0; r < rows; r++) new Span<float>(oRows + (long)r * H * dv, dv).Clear();
                        else GemmKernel.Multiply(rows, dv, width, ps, width, (float*)v0 + (((long)b * Nk + j0) * H + h) * dv, H * dv, transB: false,
                            oRows, H * dv, 1f, null, Activation.None, parallel: false);
                        for (int r = 0; r < rows; r++)
                        {
                            var o = new Span<float>(oRows + (long)r * H * dv, dv);
                            TensorPrimitives.Multiply(o, inverseSums[r], o);
                        }
                    }
                }

                int tasks = B * H * qBlocks;
                bool serial = (long)B * H * Nq * Nk * (d + dv) < (1 << 18) || Environment.ProcessorCount == 1;
                if (serial) for (int bh = 0; bh < B * H; bh++) PackHead(bh);
                else Parallel.For(0, B * H, PackHead);
                if (serial) for (int t = 0; t < tasks; t++) QueryBlockTask(t);
                else Parallel.For(0, tasks, QueryBlockTask);
            }
        }
        finally
        {
            _arena.Release(packStorage);
        }
        return result;
    }

    /// <summary>This thread's score buffer for a block of <see cref="QueryBlock"/> rows of <paramref name="Nk"/> keys
    /// (pinned, kept between calls so attention allocates nothing per block).</summary>
    static float[] ScoreBuffer(int Nk)
    {
        int needed = Math.Max(QueryBlock * Nk, 1);
        return t_scores is { } buf && buf.Length >= needed ? buf : (t_scores = GC.AllocateUninitializedArray<float>(needed, pinned: true));
    }

    /// <summary>Replaces a score row by exp(s − max) and returns its log-sum-exp, with 1/Σ for the caller to scale
    /// the output row. A row with no finite score (fully masked) becomes zeros with 1/Σ = 0 and lse = −∞.</summary>
    static unsafe float ExpRow(float* row, int n, out float inverseSum)
    {
        inverseSum = 0f;
        float max = SoftmaxExp.Max(row, n);
        if (float.IsNegativeInfinity(max)) { new Span<float>(row, n).Clear(); return float.NegativeInfinity; }
        float sum = SoftmaxExp.ExpSubtractMaxAndSum(row, n, max);
        inverseSum = 1f / sum;
        return max + MathF.Log(sum);
    }

    public void MergeAttention(Tensor o1, Tensor lse1, Tensor o2, Tensor lse2)
    {
        OpContracts.MergeAttention(o1, lse1, o2, lse2);
        int B = o1.Dim(0), N = o1.Dim(1), H = o1.Dim(2), d = o1.Dim(3);
        using var a = Write(o1, nameof(o1));
        using var la = Write(lse1, nameof(lse1));
        using var bo = Read(o2);
        using var lb = Read(lse2);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int n = 0; n < N; n++)
                {
                    int li = (b * H + h) * N + n;
                    float l1 = la.Span[li], l2 = lb.Span[li];
                    float m = MathF.Max(l1, l2);
                    var row1 = a.Span.Slice(((b * N + n) * H + h) * d, d);
                    var row2 = bo.Span.Slice(((b * N + n) * H + h) * d, d);
                    if (float.IsNegativeInfinity(m)) { row1.Clear(); la.Span[li] = float.NegativeInfinity; continue; }
                    // lse = log(e^l1 + e^l2), each side weighted by e^(l − lse); an empty side (−∞) weighs 0.
                    float e1 = MathF.Exp(l1 - m), e2 = MathF.Exp(l2 - m);
                    float total = e1 + e2;
                    float w1 = e1 / total, w2 = e2 / total;
                    for (int j = 0; j < d; j++) row1[j] = w1 * row1[j] + w2 * row2[j];
                    la.Span[li] = m + MathF.Log(total);
                }
    }
}
