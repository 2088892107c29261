import TernaryFormat

/// How a packed file stores its tokenizer (docs/FORMAT.md, "Tokenizer"): a GPT-2 vocabulary as
/// `tokenizer.vocab` + `tokenizer.merges` (the original layout, which the Python exporter writes
/// too), anything else as one `tokenizer.spec` JSON object with the pipeline in Hugging Face's
/// component shapes and merges as id triples.
extension TokenizerSpec {
    public static let specModelName = "ternary-pipeline"

    /// Whether this is plain GPT-2 byte-level BPE (stored in the original two keys).
    var isPlainGPT2: Bool {
        guard case .byteLevel = symbols, case .byteLevel = decoding, priorities == nil, !ignoreMerges, normalizer == nil,
              prefix.isEmpty, suffix.isEmpty, chatTemplate == nil, added.count <= 1, added.allSatisfy({ $0.content == "<|endoftext|>" }),
              case let .byteLevel(addPrefixSpace, useRegex)? = preTokenizer, !addPrefixSpace, useRegex else { return false }
        return kinds.enumerated().allSatisfy { $1 == .normal || pieces[$0] == "<|endoftext|>" }
    }

    /// Metadata entries of a packed file.
    public var metadata: [String: String] {
        if isPlainGPT2 {
            return [
                "tokenizer.model": "gpt2-bpe",
                "tokenizer.vocab": JSONValue.object(pieces.enumerated().map { ($1, .int($0)) }).serialized(),
                "tokenizer.merges": merges.map { pieces[Int($0.0)] + " " + pieces[Int($0.1)] }.joined(separator: "\n"),
            ]
        }
        return ["tokenizer.model": Self.specModelName, "tokenizer.spec": json.serialized()]
    }

    /// Reads what `metadata` wrote (nil when the file has no tokenizer).
    public init?(metadata: [String: String], source: String) throws {
        let keys = Set(metadata.keys.filter { $0.hasPrefix("tokenizer.") })
        if keys.isEmpty { return nil }
        let expected: Set<String> = switch metadata["tokenizer.model"] {
        case "gpt2-bpe": ["tokenizer.model", "tokenizer.vocab", "tokenizer.merges"]
        case Self.specModelName: ["tokenizer.model", "tokenizer.spec"]
        default: throw TokenizerError.malformedVocab(
            source: source, reason: "tokenizer.model is \(metadata["tokenizer.model"].map { "'\($0)'" } ?? "missing"), expected gpt2-bpe or \(Self.specModelName)")
        }
        guard keys == expected else {
            throw TokenizerError.malformedVocab(source: source, reason: "the tokenizer keys are \(keys.sorted()), expected \(expected.sorted())")
        }
        if let spec = metadata["tokenizer.spec"] {
            let value: JSONValue
            do { value = try JSONParser().parse(spec) } catch { throw TokenizerError.malformedVocab(source: source, reason: "tokenizer.spec is not valid JSON: \(error)") }
            try self.init(stored: value, source: source)
            // The stored form is exactly what `metadata` writes: no key missing, extra or of
            // another type (a reader that coerced them would see a different tokenizer).
            guard case let .object(stored) = value, case let .object(written) = json else { throw TokenizerError.malformedVocab(source: source, reason: "tokenizer.spec is not an object") }
            let writtenKeys = Dictionary(written, uniquingKeysWith: { a, _ in a })
            for (key, found) in stored.sorted(by: { $0.0 < $1.0 }) where writtenKeys[key]?.serialized() != found.serialized() {
                throw TokenizerError.malformedVocab(source: source, reason: writtenKeys[key] == nil
                    ? "tokenizer.spec has '\(key)', which is no key of the stored form" : "tokenizer.spec '\(key)' is not in the stored form (\(String(found.serialized().prefix(80))))")
            }
            if let missing = written.map(\.0).first(where: { key in !stored.contains { $0.0 == key } }) {
                throw TokenizerError.malformedVocab(source: source, reason: "tokenizer.spec lacks '\(missing)'")
            }
            return
        }
        let vocabText = metadata["tokenizer.vocab"]!, mergesText = metadata["tokenizer.merges"]!
        self = try .gpt2(vocabulary: try Self.vocabulary(json: vocabText, source: source), merges: Self.mergeLines(mergesText), source: source)
        // As written: canonical vocabulary JSON, one "left right" merge per line, nothing else.
        let written = self.metadata
        guard isPlainGPT2, written["tokenizer.vocab"] == vocabText else {
            throw TokenizerError.malformedVocab(source: source, reason: "tokenizer.vocab is not canonical JSON of a GPT-2 vocabulary with ids 0…n−1")
        }
        guard written["tokenizer.merges"] == mergesText else {
            throw TokenizerError.malformedVocab(source: source, reason: "tokenizer.merges is not one 'left right' merge per line joined by \\n (no blank lines, CR or #version)")
        }
    }

    /// A vocabulary JSON object (token → id).
    public static func vocabulary(json text: some Collection<UInt8>, source: String) throws -> [String: Int] {
        let value: JSONValue
        do { value = try JSONParser().parse(text) } catch { throw TokenizerError.malformedVocab(source: source, reason: "not valid JSON: \(error)") }
        guard case let .object(pairs) = value else { throw TokenizerError.malformedVocab(source: source, reason: "not a JSON object of token → integer id") }
        var vocabulary = [String: Int](minimumCapacity: pairs.count)
        for (piece, id) in pairs {
            guard let id = id.integer else { throw TokenizerError.malformedVocab(source: source, reason: "the id of '\(piece)' is not an integer") }
            vocabulary[piece] = id
        }
        return vocabulary
    }

    public static func vocabulary(json text: String, source: String) throws -> [String: Int] {
        try vocabulary(json: Array(text.utf8), source: source)
    }

    /// Merge lines without the `#version` header or blank lines, LF or CRLF (Swift reads "\r\n" as one
    /// Character, so splitting on "\n" alone would keep a CRLF file as one line).
    public static func mergeLines(_ text: String) -> [String] {
        text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline)
            .map(String.init)
            .filter { !$0.hasPrefix("#version") }
    }

    var json: JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("pieces", .array(pieces.map { .string($0) })),
            ("kinds", .array(kinds.map { .int($0.rawValue) })),
            ("merges", .array(merges.flatMap { [JSONValue.int(Int($0.0)), .int(Int($0.1)), .int(Int($0.2))] })),
            ("ignore_merges", .bool(ignoreMerges)),
            ("normalizer", normalizer?.json ?? .null),
            ("pre_tokenizer", preTokenizer?.json ?? .null),
            ("strip_leading_space", .bool(stripsLeadingSpace)),
            ("added", .array(added.map { .object([("content", .string($0.content)), ("id", .int($0.id)), ("special", .bool($0.special)),
                                                   ("lstrip", .bool($0.lstrip)), ("rstrip", .bool($0.rstrip))]) })),
            ("prefix", .array(prefix.map { .int($0) })),
            ("suffix", .array(suffix.map { .int($0) })),
            ("bos", bos.map { .int($0) } ?? .null),
            ("eos", eos.map { .int($0) } ?? .null),
            ("stop", .array(stopTokens.sorted().map { .int($0) })),
            ("chat_template", chatTemplate.map { .string($0) } ?? .null),
        ]
        if let priorities { pairs.append(("priorities", .array(priorities.map { .double(Double($0)) }))) }
        switch symbols {
        case .byteLevel: pairs.append(("symbols", .string("byte-level")))
        case let .characters(byteFallback, unknown):
            pairs.append(("symbols", .string("characters")))
            pairs.append(("byte_fallback", .bool(byteFallback)))
            pairs.append(("unknown", unknown.map { .int($0) } ?? .null))
        }
        switch decoding {
        case .byteLevel: pairs.append(("decoding", .object([("type", .string("byte-level"))])))
        case let .pieces(space): pairs.append(("decoding", .object([("type", .string("pieces")), ("space", .string(space))])))
        }
        return .object(pairs)
    }

    init(stored json: JSONValue, source: String) throws {
        func bad(_ reason: String) -> TokenizerError { .malformedVocab(source: source, reason: "tokenizer.spec: \(reason)") }
        func ints(_ key: String) throws -> [Int] {
            guard case let .array(items)? = json[key] else { throw bad("'\(key)' must be an array of integers") }
            return try items.map { guard let i = $0.integer else { throw bad("'\(key)' must be an array of integers") }; return i }
        }
        guard case let .array(pieceValues)? = json["pieces"] else { throw bad("'pieces' must be an array of strings") }
        pieces = try pieceValues.map { guard let s = $0.string else { throw bad("'pieces' must be an array of strings") }; return s }
        kinds = try ints("kinds").map { guard let k = TokenKind(rawValue: $0) else { throw bad("unknown token kind \($0)") }; return k }
        guard kinds.count == pieces.count else { throw bad("\(kinds.count) kinds for \(pieces.count) pieces") }
        let flat = try ints("merges")
        guard flat.count % 3 == 0 else { throw bad("'merges' must hold (left, right, merged) triples") }
        merges = stride(from: 0, to: flat.count, by: 3).map { (Int32(clamping: flat[$0]), Int32(clamping: flat[$0 + 1]), Int32(clamping: flat[$0 + 2])) }
        if case let .array(values)? = json["priorities"] {
            priorities = try values.map { guard let d = $0.number else { throw bad("'priorities' must be numbers") }; return Float(d) }
            guard priorities!.count == merges.count else { throw bad("one priority per merge") }
        }
        ignoreMerges = json["ignore_merges"]?.boolean ?? false
        normalizer = try json["normalizer"].flatMap { try Normalizer(huggingFace: $0, source: source) }
        preTokenizer = try json["pre_tokenizer"].flatMap { try PreTokenizer(huggingFace: $0, source: source) }
        stripsLeadingSpace = json["strip_leading_space"]?.boolean ?? false
        guard case let .array(addedValues)? = json["added"] else { throw bad("'added' must be an array") }
        added = try addedValues.map { item in
            guard let content = item["content"]?.string, let id = item["id"]?.integer else { throw bad("added tokens need content and id") }
            return .init(content: content, id: id, special: item["special"]?.boolean ?? false, lstrip: item["lstrip"]?.boolean ?? false,
                         rstrip: item["rstrip"]?.boolean ?? false)
        }
        prefix = try ints("prefix")
        suffix = try ints("suffix")
        bos = json["bos"]?.integer
        eos = json["eos"]?.integer
        stopTokens = Set(try ints("stop"))
        chatTemplate = json["chat_template"]?.string
        switch json["symbols"]?.string {
        case "byte-level": symbols = .byteLevel
        case "characters": symbols = .characters(byteFallback: json["byte_fallback"]?.boolean ?? false, unknown: json["unknown"]?.integer)
        default: throw bad("'symbols' must be byte-level or characters")
        }
        switch json["decoding"]?["type"]?.string {
        case "byte-level": decoding = .byteLevel
        case "pieces": decoding = .pieces(spaceSymbol: json["decoding"]?["space"]?.string ?? "")
        default: throw bad("'decoding' must be byte-level or pieces")
        }
    }
}
