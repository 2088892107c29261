import TernaryFormat

extension TokenizerSpec {
    /// Names of end-of-turn tokens that end a generation when the vocabulary has them as special
    /// tokens (as llama.cpp's end-of-generation set).
    static let endOfTurnNames: Set<String> = [
        "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|end|>", "</s>",
    ]

    /// Stop tokens: the end-of-turn specials the vocabulary has.
    mutating func addEndOfTurnStops() {
        for (id, piece) in pieces.enumerated() where kinds[id] == .control && Self.endOfTurnNames.contains(piece) { stopTokens.insert(id) }
    }

    /// GPT-2's byte-level BPE from OpenAI's encoder.json + vocab.bpe or HF's vocab.json + merges.txt.
    public static func gpt2(vocabulary: [String: Int], merges: [String], source: String) throws -> TokenizerSpec {
        let pieces = try denseVocabulary(vocabulary, source: source)
        let index = Self.index(pieces)
        if merges.isEmpty, pieces.count > 256 {
            throw TokenizerError.malformedMerges(source: source, line: 0, reason: "no merges for a vocabulary of \(pieces.count) tokens; the file is empty or not a merges file")
        }
        var kinds = [TokenKind](repeating: .normal, count: pieces.count)
        var added: [TextTokenizer.AddedToken] = []
        var eot: Int?
        if let id = index.id("<|endoftext|>") {
            kinds[Int(id)] = .control
            added.append(.init(content: "<|endoftext|>", id: Int(id), special: true))
            eot = Int(id)
        }
        return TokenizerSpec(
            pieces: pieces, kinds: kinds, merges: try Self.merges(lines: merges, index: index, source: source), priorities: nil, symbols: .byteLevel,
            normalizer: nil, preTokenizer: .byteLevel(addPrefixSpace: false, useRegex: true), decoding: .byteLevel, added: added,
            bos: eot, eos: eot, stopTokens: eot.map { [$0] } ?? [], pieceIndex: index)
    }

    /// Pieces by id from a piece → id map whose ids must be exactly 0..<count.
    static func denseVocabulary(_ vocabulary: [String: Int], source: String) throws -> [String] {
        guard !vocabulary.isEmpty else { throw TokenizerError.malformedVocab(source: source, reason: "the vocabulary is empty") }
        var pieces = [String?](repeating: nil, count: vocabulary.count)
        for (piece, id) in vocabulary {
            guard id >= 0, id < vocabulary.count else {
                throw TokenizerError.malformedVocab(source: source, reason: "token '\(piece)' has id \(id); ids must be 0..<\(vocabulary.count), one per token")
            }
            guard pieces[id] == nil else { throw TokenizerError.malformedVocab(source: source, reason: "id \(id) is given to two tokens") }
            pieces[id] = piece
        }
        return pieces.map { $0! }
    }

    /// A Hugging Face tokenizer.json (and tokenizer_config.json, if given): BPE models with any of
    /// the supported normalizers, pre-tokenizers, post-processors and decoders.
    public init(huggingFace json: JSONValue, config: JSONValue?, source: String) throws {
        func bad(_ reason: String) -> TokenizerError { .malformedVocab(source: source, reason: reason) }
        guard case .object = json, let model = json["model"] else { throw bad("expected an object with a 'model'") }
        let modelType = model["type"]?.string ?? "BPE"
        guard modelType == "BPE" else { throw bad("model type '\(modelType)' is not supported (only BPE)") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] where !(model[key]?.isNull ?? true) {
            throw bad("model.\(key) is not supported")
        }
        guard case let .object(vocabPairs)? = model["vocab"] else { throw bad("model.vocab must be an object of token → id") }
        var vocabulary = [String: Int](minimumCapacity: vocabPairs.count + 256)
        for (piece, id) in vocabPairs {
            guard let id = id.integer else { throw bad("model.vocab['\(piece)'] must be an integer id") }
            vocabulary[piece] = id
        }
        var addedTokens: [TextTokenizer.AddedToken] = []
        if case let .array(items)? = json["added_tokens"] {
            for item in items {
                guard let content = item["content"]?.string, let id = item["id"]?.integer else { throw bad("added_tokens entries need 'content' and an integer 'id'") }
                addedTokens.append(.init(content: content, id: id, special: item["special"]?.boolean ?? false,
                                         lstrip: item["lstrip"]?.boolean ?? false, rstrip: item["rstrip"]?.boolean ?? false))
                if let existing = vocabulary[content], existing != id { throw bad("added token '\(content)' has id \(id) but the vocabulary gives it \(existing)") }
                vocabulary[content] = id
            }
        }
        pieces = try Self.denseVocabulary(vocabulary, source: source)
        let index = Self.index(pieces)
        pieceIndex = index
        guard case let .array(mergeItems)? = model["merges"] else { throw bad("model.merges must be an array") }
        if mergeItems.allSatisfy({ $0.string != nil }) {
            merges = try Self.merges(lines: mergeItems.map { $0.string! }, index: index, source: source)
        } else {
            merges = try Self.merges(try mergeItems.enumerated().map { n, item in
                guard case let .array(pair) = item, pair.count == 2, let l = pair[0].string, let r = pair[1].string else {
                    throw TokenizerError.malformedMerges(source: source, line: n + 1, reason: "a merge is \"left right\" or [left, right]")
                }
                return (l, r)
            }, index: index, source: source)
        }
        priorities = nil
        normalizer = try json["normalizer"].flatMap { try Normalizer(huggingFace: $0, source: source) }
        preTokenizer = try json["pre_tokenizer"].flatMap { try PreTokenizer(huggingFace: $0, source: source) }
        let byteFallback = model["byte_fallback"]?.boolean ?? false
        var unknown: Int?
        if let unk = model["unk_token"]?.string {
            guard let id = index.id(unk) else { throw bad("model.unk_token '\(unk)' is not in the vocabulary") }
            unknown = Int(id)
        }
        symbols = preTokenizer?.isByteLevel == true ? .byteLevel : .characters(byteFallback: byteFallback, unknown: unknown)
        ignoreMerges = model["ignore_merges"]?.boolean ?? false
        kinds = [TokenKind](repeating: .normal, count: pieces.count)
        for token in addedTokens { kinds[token.id] = token.special ? .control : .userDefined }
        if byteFallback { for (id, piece) in pieces.enumerated() where TextTokenizer.byteValue(piece) != nil { kinds[id] = .byte } }
        if let unknown { kinds[unknown] = .unknown }
        added = addedTokens
        (decoding, stripsLeadingSpace) = try Self.decoding(json["decoder"], source: source)
        // BOS / EOS: tokenizer_config.json names them; the post-processor adds them.
        func tokenID(_ key: String) throws -> Int? {
            guard let value = config?[key], !value.isNull else { return nil }
            guard let content = value.string ?? value["content"]?.string else { throw bad("tokenizer_config.json: \(key) must be a string or {\"content\": …}") }
            guard let id = index.id(content) else { throw bad("tokenizer_config.json: \(key) '\(content)' is not in the vocabulary") }
            return Int(id)
        }
        bos = try tokenID("bos_token")
        eos = try tokenID("eos_token")
        (prefix, suffix) = try Self.template(json["post_processor"], index: index, source: source)
        if json["post_processor"]?.isNull ?? true {
            if config?["add_bos_token"]?.boolean == true, let bos { prefix = [bos] }
            if config?["add_eos_token"]?.boolean == true, let eos { suffix = [eos] }
        }
        if bos == nil, let first = prefix.first { bos = first }
        if let template = config?["chat_template"] {
            if let text = template.string {
                chatTemplate = text
            } else if case let .array(named) = template {
                chatTemplate = named.first { $0["name"]?.string == "default" }?["template"]?.string ?? named.first?["template"]?.string
            }
        }
        addEndOfTurnStops()
    }

    /// HF decoders → how pieces become bytes, and whether the leading space is stripped.
    static func decoding(_ json: JSONValue?, source: String) throws -> (TextTokenizer.Decoding, Bool) {
        guard let json, !json.isNull else { return (.pieces(spaceSymbol: ""), false) }
        let steps: [JSONValue]
        if json["type"]?.string == "Sequence", case let .array(items)? = json["decoders"] { steps = items } else { steps = [json] }
        var decoding: TextTokenizer.Decoding = .pieces(spaceSymbol: ""), strip = false
        for step in steps {
            switch step["type"]?.string ?? "?" {
            case "ByteLevel": decoding = .byteLevel
            case "Replace":
                guard let pattern = step["pattern"]?["String"]?.string, step["content"]?.string == " " else {
                    throw TokenizerError.malformedVocab(source: source, reason: "decoder: only Replace(<symbol> → \" \") is supported")
                }
                decoding = .pieces(spaceSymbol: pattern)
            case "Metaspace":
                decoding = .pieces(spaceSymbol: step["replacement"]?.string ?? "▁")
                let scheme = step["prepend_scheme"]?.string ?? ((step["add_prefix_space"]?.boolean ?? true) ? "always" : "never")
                strip = scheme != "never"
            case "Strip":
                strip = step["content"]?.string == " " && (step["start"]?.integer ?? 0) >= 1
            case "ByteFallback", "Fuse": break
            case let other:
                throw TokenizerError.malformedVocab(source: source, reason: "decoder type '\(other)' is not supported (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)")
            }
        }
        return (decoding, strip)
    }

    /// HF post-processors → tokens around a single sequence (TemplateProcessing's `single`).
    static func template(_ json: JSONValue?, index: PieceIndex, source: String) throws -> ([Int], [Int]) {
        guard let json, !json.isNull else { return ([], []) }
        switch json["type"]?.string ?? "?" {
        case "ByteLevel": return ([], [])
        case "Sequence":
            guard case let .array(items)? = json["processors"] else { return ([], []) }
            var prefix: [Int] = [], suffix: [Int] = []
            for item in items {
                let (p, s) = try template(item, index: index, source: source)
                prefix += p
                suffix += s
            }
            return (prefix, suffix)
        case "TemplateProcessing":
            guard case let .array(single)? = json["single"] else { return ([], []) }
            var prefix: [Int] = [], suffix: [Int] = [], seenSequence = false
            for piece in single {
                if piece["Sequence"] != nil { seenSequence = true; continue }
                guard let name = piece["SpecialToken"]?["id"]?.string else { continue }
                var ids: [Int] = []
                if case let .array(values)? = json["special_tokens"]?[name]?["ids"] { ids = values.compactMap(\.integer) }
                if ids.isEmpty, let id = index.id(name) { ids = [Int(id)] }
                if seenSequence { suffix += ids } else { prefix += ids }
            }
            return (prefix, suffix)
        case let other:
            throw TokenizerError.malformedVocab(source: source, reason: "post_processor type '\(other)' is not supported (TemplateProcessing, ByteLevel, Sequence)")
        }
    }
}

extension TokenizerSpec {
    /// Fills BOS/EOS from a model's config.json when the tokenizer files did not name them, and
    /// adds the end-of-turn ids generation_config.json lists (`eos_token_id` may be a list).
    public mutating func completeSpecialTokens(config: JSONValue?, generationConfig: JSONValue?) {
        func ids(_ value: JSONValue?) -> [Int] {
            switch value {
            case let .int(i)?: [i]
            case let .array(items)?: items.compactMap(\.integer)
            default: []
            }
        }
        let count = pieces.count
        func valid(_ id: Int) -> Bool { id >= 0 && id < count }
        if bos == nil, let id = ids(config?["bos_token_id"]).first, valid(id) { bos = id }
        if eos == nil, let id = ids(config?["eos_token_id"]).first, valid(id) { eos = id }
        for id in ids(config?["eos_token_id"]) + ids(generationConfig?["eos_token_id"]) where valid(id) { stopTokens.insert(id) }
        if let eos { stopTokens.insert(eos) }
    }
}
