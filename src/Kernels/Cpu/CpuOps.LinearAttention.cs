using XDit.Runtime;

namespace XDit.Kernels.Cpu;

public sealed partial class CpuOps
{
    public unsafe Tensor LinearAttentionSums(Tensor k, Tensor v)
    {
        OpContracts.LinearAttentionSums(k, v);
        int B = k.Dim(0), N = k.Dim(1), H = k.Dim(2), D = k.Dim(3);
        var result = NewF32(B, H, D + 1, D);
        using var kd = Read(k);
        using var vd = Read(v);
        fixed (float* pk = kd.Span, pv = vd.Span, ps = result.Span<float>())
        {
            nint k0 = (nint)pk, v0 = (nint)pv, s0 = (nint)ps;
            void Head(int bh)
            {
                int b = bh / H, h = bh % H;
                float* s = (float*)s0 + (long)bh * (D + 1) * D;
                new Span<float>(s, (D + 1) * D).Clear();
                float* rk = stackalloc float[D];
                for (int j = 0; j < N; j++)
                {
                    long row = (((long)b * N + j) * H + h) * D;
                    float* kr = (float*)k0 + row, vr = (float*)v0 + row;
                    for (int d = 0; d < D; d++) rk[d] = Math.Max(kr[d], 0f);
                    // rows e < D gain v[j, e]·relu(k[j]); row D (v's appended ones) gains relu(k[j])
                    for (int e = 0; e <= D; e++)
                    {
                        float ve = e < D ? vr[e] : 1f;
                        float* se = s + (long)e * D;
                        for (int d = 0; d < D; d++) se[d] += ve * rk[d];
                    }
                }
            }
            if ((long)B * H * N * D * D < 1 << 16) for (int i = 0; i < B * H; i++) Head(i);
            else Parallel.For(0, B * H, Head);
        }
        return result;
    }

    public unsafe Tensor LinearAttentionApply(Tensor q, Tensor sums, float eps)
    {
        OpContracts.LinearAttentionApply(q, sums, eps);
        int B = q.Dim(0), N = q.Dim(1), H = q.Dim(2), D = q.Dim(3);
        var result = NewF32(B, N, H, D);
        using var qd = Read(q);
        using var sd = Read(sums);
        fixed (float* pq = qd.Span, ps = sd.Span, po = result.Span<float>())
        {
            nint q0 = (nint)pq, s0 = (nint)ps, o0 = (nint)po;
            void Token(int bi)
            {
                int b = bi / N;
                float* rq = stackalloc float[D];
                for (int h = 0; h < H; h++)
                {
                    long row = ((long)bi * H + h) * D;
                    float* qr = (float*)q0 + row, o = (float*)o0 + row;
                    float* s = (float*)s0 + ((long)b * H + h) * (D + 1) * D;
                    for (int d = 0; d < D; d++) rq[d] = Math.Max(qr[d], 0f);
                    float den = 0f;
                    float* sD = s + (long)D * D;
                    for (int d = 0; d < D; d++) den += sD[d] * rq[d];
                    den += eps;   // after the sum, as diffusers adds it
                    for (int e = 0; e < D; e++)
                    {
                        float num = 0f;
                        float* se = s + (long)e * D;
                        for (int d = 0; d < D; d++) num += se[d] * rq[d];
                        o[e] = num / den;
                    }
                }
            }
            if ((long)B * N * H * D * D < 1 << 16) for (int i = 0; i < B * N; i++) Token(i);
            else Parallel.For(0, B * N, Token);
        }
        return result;
    }
}
