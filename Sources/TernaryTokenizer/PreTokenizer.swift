/// Splits normalized text into the words that BPE encodes separately (Hugging Face
/// `pre_tokenizer`). Byte-level tokenizers split with a regex (GPT-2's, Llama 3's; both as
/// hand-written scanners, which are exact and fast) and map bytes to printable characters;
/// SentencePiece-style ones keep the text whole.
indirect enum PreTokenizer: Sendable {
    /// Split on a pattern, keeping every piece (HF `Split` with behavior `Isolated`).
    case split(SplitPattern)
    /// HF `ByteLevel`: optionally a leading space and GPT-2's regex, then bytes → characters.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    /// HF `Digits`: digits apart from the rest, one by one if `individual`.
    case digits(individual: Bool)
    /// HF `Metaspace`: spaces → `replacement`, prepended per `prependFirst`, split before each.
    case metaspace(replacement: Character, prepend: Bool, split: Bool)
    case sequence([PreTokenizer])

    /// The words of `text`, in order (byte-level words already mapped to byte-level characters).
    func split(_ text: String) -> [String] {
        apply([text], first: true)
    }

    private func apply(_ words: [String], first: Bool) -> [String] {
        switch self {
        case let .split(pattern):
            return words.flatMap { pattern.split($0) }
        case let .byteLevel(addPrefixSpace, useRegex):
            return words.enumerated().flatMap { index, word -> [String] in
                var w = word
                if addPrefixSpace, !w.hasPrefix(" "), index == 0 { w = " " + w }
                let pieces = useRegex ? SplitPattern.gpt2.split(w) : [w]
                return pieces.map(ByteLevel.encode)
            }
        case let .digits(individual):
            return words.flatMap { Self.digitRuns($0, individual: individual) }
        case let .metaspace(replacement, prepend, split):
            return words.enumerated().flatMap { index, word -> [String] in
                var w = word.replacing(" ", with: String(replacement))
                if prepend, index == 0, first, !w.hasPrefix(String(replacement)), !w.isEmpty { w = String(replacement) + w }
                guard split else { return [w] }
                var out: [String] = [], current = ""
                for c in w {
                    if c == replacement, !current.isEmpty { out.append(current); current = "" }
                    current.append(c)
                }
                if !current.isEmpty { out.append(current) }
                return out
            }
        case let .sequence(steps):
            return steps.reduce(words) { $1.apply($0, first: first) }
        }
    }

    static func digitRuns(_ text: String, individual: Bool) -> [String] {
        var out: [String] = [], current = "", inDigits = false
        for scalar in text.unicodeScalars {
            let digit = scalar.properties.numericType == .decimal
            if digit && individual {
                if !current.isEmpty { out.append(current); current = "" }
                out.append(String(scalar))
                inDigits = false
                continue
            }
            if !current.isEmpty && digit != inDigits { out.append(current); current = "" }
            inDigits = digit
            current.unicodeScalars.append(scalar)
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}

/// A split pattern: the two regexes byte-level models use, as scanners, or any regex.
enum SplitPattern: @unchecked Sendable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3
    /// Any other regex (Swift's engine), with its source: matches and the text between them are all pieces.
    case regex(Regex<AnyRegexOutput>, source: String)
    /// A literal string.
    case literal(String)

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The scanner for a known regex, else the regex compiled (nil if Swift cannot compile it).
    static func make(regex pattern: String) -> SplitPattern? {
        switch pattern {
        case gpt2Pattern: return .gpt2
        case llama3Pattern: return .llama3
        default: return (try? Regex(pattern)).map { .regex($0, source: pattern) }
        }
    }

    func split(_ text: String) -> [String] {
        switch self {
        case .gpt2:
            let scalars = Array(text.unicodeScalars)
            return GPT2Scanner.split(scalars).map { String(String.UnicodeScalarView(scalars[$0])) }
        case .llama3:
            let scalars = Array(text.unicodeScalars)
            return Llama3Scanner.split(scalars).map { String(String.UnicodeScalarView(scalars[$0])) }
        case let .regex(regex, _):
            var out: [String] = []
            var last = text.startIndex
            for match in text.matches(of: regex) where !match.range.isEmpty {
                if last < match.range.lowerBound { out.append(String(text[last..<match.range.lowerBound])) }
                out.append(String(text[match.range]))
                last = match.range.upperBound
            }
            if last < text.endIndex { out.append(String(text[last...])) }
            return out
        case let .literal(separator):
            guard !separator.isEmpty else { return [text] }
            var out: [String] = []
            var rest = Substring(text)
            while let r = rest.firstRange(of: separator) {
                if rest.startIndex < r.lowerBound { out.append(String(rest[..<r.lowerBound])) }
                out.append(separator)
                rest = rest[r.upperBound...]
            }
            if !rest.isEmpty { out.append(String(rest)) }
            return out
        }
    }
}

/// Character classes of the byte-level regexes (`\s` is Unicode White_Space, as in the Rust and
/// llama.cpp regex engines).
enum CharacterClass {
    @inline(__always) static func isLetter(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x80 { return (s.value | 0x20) >= 0x61 && (s.value | 0x20) <= 0x7A }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    @inline(__always) static func isNumber(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x80 { return s.value >= 0x30 && s.value <= 0x39 }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    @inline(__always) static func isSpace(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x80 { return s.value == 0x20 || (s.value >= 0x09 && s.value <= 0x0D) }
        return s.properties.isWhitespace
    }

    @inline(__always) static func isNewline(_ s: Unicode.Scalar) -> Bool { s == "\r" || s == "\n" }
}

/// Llama 3's pre-tokenizer regex as a scanner over Unicode scalars (alternatives tried in order at
/// each position, as the regex does).
enum Llama3Scanner {
    typealias C = CharacterClass

    static func split(_ text: [Unicode.Scalar]) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        let n = text.count
        var i = 0
        while i < n {
            let end = match(text, at: i)
            pieces.append(i..<end)
            i = end
        }
        return pieces
    }

    /// The end of the match at `i` (always > i).
    static func match(_ t: [Unicode.Scalar], at i: Int) -> Int {
        let n = t.count, c = t[i]
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if c == "'", i + 1 < n {
            let a = lower(t[i + 1])
            if a == "s" || a == "t" || a == "m" || a == "d" { return i + 2 }
            if i + 2 < n {
                let b = lower(t[i + 2])
                if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return i + 3 }
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !C.isNewline(c), !C.isLetter(c), !C.isNumber(c), i + 1 < n, C.isLetter(t[i + 1]) {
            var j = i + 2
            while j < n, C.isLetter(t[j]) { j += 1 }
            return j
        }
        if C.isLetter(c) {
            var j = i + 1
            while j < n, C.isLetter(t[j]) { j += 1 }
            return j
        }
        // \p{N}{1,3}
        if C.isNumber(c) {
            var j = i + 1
            while j < n, j < i + 3, C.isNumber(t[j]) { j += 1 }
            return j
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        let body = c == " " ? i + 1 : i
        if body < n, !C.isSpace(t[body]), !C.isLetter(t[body]), !C.isNumber(t[body]) {
            var j = body + 1
            while j < n, !C.isSpace(t[j]), !C.isLetter(t[j]), !C.isNumber(t[j]) { j += 1 }
            while j < n, C.isNewline(t[j]) { j += 1 }
            return j
        }
        // Whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+
        var run = i
        while run < n, C.isSpace(t[run]) { run += 1 }
        if run > i {
            var last = -1
            for k in i..<run where C.isNewline(t[k]) { last = k }
            if last >= 0 { return last + 1 }
            if run == n || run - i == 1 { return run == n ? run : i + 1 }
            return run - 1
        }
        return i + 1
    }

    @inline(__always) static func lower(_ s: Unicode.Scalar) -> Unicode.Scalar {
        s.value >= 0x41 && s.value <= 0x5A ? Unicode.Scalar(s.value + 0x20)! : s
    }
}
