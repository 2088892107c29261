/// The quantization flags of a packed file (metadata key `quantization`).
public struct QuantizationInfo: Sendable, Equatable {
    /// The format the token embeddings (and a tied head) were packed in (informational: each
    /// matrix's own dtype is what the reader goes by).
    public var embeddings: WeightFormat
    /// The format linear layers were packed in (informational, as `embeddings`).
    public var weights: WeightFormat
    /// An RMSNorm with a learned weight before each BitLinear's activation quantization.
    public var rmsNormBeforeQuant: Bool
    public var rmsNormEpsilon: Double

    public init(embeddings: WeightFormat, weights: WeightFormat = .ternary, rmsNormBeforeQuant: Bool = false, rmsNormEpsilon: Double = 1e-6) {
        self.embeddings = embeddings
        self.weights = weights
        self.rmsNormBeforeQuant = rmsNormBeforeQuant
        self.rmsNormEpsilon = rmsNormEpsilon
    }

    /// The activation quantization of format 1.
    public static let activationsName = "int8-absmax-per-token"

    /// The `weights` value of the metadata for each linear-layer format.
    static func weightsName(_ format: WeightFormat) -> String {
        format == .ternary ? "ternary-absmean-per-tensor" : format.rawValue
    }

    public var json: JSONValue {
        .object([
            ("activations", .string(Self.activationsName)),
            ("block", .int(WeightFormat.blockWeights)),
            ("embeddings", .string(embeddings.rawValue)),
            ("rms_norm", .bool(rmsNormBeforeQuant)),
            ("rms_norm_eps", .double(rmsNormEpsilon)),
            ("weights", .string(Self.weightsName(weights))),
        ])
    }
}

/// A packed ternary model: a validated safetensors file plus its parsed `__metadata__`.
public final class PackedModelFile: @unchecked Sendable {
    public static let formatName = "ternary"
    public static let formatVersion = "1"

    public let file: SafetensorsFile
    public let architecture: String
    /// The architecture's config (a JSON object with Hugging Face key names).
    public let config: JSONValue
    public let quantization: QuantizationInfo
    /// Each matrix's format (metadata `matrix_formats`, docs/FORMAT.md); nil in files written
    /// before the key existed, whose matrices are named by their weight's dtype.
    public let matrixFormats: [String: WeightFormat]?
    public static let matrixFormatsKey = "matrix_formats"
    public var path: String { file.path }

    public init(path: String) throws {
        file = try SafetensorsFile(path: path)
        guard file.metadata["format"] == Self.formatName else { throw FormatError.notATernaryFile(path: path) }
        let version = try file.requireMetadata("format_version")
        guard version == Self.formatVersion else {
            throw FormatError.unsupportedVersion(path: path, found: version, supported: Self.formatVersion)
        }
        architecture = try file.requireMetadata("architecture")
        config = try Self.object(file, key: "config")
        let q = try Self.object(file, key: "quantization")
        if case let .object(pairs) = q {
            let keys = Set(pairs.map(\.0)), expected: Set = ["activations", "block", "embeddings", "rms_norm", "rms_norm_eps", "weights"]
            guard keys == expected else {
                throw FormatError.badMetadata(path: path, key: "quantization", reason: "keys are \(keys.sorted()), expected \(expected.sorted())")
            }
        }
        guard q["activations"] == .string(QuantizationInfo.activationsName) else {
            throw FormatError.badMetadata(path: path, key: "quantization",
                                          reason: "activations must be \(QuantizationInfo.activationsName) (the only activation quantization of format 1)")
        }
        let formats = WeightFormat.allCases.map(\.rawValue).joined(separator: ", ")
        guard let embeddingName = q["embeddings"]?.string, let embeddings = WeightFormat(rawValue: embeddingName) else {
            throw FormatError.badMetadata(path: path, key: "quantization", reason: "embeddings must be one of \(formats)")
        }
        let weightsName = q["weights"]?.string ?? ""
        guard let weights = WeightFormat.allCases.first(where: { QuantizationInfo.weightsName($0) == weightsName }) else {
            throw FormatError.badMetadata(path: path, key: "quantization", reason: "weights '\(weightsName)' is not one of ternary-absmean-per-tensor, \(formats)")
        }
        guard q["block"]?.integer == WeightFormat.blockWeights else {
            throw FormatError.badMetadata(path: path, key: "quantization", reason: "block must be \(WeightFormat.blockWeights)")
        }
        guard let rmsNormFlag = q["rms_norm"]?.boolean else {
            throw FormatError.badMetadata(path: path, key: "quantization", reason: "rms_norm must be true or false")
        }
        let epsilon = q["rms_norm_eps"]?.number ?? .nan
        guard epsilon.isFinite, epsilon > 0 else {
            throw FormatError.badMetadata(path: path, key: "quantization", reason: "rms_norm_eps must be a positive number")
        }
        quantization = QuantizationInfo(embeddings: embeddings, weights: weights, rmsNormBeforeQuant: rmsNormFlag, rmsNormEpsilon: epsilon)
        guard file.metadata["quantization"] == quantization.json.serialized() else {
            throw FormatError.badMetadata(path: path, key: "quantization", reason: "not in canonical form (sorted keys, no spaces, numbers as the packer writes them)")
        }
        matrixFormats = try Self.matrixFormats(file)
    }

    /// `matrix_formats`: a canonical JSON object from each matrix's name to a format name.
    private static func matrixFormats(_ file: SafetensorsFile) throws -> [String: WeightFormat]? {
        guard file.metadata[matrixFormatsKey] != nil else { return nil }
        guard case let .object(pairs) = try object(file, key: matrixFormatsKey) else { return nil }
        var formats: [String: WeightFormat] = [:]
        for (name, value) in pairs {
            guard let format = value.string.flatMap(WeightFormat.init(rawValue:)) else {
                throw FormatError.badMetadata(path: file.path, key: matrixFormatsKey,
                                              reason: "matrix '\(name)' has the format \(value.serialized()), which this engine does not know (it knows \(WeightFormat.allCases.map(\.rawValue).joined(separator: ", "))); a newer `ternary` may read it")
            }
            formats[name] = format
        }
        guard file.metadata[matrixFormatsKey] == formatsJSON(formats).serialized() else {
            throw FormatError.badMetadata(path: file.path, key: matrixFormatsKey, reason: "not in canonical form (sorted keys, no spaces); the file was edited: re-pack it")
        }
        return formats
    }

    /// The canonical JSON of a `matrix_formats` map.
    public static func formatsJSON(_ formats: [String: WeightFormat]) -> JSONValue {
        .object(formats.keys.sorted().map { ($0, .string(formats[$0]!.rawValue)) })
    }

    /// The format of matrix `name`, whose `<name>.weight` has `dtype`: as `matrix_formats` names it
    /// (which must agree with the dtype), or by the dtype in a file without that key.
    public func format(ofMatrix name: String, weightDType dtype: DType) throws -> WeightFormat {
        guard let formats = matrixFormats else {
            guard let format = WeightFormat(dtype: dtype) else {
                throw FormatError.wrongDType(path: path, tensor: "\(name).weight", expected: WeightFormat.allCases.filter { !$0.isGrouped }.map(\.dtype), found: dtype)
            }
            return format
        }
        guard let format = formats[name] else {
            throw FormatError.badMetadata(path: path, key: Self.matrixFormatsKey, reason: "names no format for the matrix '\(name)' (the file was edited or damaged; re-pack it)")
        }
        guard format.dtype == dtype else {
            throw FormatError.wrongDType(path: path, tensor: "\(name).weight", expected: [format.dtype], found: dtype)
        }
        return format
    }

    private static func object(_ file: SafetensorsFile, key: String) throws -> JSONValue {
        let text = try file.requireMetadata(key)
        let value: JSONValue
        do {
            value = try JSONParser().parse(text)
        } catch {
            throw FormatError.badMetadata(path: file.path, key: key, reason: "not valid JSON (\(error))")
        }
        guard case .object = value else { throw FormatError.badMetadata(path: file.path, key: key, reason: "not a JSON object") }
        return value
    }

    /// The config decoded as an architecture's `Decodable` config type; errors name the file and key.
    public func decodeConfig<Config: Decodable>(_ type: Config.Type) throws -> Config {
        do {
            return try JSONValueDecoder.decode(type, from: config)
        } catch let failure as JSONValueDecoder.Failure {
            throw FormatError.badMetadata(path: path, key: "config", reason: failure.description)
        }
    }
}
