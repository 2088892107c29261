public enum ModelError: Error, CustomStringConvertible {
    case unknownArchitecture(path: String, found: String, known: [String])
    case badConfig(path: String, reason: String)
    case tokenOutOfRange(token: Int, vocabularySize: Int)
    case contextFull(needed: Int, contextLength: Int)
    case noTokenizer(path: String)
    case foreignMemory(architecture: String)
    case sharedMemory(step: Int)

    public var description: String {
        switch self {
        case let .unknownArchitecture(path, found, known):
            "'\(path)' is for architecture '\(found)', which this build does not run (known: \(known.joined(separator: ", ")))"
        case let .badConfig(path, reason): "'\(path)': bad model config: \(reason)"
        case let .tokenOutOfRange(token, size): "token id \(token) is outside the vocabulary (0..<\(size))"
        case let .contextFull(needed, length):
            "the sequence needs \(needed) positions but its context holds \(length); use a shorter prompt or fewer tokens (-n)"
        case let .noTokenizer(path): "'\(path)' carries no tokenizer; re-pack it with a tokenizer (see `ternary pack --help`)"
        case let .foreignMemory(architecture):
            "a sequence memory was not made by this \(architecture) model's makeMemory(); each model runs on its own memories"
        case let .sharedMemory(step): "forward step \(step) uses a memory that an earlier step of the same call uses; give each sequence its own"
        }
    }
}
