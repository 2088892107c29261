import TernaryFormat

/// Hugging Face tokenizer.json components ↔ the pipeline types. A packed file stores them in the
/// same JSON shapes, so one reader serves both.
extension Normalizer {
    init?(huggingFace json: JSONValue, source: String) throws {
        if json.isNull { return nil }
        let type = json["type"]?.string ?? "?"
        switch type {
        case "Sequence":
            guard case let .array(items)? = json["normalizers"] else { throw Self.bad(source, "Sequence needs 'normalizers'") }
            self = .sequence(try items.compactMap { try Normalizer(huggingFace: $0, source: source) })
        case "Prepend":
            guard let prefix = json["prepend"]?.string else { throw Self.bad(source, "Prepend needs 'prepend'") }
            self = .prepend(prefix)
        case "Replace":
            guard let pattern = json["pattern"]?["String"]?.string, let content = json["content"]?.string else {
                throw Self.bad(source, "Replace needs a String pattern and 'content' (regex patterns are not supported)")
            }
            self = .replace(pattern, with: content)
        case "Lowercase":
            self = .lowercase
        default:
            throw Self.bad(source, "normalizer type '\(type)' is not supported (supported: Sequence, Prepend, Replace, Lowercase)")
        }
    }

    static func bad(_ source: String, _ reason: String) -> TokenizerError { .malformedVocab(source: source, reason: "normalizer: \(reason)") }

    var json: JSONValue {
        switch self {
        case let .prepend(prefix): .object([("type", .string("Prepend")), ("prepend", .string(prefix))])
        case let .replace(pattern, content):
            .object([("type", .string("Replace")), ("pattern", .object([("String", .string(pattern))])), ("content", .string(content))])
        case .lowercase: .object([("type", .string("Lowercase"))])
        case let .sequence(steps): .object([("type", .string("Sequence")), ("normalizers", .array(steps.map(\.json)))])
        }
    }
}

extension PreTokenizer {
    init?(huggingFace json: JSONValue, source: String) throws {
        if json.isNull { return nil }
        func bad(_ reason: String) -> TokenizerError { .malformedVocab(source: source, reason: "pre_tokenizer: \(reason)") }
        let type = json["type"]?.string ?? "?"
        switch type {
        case "Sequence":
            guard case let .array(items)? = json["pretokenizers"] else { throw bad("Sequence needs 'pretokenizers'") }
            self = .sequence(try items.compactMap { try PreTokenizer(huggingFace: $0, source: source) })
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: json["add_prefix_space"]?.boolean ?? true, useRegex: json["use_regex"]?.boolean ?? true)
        case "Digits":
            self = .digits(individual: json["individual_digits"]?.boolean ?? false)
        case "Metaspace":
            let replacement = json["replacement"]?.string ?? "▁"
            guard replacement.count == 1 else { throw bad("Metaspace replacement must be one character") }
            let scheme = json["prepend_scheme"]?.string ?? ((json["add_prefix_space"]?.boolean ?? true) ? "always" : "never")
            guard ["first", "always", "never"].contains(scheme) else { throw bad("Metaspace prepend_scheme '\(scheme)' is not first, always or never") }
            self = .metaspace(replacement: replacement.first!, prepend: scheme != "never", split: json["split"]?.boolean ?? true)
        case "Split":
            let behavior = json["behavior"]?.string ?? "Isolated"
            guard behavior == "Isolated", json["invert"]?.boolean != true else {
                throw bad("Split with behavior '\(behavior)'\(json["invert"]?.boolean == true ? " inverted" : "") is not supported (only Isolated)")
            }
            if let regex = json["pattern"]?["Regex"]?.string {
                guard let pattern = SplitPattern.make(regex: regex) else { throw bad("Split regex \(JSONValue.string(regex).serialized()) does not compile") }
                self = .split(pattern)
            } else if let literal = json["pattern"]?["String"]?.string {
                self = .split(.literal(literal))
            } else {
                throw bad("Split needs a pattern {\"Regex\": …} or {\"String\": …}")
            }
        default:
            throw bad("type '\(type)' is not supported (supported: Sequence, ByteLevel, Split, Digits, Metaspace)")
        }
    }

    /// Whether the pipeline maps words to GPT-2's byte characters (so BPE runs byte-level).
    var isByteLevel: Bool {
        switch self {
        case .byteLevel: true
        case let .sequence(steps): steps.contains(where: \.isByteLevel)
        default: false
        }
    }

    var json: JSONValue {
        switch self {
        case let .split(pattern):
            let p: JSONValue
            switch pattern {
            case .gpt2: p = .object([("Regex", .string(SplitPattern.gpt2Pattern))])
            case .llama3: p = .object([("Regex", .string(SplitPattern.llama3Pattern))])
            case let .regex(_, source): p = .object([("Regex", .string(source))])
            case let .literal(s): p = .object([("String", .string(s))])
            }
            return .object([("type", .string("Split")), ("pattern", p), ("behavior", .string("Isolated")), ("invert", .bool(false))])
        case let .byteLevel(addPrefixSpace, useRegex):
            return .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(addPrefixSpace)), ("use_regex", .bool(useRegex))])
        case let .digits(individual):
            return .object([("type", .string("Digits")), ("individual_digits", .bool(individual))])
        case let .metaspace(replacement, prepend, split):
            return .object([("type", .string("Metaspace")), ("replacement", .string(String(replacement))),
                            ("prepend_scheme", .string(prepend ? "first" : "never")), ("split", .bool(split))])
        case let .sequence(steps):
            return .object([("type", .string("Sequence")), ("pretokenizers", .array(steps.map(\.json)))])
        }
    }
}
