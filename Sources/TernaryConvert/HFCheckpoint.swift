#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TernaryFormat
import TernaryKernels

/// A Hugging Face model directory: config.json plus one or more safetensors shards. Tensors are
/// looked up under the architecture's prefixes (`transformer.`, `model.`, none).
public final class HFCheckpoint: TensorSource {
    public let directory: String
    /// config.json, parsed (Hugging Face writes `Infinity` in some configs; it is accepted here).
    public let config: JSONValue
    public let configPath: String
    public var prefixes: [String] = [""]
    /// How a `weight_scale` beside packed ternary weights applies (from `quantization_config`);
    /// nil: the checkpoint must not hold packed ternary weights.
    public var ternaryScale: TernaryScale?
    public enum TernaryScale: Sendable { case multiplies, divides }
    /// Full names of the tensors read so far.
    private var consumed = Set<String>()
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
        do {
            config = try JSONParser(allowNonFiniteNumbers: true).parse(data)
        } catch {
            throw ConvertError.badConfig(path: configPath, reason: "not valid JSON: \(error)")
        }
        guard case .object = config else { throw ConvertError.badConfig(path: configPath, reason: "expected a JSON object") }
        let single = joinPath(directory, "model.safetensors")
        let index = joinPath(directory, "model.safetensors.index.json")
        var location: [String: String] = [:]
        if FileManager.default.fileExists(atPath: single) {
            let file = try SafetensorsFile(path: single)
            shards[single] = file
            for name in file.tensors.keys { location[name] = single }
        } else if let indexData = FileManager.default.contents(atPath: index) {
            let root: JSONValue
            do { root = try JSONParser().parse(indexData) } catch {
                throw ConvertError.badConfig(path: index, reason: "not valid JSON: \(error)")
            }
            guard case let .object(map)? = root["weight_map"] else {
                throw ConvertError.badConfig(path: index, reason: "expected an object with a weight_map of tensor → file")
            }
            for (name, value) in map {
                guard let file = value.string else { throw ConvertError.badConfig(path: index, reason: "weight_map['\(name)'] must be a file name") }
                // A shard is a file in this directory: no path separators, no '..' (a hostile index
                // must not make the packer read files elsewhere).
                guard !file.isEmpty, !file.contains("/"), !file.contains("\\"), file != "..", file != "." else {
                    throw ConvertError.badConfig(path: index, reason: "weight_map['\(name)'] = '\(file)' is not a file name inside the checkpoint directory")
                }
                location[name] = joinPath(directory, file)
            }
        } else {
            throw ConvertError.noWeights(directory: directory)
        }
        self.location = location
    }

    public var tensorNames: [String] { location.keys.sorted() }

    /// generation_config.json, if the directory has a valid one (its eos_token_id may list the
    /// end-of-turn tokens of a chat model).
    public var generationConfig: JSONValue? {
        FileManager.default.contents(atPath: joinPath(directory, "generation_config.json")).flatMap { try? JSONParser(allowNonFiniteNumbers: true).parse($0) }
    }

    /// The checkpoint's own name for a manifest source name (the first prefix that has it). A
    /// BitLinear input norm is `norm.weight` in our trainer's exports and `rms_norm.weight` in
    /// transformers' BitNet layers.
    public func resolve(_ name: String) -> String? {
        var names = [name]
        if name.hasSuffix(".norm.weight") { names.append(String(name.dropLast("norm.weight".count)) + "rms_norm.weight") }
        for candidate in names {
            for prefix in prefixes where location[prefix + candidate] != nil { return prefix + candidate }
        }
        return nil
    }

    public func unusedTensorNames() -> [String] { tensorNames.filter { !consumed.contains($0) } }

    public func contains(_ name: String) -> Bool { resolve(name) != nil }

    public func view(_ name: String) throws -> TensorView {
        guard let full = resolve(name), let path = location[full] else { throw FormatError.missingTensor(path: directory, tensor: name) }
        if shards[path] == nil { shards[path] = try SafetensorsFile(path: path) }
        consumed.insert(full)
        return try shards[path]!.tensor(full)
    }

    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        let v = try view(name)
        // Size-1 dimensions do not matter (a depthwise Conv1d stores its kernels as (channels, 1, width)).
        guard v.shape.filter({ $0 != 1 }) == shape.filter({ $0 != 1 }) else {
            throw FormatError.wrongShape(path: directory, tensor: name, expected: shape, found: v.shape)
        }
        return try Self.floats(v, source: directory)
    }

    public func matrix(_ name: String, rows: Int, k: Int, transposed: Bool) throws -> SourceMatrix {
        let v = try view(name)
        if v.dtype == .u8 { return try packedTernary(v, name: name, rows: rows, k: k) }
        let values = try floats(name, shape: transposed ? [k, rows] : [rows, k])
        return .float(transposed ? WeightQuantizer.transpose(values, rows: k, cols: rows) : values)
    }

    /// Hugging Face BitNet's packed deployment form: U8 `[rows/4, k]`, four values per byte along
    /// the output dimension (bits 2i..2i+1 of byte [r, c] hold W[i·rows/4 + r, c] + 1), and a
    /// `weight_scale` the values multiply (AutoBitLinear) or divide (the legacy BitLinear).
    func packedTernary(_ v: TensorView, name: String, rows: Int, k: Int) throws -> SourceMatrix {
        guard let ternaryScale else {
            throw ConvertError.badConfig(path: configPath, reason: "tensor '\(name)' holds packed ternary weights (U8) but config.json has no quantization_config with quant_method 'bitnet' saying how its weight_scale applies")
        }
        guard rows % 4 == 0, v.shape == [rows / 4, k] else {
            throw FormatError.wrongShape(path: directory, tensor: name, expected: [rows / 4, k], found: v.shape)
        }
        let scaleName = String(name.dropLast("weight".count)) + "weight_scale"
        let scaleView = try view(scaleName)
        guard scaleView.elementCount == 1 else { throw FormatError.wrongShape(path: directory, tensor: scaleName, expected: [1], found: scaleView.shape) }
        let stored = try Self.floats(scaleView, source: directory)[0]
        guard stored.isFinite, stored > 0 else { throw ConvertError.nonFinite(tensor: "\(scaleName) (\(stored); a scale must be positive and finite)") }
        let quarter = rows / 4
        var codes = [Int8](repeating: 0, count: rows * k)
        for r in 0..<quarter {
            for c in 0..<k {
                let byte = v.data[r * k + c]
                for i in 0..<4 {
                    let code = (byte >> UInt8(2 * i)) & 3
                    guard code != 3 else {
                        throw FormatError.badTensorEntry(path: directory, tensor: name, reason: "byte [\(r), \(c)] holds the code 3, which is no ternary value")
                    }
                    codes[(i * quarter + r) * k + c] = Int8(code) - 1
                }
            }
        }
        return .ternary(codes: codes, scale: ternaryScale == .multiplies ? stored : 1 / stored)
    }

    /// A tensor's values as Float32 (F32, F16 and BF16 tensors).
    static func floats(_ v: TensorView, source: String) throws -> [Float] {
        let n = v.elementCount
        guard [.f32, .f16, .bf16].contains(v.dtype) else {
            throw ConvertError.unsupportedDType(source: source, tensor: v.name, dtype: v.dtype.rawValue)
        }
        precondition(v.data.count == n * v.dtype.byteSize, "\(v.name): the header was validated against the file")
        guard n > 0, let bytes = v.data.baseAddress else { return [] }
        // Whole-tensor conversions (the file is little-endian, as every supported host).
        switch v.dtype {
        case .f16: return HalfPrecision.floats(f16: bytes, count: n)
        case .bf16: return HalfPrecision.floats(bf16: bytes, count: n)
        default: return [Float](unsafeUninitializedCapacity: n) { out, count in
            UnsafeMutableRawBufferPointer(out).copyMemory(from: v.data)
            count = n
        }
        }
    }
}

/// `directory/name` (what NSString.appendingPathComponent does for these relative names).
func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
