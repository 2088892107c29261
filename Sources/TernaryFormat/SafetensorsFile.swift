#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One tensor inside a mapped safetensors file.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let data: UnsafeRawBufferPointer

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped safetensors file whose header has been validated in full: every dtype, shape
/// and offset is checked against the file size before any tensor data is touched.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let metadata: [String: String]
    public let tensors: [String: TensorView]
    /// Tensor names in data order.
    public let tensorNames: [String]
    public let fileSize: Int
    private let mapping: MappedFile
    /// The whole mapped file.
    public var bytes: UnsafeRawBufferPointer { mapping.bytes }

    public init(path: String) throws {
        mapping = try MappedFile(path: path)
        self.path = path
        let bytes = mapping.bytes
        fileSize = bytes.count
        guard bytes.count >= 8 else { throw FormatError.truncatedHeader(path: path, size: bytes.count) }
        let headerLength = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw FormatError.headerPastEnd(path: path, headerLength: headerLength, fileSize: bytes.count)
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = bytes.count - dataStart
        let headerData = Data(bytes[8..<dataStart])
        let parsed: Any
        do {
            parsed = try JSONReader.parse(headerData)
        } catch {
            throw FormatError.malformedHeader(path: path, reason: "not valid JSON (\(error))")
        }
        guard let header = parsed as? [String: Any] else {
            throw FormatError.malformedHeader(path: path, reason: "expected a JSON object at the top level")
        }
        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let dict = raw as? [String: Any] else {
                throw FormatError.malformedHeader(path: path, reason: "__metadata__ must be an object of strings")
            }
            for (key, value) in dict {
                guard let string = value as? String else {
                    throw FormatError.malformedHeader(path: path, reason: "__metadata__ value for '\(key)' is not a string")
                }
                metadata[key] = string
            }
        }
        var tensors: [String: TensorView] = [:]
        var spans: [(begin: Int, end: Int, name: String)] = []
        for (name, raw) in header where name != "__metadata__" {
            guard let entry = raw as? [String: Any] else {
                throw FormatError.badTensorEntry(path: path, tensor: name, reason: "expected an object")
            }
            guard let dtypeName = entry["dtype"] as? String, let dtype = DType(rawValue: dtypeName) else {
                throw FormatError.badTensorEntry(path: path, tensor: name, reason: "unknown or missing dtype \(String(describing: entry["dtype"]))")
            }
            guard let shapeRaw = entry["shape"] as? [Any], let shape = Self.integers(shapeRaw), shape.allSatisfy({ $0 >= 0 }) else {
                throw FormatError.badTensorEntry(path: path, tensor: name, reason: "shape must be an array of non-negative integers")
            }
            guard let offsetsRaw = entry["data_offsets"] as? [Any], let offsets = Self.integers(offsetsRaw), offsets.count == 2,
                  offsets[0] >= 0, offsets[1] >= offsets[0]
            else {
                throw FormatError.badTensorEntry(path: path, tensor: name, reason: "data_offsets must be [begin, end] with 0 <= begin <= end")
            }
            guard offsets[1] <= dataSize else {
                throw FormatError.offsetsOutOfRange(path: path, tensor: name, end: offsets[1], dataSize: dataSize)
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, count.multipliedReportingOverflow(by: dtype.byteSize).overflow == false,
                  count * dtype.byteSize == offsets[1] - offsets[0]
            else {
                throw FormatError.badTensorEntry(
                    path: path, tensor: name,
                    reason: "shape \(shape) of \(dtype.rawValue) needs a different byte count than data_offsets \(offsets) give")
            }
            let view = TensorView(
                name: name, dtype: dtype, shape: shape,
                data: UnsafeRawBufferPointer(rebasing: bytes[(dataStart + offsets[0])..<(dataStart + offsets[1])]))
            tensors[name] = view
            spans.append((offsets[0], offsets[1], name))
        }
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for (a, b) in zip(spans, spans.dropFirst()) where b.begin < a.end && a.begin < a.end && b.begin < b.end {
            throw FormatError.overlappingTensors(path: path, first: a.name, second: b.name)
        }
        self.metadata = metadata
        self.tensors = tensors
        self.tensorNames = spans.map(\.name)
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let number = value as? Int else { return nil }
            result.append(number)
        }
        return result
    }

    /// The tensor, checked for dtype and (when given) shape.
    public func tensor(_ name: String, dtypes: [DType]? = nil, shape: [Int]? = nil) throws -> TensorView {
        guard let view = tensors[name] else { throw FormatError.missingTensor(path: path, tensor: name) }
        if let dtypes, !dtypes.contains(view.dtype) {
            throw FormatError.wrongDType(path: path, tensor: name, expected: dtypes, found: view.dtype)
        }
        if let shape, shape != view.shape {
            throw FormatError.wrongShape(path: path, tensor: name, expected: shape, found: view.shape)
        }
        return view
    }

    public func requireMetadata(_ key: String) throws -> String {
        guard let value = metadata[key] else { throw FormatError.missingMetadata(path: path, key: key) }
        return value
    }
}
