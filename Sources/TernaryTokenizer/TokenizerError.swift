public enum TokenizerError: Error, CustomStringConvertible {
    case missingFile(path: String)
    case malformedVocab(source: String, reason: String)
    case malformedMerges(source: String, line: Int, reason: String)
    case unknownTokenID(Int)
    case noTokenizer(directory: String)

    /// What is wrong, without the file's name (for a caller whose message already names it).
    public var reason: String {
        switch self {
        case let .malformedVocab(_, reason): reason
        case let .malformedMerges(_, line, reason): "merge \(line): \(reason)"
        default: description
        }
    }

    public var description: String {
        switch self {
        case let .missingFile(path): "tokenizer file '\(path)' does not exist"
        case let .malformedVocab(source, reason): "the vocabulary in \(source) is malformed: \(reason)"
        case let .malformedMerges(source, line, reason): "the merges in \(source), line \(line), are malformed: \(reason)"
        case let .unknownTokenID(id): "token id \(id) is not in the vocabulary"
        case let .noTokenizer(directory):
            "no tokenizer in '\(directory)': expected vocab.json + merges.txt, encoder.json + vocab.bpe, or tokenizer.json"
        }
    }
}
