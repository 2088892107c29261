/// Everything that can be wrong with a model file, each naming the file and what to do.
public enum FormatError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case isDirectory(path: String)
    case emptyFile(path: String)
    case truncatedHeader(path: String, size: Int)
    case headerPastEnd(path: String, headerLength: UInt64, fileSize: Int)
    case malformedHeader(path: String, reason: String)
    case badTensorEntry(path: String, tensor: String, reason: String)
    case corruptValues(path: String, tensor: String, reason: String)
    case offsetsOutOfRange(path: String, tensor: String, end: Int, dataSize: Int)
    case overlappingTensors(path: String, first: String, second: String)
    case missingTensor(path: String, tensor: String)
    case wrongDType(path: String, tensor: String, expected: [DType], found: DType)
    case wrongShape(path: String, tensor: String, expected: [Int], found: [Int])
    case missingMetadata(path: String, key: String)
    case badMetadata(path: String, key: String, reason: String)
    case unsupportedVersion(path: String, found: String, supported: String)
    case notATernaryFile(path: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): "cannot open '\(path)': \(reason)"
        case let .isDirectory(path): "'\(path)' is a directory; pass the path of a .safetensors model file"
        case let .emptyFile(path): "'\(path)' is empty (0 bytes); it is not a model file. Re-run `ternary pack` to make one."
        case let .truncatedHeader(path, size):
            "'\(path)' is truncated: \(size) bytes, but a safetensors file starts with an 8-byte header length. Re-download or re-pack it."
        case let .headerPastEnd(path, length, size):
            "'\(path)' is truncated or corrupt: its header claims \(length) bytes but the file has only \(size). Re-download or re-pack it."
        case let .malformedHeader(path, reason): "'\(path)' has a malformed safetensors header: \(reason)"
        case let .badTensorEntry(path, tensor, reason): "'\(path)': tensor '\(tensor)' has a bad header entry: \(reason)"
        case let .corruptValues(path, tensor, reason): "'\(path)' is corrupt: tensor '\(tensor)': \(reason); re-pack or re-download it"
        case let .offsetsOutOfRange(path, tensor, end, dataSize):
            "'\(path)' is truncated or corrupt: tensor '\(tensor)' ends at byte \(end) of the data section, which has only \(dataSize) bytes"
        case let .overlappingTensors(path, first, second):
            "'\(path)' is corrupt: tensors '\(first)' and '\(second)' overlap in the data section"
        case let .missingTensor(path, tensor): "'\(path)' lacks tensor '\(tensor)'; the file is incomplete or for another architecture"
        case let .wrongDType(path, tensor, expected, found):
            "'\(path)': tensor '\(tensor)' has dtype \(found.rawValue), expected \(expected.map(\.rawValue).joined(separator: " or "))"
        case let .wrongShape(path, tensor, expected, found):
            "'\(path)': tensor '\(tensor)' has shape \(found), but the config implies \(expected)"
        case let .missingMetadata(path, key): "'\(path)' has no '\(key)' in its __metadata__; it was not written by `ternary pack`"
        case let .badMetadata(path, key, reason): "'\(path)': metadata '\(key)' is invalid: \(reason)"
        case let .unsupportedVersion(path, found, supported):
            "'\(path)' has format version \(found); this build reads version \(supported). Re-pack it with this version of `ternary pack`."
        case let .notATernaryFile(path):
            "'\(path)' is a safetensors file but not a packed ternary model (no format=ternary in __metadata__); run `ternary pack` on it first"
        case let .writeFailed(path, reason): "cannot write '\(path)': \(reason)"
        }
    }
}
