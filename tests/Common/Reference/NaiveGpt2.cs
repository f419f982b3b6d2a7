using LearningCurves.Engine.Model;

namespace LearningCurves.Tests.Common;

/// <summary>A naive GPT-2 forward pass in float64, written out loop by loop from the published definition and sharing
/// no code with the engine: the reference of the CPU backend's tests and of the software GPU's score check.</summary>
public static class NaiveGpt2
{
    /// <summary>GPT-2 (pre-LN) in float64 for one sequence: logits (T, V).</summary>
    public static double[][] Logits(ModelWeights w, int[] tokens)
    {
        var cfg = w.Config;
        int t = tokens.Length, c = cfg.Embd, nh = cfg.Heads, hs = c / nh, inner = cfg.InnerSize, v = cfg.VocabSize;
        var x = new double[t][];
        for (int i = 0; i < t; i++)
            x[i] = Enumerable.Range(0, c).Select(j => (double)w.Wte[tokens[i] * c + j] + w.Wpe[i * c + j]).ToArray();
        double[] Ln(double[] a, float[] g, float[] b)
        {
            double mean = a.Average(), var = a.Select(e => (e - mean) * (e - mean)).Average();
            return a.Select((e, j) => (e - mean) / Math.Sqrt(var + cfg.LayerNormEpsilon) * g[j] + b[j]).ToArray();
        }
        double[] Lin(double[] a, float[] wt, float[] b, int nIn, int nOut)
        {
            var o = new double[nOut];
            for (int j = 0; j < nOut; j++)
            {
                double s = b[j];
                for (int k = 0; k < nIn; k++) s += a[k] * wt[k * nOut + j];
                o[j] = s;
            }
            return o;
        }
        for (int l = 0; l < cfg.Layers; l++)
        {
            var blk = w.Blocks[l];
            var qkv = x.Select(r => Lin(Ln(r, blk.Ln1W, blk.Ln1B), blk.AttnW, blk.AttnB, c, 3 * c)).ToArray();
            double scale = 1 / Math.Sqrt(hs) / (cfg.ScaleAttnByInverseLayerIdx ? l + 1 : 1);
            var att = new double[t][];
            for (int i = 0; i < t; i++)
            {
                att[i] = new double[c];
                for (int h = 0; h < nh; h++)
                {
                    var s = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double d = 0;
                        for (int k = 0; k < hs; k++) d += qkv[i][h * hs + k] * qkv[j][c + h * hs + k];
                        s[j] = d * scale;
                    }
                    double mx = s.Max(), sum = s.Sum(e => Math.Exp(e - mx));
                    for (int j = 0; j <= i; j++)
                    {
                        double p = Math.Exp(s[j] - mx) / sum;
                        for (int k = 0; k < hs; k++) att[i][h * hs + k] += p * qkv[j][2 * c + h * hs + k];
                    }
                }
            }
            for (int i = 0; i < t; i++)
            {
                var proj = Lin(att[i], blk.AttnProjW, blk.AttnProjB, c, c);
                for (int j = 0; j < c; j++) x[i][j] += proj[j];
                var fc = Lin(Ln(x[i], blk.Ln2W, blk.Ln2B), blk.FcW, blk.FcB, c, inner)
                    .Select(e => 0.5 * e * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (e + 0.044715 * e * e * e)))).ToArray();
                var o = Lin(fc, blk.FcProjW, blk.FcProjB, inner, c);
                for (int j = 0; j < c; j++) x[i][j] += o[j];
            }
        }
        var head = w.Head;
        return x.Select(r =>
        {
            var n = Ln(r, w.LnFW, w.LnFB);
            return Enumerable.Range(0, v).Select(tok =>
            {
                double s = 0;
                for (int k = 0; k < c; k++) s += n[k] * head[tok * c + k];
                return s;
            }).ToArray();
        }).ToArray();
    }

    /// <summary>-log2 p(tokens[p] | tokens[..p]) in bits for p = 1..T-1.</summary>
    public static double[] SurprisalBits(ModelWeights w, int[] tokens)
    {
        var logits = Logits(w, tokens);
        var r = new double[Math.Max(0, tokens.Length - 1)];
        for (int p = 1; p < tokens.Length; p++)
        {
            var z = logits[p - 1];
            double max = z.Max();
            double lse = max + Math.Log(z.Sum(x => Math.Exp(x - max)));
            r[p - 1] = (lse - z[tokens[p]]) / Math.Log(2);
        }
        return r;
    }
}
