#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TernaryFormat

/// A Hugging Face model directory: config.json plus one or more safetensors shards.
public final class HFCheckpoint {
    public let directory: String
    public let config: [String: Any]
    public let configPath: String
    private var shards: [String: SafetensorsFile] = [:]
    /// Tensor name → shard file.
    private let location: [String: String]

    public init(directory: String) throws {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory else {
            throw ConvertError.notADirectory(path: directory)
        }
        self.directory = directory
        configPath = joinPath(directory, "config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else { throw ConvertError.missingConfig(directory: directory) }
        guard let config = try? JSONReader.parse(data) as? [String: Any] else {
            throw ConvertError.badConfig(path: configPath, reason: "not a JSON object")
        }
        self.config = config
        let single = joinPath(directory, "model.safetensors")
        let index = joinPath(directory, "model.safetensors.index.json")
        var location: [String: String] = [:]
        if FileManager.default.fileExists(atPath: single) {
            let file = try SafetensorsFile(path: single)
            shards[single] = file
            for name in file.tensors.keys { location[name] = single }
        } else if let indexData = FileManager.default.contents(atPath: index) {
            guard let root = try? JSONReader.parse(indexData) as? [String: Any],
                  let map = root["weight_map"] as? [String: String]
            else { throw ConvertError.badConfig(path: index, reason: "expected an object with a weight_map of tensor → file") }
            for (name, file) in map { location[name] = joinPath(directory, file) }
        } else {
            throw ConvertError.noWeights(directory: directory)
        }
        self.location = location
    }

    public var tensorNames: [String] { location.keys.sorted() }

    public func view(_ name: String) throws -> TensorView {
        guard let path = location[name] else { throw FormatError.missingTensor(path: directory, tensor: name) }
        if shards[path] == nil { shards[path] = try SafetensorsFile(path: path) }
        return try shards[path]!.tensor(name)
    }

    /// A tensor as Float32 values, with its shape checked.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        let v = try view(name)
        guard v.shape == shape else { throw FormatError.wrongShape(path: directory, tensor: name, expected: shape, found: v.shape) }
        let n = v.elementCount
        switch v.dtype {
        case .f32: return Array(v.data.bindMemory(to: Float.self).prefix(n))
        case .f16:
            return (0..<n).map { Float(v.data.loadUnaligned(fromByteOffset: 2 * $0, as: Float16.self)) }
        case .bf16:
            return (0..<n).map { Float(bitPattern: UInt32(v.data.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) << 16) }
        default: throw ConvertError.unsupportedDType(tensor: name, dtype: v.dtype.rawValue)
        }
    }

    public func int(_ key: String, default value: Int? = nil) throws -> Int {
        guard let raw = config[key], !(raw is JSONReader.Null) else {
            if let value { return value }
            throw ConvertError.badConfig(path: configPath, reason: "missing integer '\(key)'")
        }
        guard let int = raw as? Int, int > 0 else { throw ConvertError.badConfig(path: configPath, reason: "'\(key)' must be a positive integer, found \(raw)") }
        return int
    }

    public func double(_ key: String, default value: Double) throws -> Double {
        guard let raw = config[key], !(raw is JSONReader.Null) else { return value }
        guard let d = JSONReader.double(raw), d.isFinite, d > 0 else { throw ConvertError.badConfig(path: configPath, reason: "'\(key)' must be a positive number, found \(raw)") }
        return d
    }
}

/// `directory/name` (what NSString.appendingPathComponent does for these relative names).
func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
