/// GPT-2's pre-tokenizer, the regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// written as a scanner over Unicode scalars (`\s` is the Unicode White_Space property, as in
/// tiktoken's Rust regex engine).
enum GPT2Scanner {
    @inline(__always) static func isLetter(_ s: Unicode.Scalar) -> Bool { CharacterClass.isLetter(s) }
    @inline(__always) static func isNumber(_ s: Unicode.Scalar) -> Bool { CharacterClass.isNumber(s) }
    @inline(__always) static func isSpace(_ s: Unicode.Scalar) -> Bool { CharacterClass.isSpace(s) }

    /// Ranges of `text` (as scalar indices) that BPE encodes separately.
    static func split(_ text: [Unicode.Scalar]) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        let n = text.count
        var i = 0
        while i < n {
            let start = i
            let c = text[i]
            // Contractions.
            if c == "'", i + 1 < n {
                let a = text[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" {
                    pieces.append(i..<(i + 2)); i += 2; continue
                }
                if i + 2 < n {
                    let b = text[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                        pieces.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            // Optional space, then a run of one class.
            let body = (c == " " && i + 1 < n) ? i + 1 : i
            let first = text[body]
            if body == i || c == " " {
                if isLetter(first) {
                    var j = body + 1
                    while j < n, isLetter(text[j]) { j += 1 }
                    pieces.append(start..<j); i = j; continue
                }
                if isNumber(first) {
                    var j = body + 1
                    while j < n, isNumber(text[j]) { j += 1 }
                    pieces.append(start..<j); i = j; continue
                }
                if !isSpace(first) {
                    var j = body + 1
                    while j < n, !isSpace(text[j]), !isLetter(text[j]), !isNumber(text[j]) { j += 1 }
                    pieces.append(start..<j); i = j; continue
                }
            }
            // Whitespace: \s+(?!\S) leaves the last space for the next word; else \s+.
            var j = i
            while j < n, isSpace(text[j]) { j += 1 }
            if j < n, j - i > 1 { j -= 1 }
            pieces.append(i..<j)
            i = j
        }
        return pieces
    }
}

