import Foundation

extension BPETokenizer {
    /// Loads a GPT-2 tokenizer from a directory holding vocab.json + merges.txt (Hugging Face),
    /// encoder.json + vocab.bpe (OpenAI), or tokenizer.json.
    public static func load(directory: String) throws -> BPETokenizer {
        let fm = FileManager.default
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        for (vocab, merges) in [("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")]
        where fm.fileExists(atPath: path(vocab)) && fm.fileExists(atPath: path(merges)) {
            return try load(vocabJSON: path(vocab), mergesFile: path(merges))
        }
        if fm.fileExists(atPath: path("tokenizer.json")) { return try load(tokenizerJSON: path("tokenizer.json")) }
        throw TokenizerError.noTokenizer(directory: directory)
    }

    public static func load(vocabJSON: String, mergesFile: String) throws -> BPETokenizer {
        let vocab = try parseVocabulary(try readData(vocabJSON), source: vocabJSON)
        let text = String(decoding: try readData(mergesFile), as: UTF8.self)
        return try BPETokenizer(vocabulary: vocab, merges: parseMerges(text), source: mergesFile)
    }

    public static func load(tokenizerJSON: String) throws -> BPETokenizer {
        let data = try readData(tokenizerJSON)
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = root["model"] as? [String: Any], let vocabRaw = model["vocab"] as? [String: Any],
              let mergesRaw = model["merges"] as? [Any]
        else { throw TokenizerError.malformedVocab(source: tokenizerJSON, reason: "expected model.vocab and model.merges") }
        var vocab: [String: Int] = [:]
        for (k, v) in vocabRaw {
            guard let id = v as? Int else { throw TokenizerError.malformedVocab(source: tokenizerJSON, reason: "id of '\(k)' is not an integer") }
            vocab[k] = id
        }
        if let added = root["added_tokens"] as? [[String: Any]] {
            for token in added { if let content = token["content"] as? String, let id = token["id"] as? Int { vocab[content] = id } }
        }
        let merges: [String] = try mergesRaw.enumerated().map { index, item in
            if let s = item as? String { return s }
            if let pair = item as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            throw TokenizerError.malformedMerges(source: tokenizerJSON, line: index + 1, reason: "not a pair")
        }
        return try BPETokenizer(vocabulary: vocab, merges: merges, source: tokenizerJSON)
    }

    /// Parses a vocabulary JSON object (token → id).
    public static func parseVocabulary(_ data: Data, source: String) throws -> [String: Int] {
        guard let raw = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError.malformedVocab(source: source, reason: "not a JSON object of token → id")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(raw.count)
        for (k, v) in raw {
            guard let id = v as? Int else { throw TokenizerError.malformedVocab(source: source, reason: "id of '\(k)' is not an integer") }
            vocab[k] = id
        }
        return vocab
    }

    /// Merge lines without the `#version` header or blank lines.
    public static func parseMerges(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true)
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            .filter { !$0.hasPrefix("#version") && !$0.isEmpty }
    }

    private static func readData(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError.missingFile(path: path) }
        return data
    }
}
