public enum ConvertError: Error, CustomStringConvertible {
    case notADirectory(path: String)
    case missingConfig(directory: String)
    case badConfig(path: String, reason: String)
    case noWeights(directory: String)
    case unsupportedModelType(path: String, found: String, known: [String])
    case unsupportedDType(source: String, tensor: String, dtype: String)
    case unusedTensors(directory: String, names: [String])
    case untiedHead(directory: String)
    case badOption(option: String, value: String, expected: String)
    case nonFinite(tensor: String)

    public var description: String {
        switch self {
        case let .notADirectory(path): "'\(path)' is not a directory; pass a Hugging Face model directory (config.json + model.safetensors)"
        case let .missingConfig(directory): "'\(directory)' has no config.json; pass a Hugging Face model directory"
        case let .badConfig(path, reason): "'\(path)': \(reason)"
        case let .noWeights(directory):
            "'\(directory)' has no model.safetensors or model.safetensors.index.json; save the model with safe_serialization=True"
        case let .unsupportedModelType(path, found, known):
            "'\(path)': model_type '\(found)' cannot be packed yet (known: \(known.joined(separator: ", ")))"
        case let .unsupportedDType(source, tensor, dtype): "'\(source)': tensor '\(tensor)' has dtype \(dtype); the packer reads F32, F16 and BF16"
        case let .unusedTensors(directory, names):
            "'\(directory)' has tensors the packer does not know what to do with: \(names.prefix(8).joined(separator: ", "))\(names.count > 8 ? ", …" : ""); is this the right architecture?"
        case let .untiedHead(directory): "'\(directory)' has an lm_head.weight that differs from the token embeddings, but its config ties them"
        case let .badOption(option, value, expected): "\(option) \(value) is invalid: expected \(expected)"
        case let .nonFinite(tensor):
            "tensor \(tensor) holds NaN or infinity; the checkpoint is corrupt or diverged in training, and a packed model would only produce NaN"
        }
    }
}
