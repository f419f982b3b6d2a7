using System.Globalization;
using System.Text;

namespace LearningCurves.Formats.Tokenization;

/// <summary>
/// Unicode normalization form C (UAX #15: canonical decomposition, canonical ordering, canonical composition) from the
/// tables of <see cref="NfcTables"/>. The project runs with InvariantGlobalization, under which .NET's
/// <see cref="string.Normalize()"/> returns the text unchanged; a tokenizer.json whose normalizer is NFC (GPT-NeoX-20B's,
/// Qwen2's) uses this instead, so a decomposed "e" + U+0301 is read as "é" as the tokenizers library reads it.
/// </summary>
public static class UnicodeNfc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private sealed record Tables(Dictionary<int, int[]> Decompose, Dictionary<int, byte> Classes, Dictionary<long, int> Compose);

    private static readonly Lazy<Tables> Data = new(Load);

    /// <summary>The Unicode version of the tables.</summary>
    public static string UnicodeVersion => NfcTables.UnicodeVersion;

    /// <summary><paramref name="text"/> in NFC (the same string when every character is below U+0300, which is
    /// always NFC).</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int first = 0;
        while (first < text.Length && text[first] < 0x300) first++;
        if (first == text.Length) return text;
        var t = Data.Value;
        var cps = new List<int>(text.Length + 8);
        for (int i = 0; i < text.Length; i++)
        {
            int cp = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) cp = char.ConvertToUtf32(text[i], text[++i]);
            Decompose(t, cp, cps);
        }
        Reorder(t, cps);
        var composed = Compose(t, cps);
        var sb = new StringBuilder(text.Length);
        foreach (int cp in composed)
        {
            if (cp < 0x10000) sb.Append((char)cp);
            else sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    private static int Class(Tables t, int cp) => t.Classes.TryGetValue(cp, out byte c) ? c : 0;

    /// <summary>The full canonical decomposition of <paramref name="cp"/> appended to <paramref name="into"/>.</summary>
    private static void Decompose(Tables t, int cp, List<int> into)
    {
        if (cp >= SBase && cp < SBase + SCount)
        {
            int s = cp - SBase;
            into.Add(LBase + s / NCount);
            into.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) into.Add(TBase + s % TCount);
            return;
        }
        if (t.Decompose.TryGetValue(cp, out var parts))
        {
            foreach (int p in parts) Decompose(t, p, into);
            return;
        }
        into.Add(cp);
    }

    /// <summary>Each run of non-starters sorted by combining class, stably.</summary>
    private static void Reorder(Tables t, List<int> cps)
    {
        for (int i = 1; i < cps.Count; i++)
        {
            int c = Class(t, cps[i]);
            if (c == 0) continue;
            int j = i;
            int cp = cps[i];
            while (j > 0 && Class(t, cps[j - 1]) > c)
            {
                cps[j] = cps[j - 1];
                j--;
            }
            cps[j] = cp;
        }
    }

    /// <summary>Canonical composition: each character joined to the last starter when nothing between blocks it and
    /// the pair has a primary composite.</summary>
    private static List<int> Compose(Tables t, List<int> cps)
    {
        var result = new List<int>(cps.Count);
        int starter = -1, lastClass = 0;
        foreach (int cp in cps)
        {
            int c = Class(t, cp);
            if (starter >= 0)
            {
                bool adjacent = result.Count == starter + 1;
                if ((adjacent || (lastClass != 0 && lastClass < c)) && Pair(t, result[starter], cp) is int joined)
                {
                    result[starter] = joined;
                    continue;
                }
            }
            if (c == 0) starter = result.Count;
            lastClass = c;
            result.Add(cp);
        }
        return result;
    }

    private static int? Pair(Tables t, int a, int b)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
            return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
            return a + (b - TBase);
        return t.Compose.TryGetValue(((long)a << 21) | (uint)b, out int c) ? c : null;
    }

    private static Tables Load()
    {
        static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var decompose = new Dictionary<int, int[]>();
        foreach (var e in NfcTables.Decompositions.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = e.IndexOf('=', StringComparison.Ordinal);
            decompose[Hex(e[..eq])] = e[(eq + 1)..].Split(',').Select(Hex).ToArray();
        }
        var classes = new Dictionary<int, byte>();
        foreach (var e in NfcTables.CombiningClasses.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            int dash = e.IndexOf('-', StringComparison.Ordinal), colon = e.IndexOf(':', StringComparison.Ordinal);
            byte c = byte.Parse(e[(colon + 1)..], CultureInfo.InvariantCulture);
            for (int cp = Hex(e[..dash]); cp <= Hex(e[(dash + 1)..colon]); cp++) classes[cp] = c;
        }
        var excluded = NfcTables.Excluded.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(Hex).ToHashSet();
        var compose = new Dictionary<long, int>();
        foreach (var (cp, parts) in decompose)
        {
            if (parts.Length == 2 && !excluded.Contains(cp)) compose[((long)parts[0] << 21) | (uint)parts[1]] = cp;
        }
        return new Tables(decompose, classes, compose);
    }
}
