#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How the embeddings (and the tied LM head) are stored.
public enum EmbeddingStorage: String, Sendable, CaseIterable {
    case f32, f16, int8, ternary
}

/// The quantization flags of a packed file (metadata key `quantization`).
public struct QuantizationInfo: Sendable, Equatable {
    public var embeddings: EmbeddingStorage
    /// An RMSNorm with a learned weight before each BitLinear's activation quantization.
    public var rmsNormBeforeQuant: Bool
    public var rmsNormEpsilon: Double

    public init(embeddings: EmbeddingStorage, rmsNormBeforeQuant: Bool = false, rmsNormEpsilon: Double = 1e-6) {
        self.embeddings = embeddings
        self.rmsNormBeforeQuant = rmsNormBeforeQuant
        self.rmsNormEpsilon = rmsNormEpsilon
    }

    public var json: JSONValue {
        .object([
            ("activations", .string("int8-absmax-per-token")),
            ("block", .int(TernaryLayoutInfo.blockWeights)),
            ("embeddings", .string(embeddings.rawValue)),
            ("rms_norm", .bool(rmsNormBeforeQuant)),
            ("rms_norm_eps", .double(rmsNormEpsilon)),
            ("weights", .string("ternary-absmean-per-tensor")),
        ])
    }
}

enum TernaryLayoutInfo { static let blockWeights = 64 }

/// A packed ternary model: a validated safetensors file plus its parsed `__metadata__`.
public final class PackedModelFile: @unchecked Sendable {
    public static let formatName = "ternary"
    public static let formatVersion = "1"

    public let file: SafetensorsFile
    public let architecture: String
    /// The architecture's config as parsed JSON.
    public let config: [String: Any]
    public let quantization: QuantizationInfo
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
        guard let embeddingName = q["embeddings"] as? String, let embeddings = EmbeddingStorage(rawValue: embeddingName) else {
            throw FormatError.badMetadata(path: path, key: "quantization", reason: "embeddings must be one of f32, f16, int8, ternary")
        }
        guard (q["block"] as? Int) == TernaryLayoutInfo.blockWeights else {
            throw FormatError.badMetadata(path: path, key: "quantization", reason: "block must be \(TernaryLayoutInfo.blockWeights)")
        }
        quantization = QuantizationInfo(
            embeddings: embeddings, rmsNormBeforeQuant: (q["rms_norm"] as? Bool) ?? false,
            rmsNormEpsilon: q["rms_norm_eps"].flatMap(JSONReader.double) ?? 1e-6)
    }

    private static func object(_ file: SafetensorsFile, key: String) throws -> [String: Any] {
        let text = try file.requireMetadata(key)
        guard let value = try? JSONReader.parse(Data(text.utf8)) as? [String: Any] else {
            throw FormatError.badMetadata(path: file.path, key: key, reason: "not a JSON object")
        }
        return value
    }

    /// An integer config field, validated as positive.
    public func configInt(_ key: String, default value: Int? = nil) throws -> Int {
        guard let raw = config[key] else {
            if let value { return value }
            throw FormatError.badMetadata(path: path, key: "config", reason: "missing '\(key)'")
        }
        guard let int = raw as? Int, int > 0 else {
            throw FormatError.badMetadata(path: path, key: "config", reason: "'\(key)' must be a positive integer, found \(raw)")
        }
        return int
    }

    public func configDouble(_ key: String, default value: Double) throws -> Double {
        guard let raw = config[key] else { return value }
        guard let d = JSONReader.double(raw), d.isFinite, d > 0 else {
            throw FormatError.badMetadata(path: path, key: "config", reason: "'\(key)' must be a positive number, found \(raw)")
        }
        return d
    }
}
