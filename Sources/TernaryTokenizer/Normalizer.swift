/// Text changes before pre-tokenization (Hugging Face `normalizer`): SentencePiece-style
/// tokenizers turn spaces into "▁" and prepend one. (Unicode NFC/NFKC normalizers are refused by
/// the loader: without ICU this engine has no normalization tables.)
indirect enum Normalizer: Sendable {
    case prepend(String)
    case replace(String, with: String)
    case lowercase
    case sequence([Normalizer])

    func apply(_ text: String) -> String {
        switch self {
        case let .prepend(prefix): return text.isEmpty ? text : prefix + text
        case let .replace(pattern, replacement): return pattern.isEmpty ? text : text.replacing(pattern, with: replacement)
        case .lowercase: return text.lowercased()
        case let .sequence(steps): return steps.reduce(text) { $1.apply($0) }
        }
    }
}
