namespace LearningCurves.Analysis.Pos;

/// <summary>
/// Festival/Penn tags to Universal POS (universaldependencies.org/u/pos), following the UD English conventions where
/// the Penn tag alone does not decide: forms of be are AUX (VERB after existential "there"), have/do are AUX before a
/// verb of their clause, modals AUX; "not"/"n't" PART; infinitival "to" PART; a preposition before a gerund or one of
/// the subordinators (that, if, whether, because, ...) SCONJ; a stand-alone demonstrative or relative wh-word PRON;
/// possessive and personal pronouns PRON; particles (rp) ADP; ordinals ADJ; "$", "%" and other symbols SYM.
/// </summary>
public static class UposMapping
{
    /// <summary>The 17 Universal POS tags.</summary>
    public static readonly string[] Tags =
        ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"];

    private static readonly HashSet<string> Be = ["be", "is", "are", "was", "were", "been", "being", "am", "'s", "'re", "'m", "s"];
    private static readonly HashSet<string> Have = ["have", "has", "had", "having", "'ve", "'d"];
    private static readonly HashSet<string> Do = ["do", "does", "did"];
    private static readonly HashSet<string> Subordinators = ["that", "if", "whether", "because", "although", "though", "unless", "whereas", "while", "lest"];
    private static readonly HashSet<string> ClauseOrPhrase = ["as", "since", "after", "before", "until", "till", "once"];
    private static readonly HashSet<string> Demonstratives = ["this", "that", "these", "those"];
    private static readonly HashSet<string> Symbols = ["$", "%", "#", "+", "=", "<", ">", "&", "@", "*", "/", "§", "£", "€"];

    private static bool IsNominal(string t) => t is "nn" or "nns" or "nnp" or "nnps" or "jj" or "jjr" or "jjs" or "cd" or "vbg" or "vbn" or "dt" or "prp";

    private static bool IsVerb(string t) => t.StartsWith("vb", StringComparison.Ordinal);

    public static string[] Map(IReadOnlyList<string> words, IReadOnlyList<string> penn)
    {
        ArgumentNullException.ThrowIfNull(words);
        ArgumentNullException.ThrowIfNull(penn);
        int n = words.Count;
        var u = new string[n];
        string Next(int i) => i + 1 < n ? penn[i + 1] : "";
        for (int i = 0; i < n; i++)
        {
            string w = words[i].ToLowerInvariant(), t = penn[i];
            u[i] = t switch
            {
                "punc" => Symbols.Contains(w) ? (w == "&" ? "CCONJ" : "SYM") : w.Any(char.IsLetterOrDigit) ? "X" : "PUNCT",
                "nn" or "nns" => "NOUN",
                "nnp" or "nnps" => char.IsUpper(words[i][0]) || !words[i].Any(char.IsLetter) ? "PROPN" : "NOUN",
                "dt" => Demonstratives.Contains(w) && !IsNominal(Next(i)) ? "PRON" : "DET",
                "pdt" => w == "such" ? "ADJ" : "DET",
                "wdt" => IsNominal(Next(i)) && Next(i) is not ("dt" or "prp" or "vbg" or "vbn") && w != "that" ? "DET" : w is "whatever" or "whichever" ? "DET" : "PRON",
                "in" => Subordinators.Contains(w) || Next(i) == "vbg" || (ClauseOrPhrase.Contains(w) && Next(i) is "prp" or "ex" or "vbd" or "vbz" or "md" or "vbp") ? "SCONJ" : "ADP",
                "of" => Next(i) == "vbg" ? "SCONJ" : "ADP",
                "to" => IsVerb(Next(i)) && Next(i) != "vbg" ? "PART" : Next(i) == "vbg" ? "SCONJ" : "ADP",
                "jj" or "jjr" or "jjs" => "ADJ",
                "cd" => "NUM",
                "rb" or "rbr" or "rbs" => w is "not" or "n't" ? "PART" : "ADV",
                "rp" => "ADP",
                "md" => "AUX",
                "prp" or "wp" or "ex" => "PRON",
                "wrb" => "ADV",
                "cc" => "CCONJ",
                "pos" => "PART",
                "uh" => "INTJ",
                "sym" => "SYM",
                "fw" or "ls" => "X",
                _ when IsVerb(t) => VerbOrAux(words, penn, i, w),
                _ => "X",
            };
        }
        return u;
    }

    private static string VerbOrAux(IReadOnlyList<string> words, IReadOnlyList<string> penn, int i, string w)
    {
        if (Be.Contains(w))
        {
            // Existential "there is": the verb is the main predicate.
            for (int j = i - 1; j >= Math.Max(0, i - 2); j--)
            {
                if (penn[j] == "ex") return "VERB";
                if (penn[j] is not ("rb" or "md")) break;
            }
            return "AUX";
        }
        if (Have.Contains(w) || Do.Contains(w))
        {
            // An auxiliary when a verb of its clause follows, past adverbs, "not" and an inverted subject.
            for (int j = i + 1; j < Math.Min(penn.Count, i + 5); j++)
            {
                string t = penn[j];
                if (IsVerb(t)) return Have.Contains(w) ? (t is "vbn" or "vbd" ? "AUX" : "VERB") : (t == "vb" ? "AUX" : "VERB");
                if (t is not ("rb" or "prp" or "ex")) break;
            }
        }
        return "VERB";
    }
}
