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
        let header: [(String, JSONValue)]
        do {
            guard case let .object(pairs) = try JSONParser().parse(UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])) else {
                throw FormatError.malformedHeader(path: path, reason: "expected a JSON object at the top level")
            }
            header = pairs
        } catch let error as JSONParser.SyntaxError {
            throw FormatError.malformedHeader(path: path, reason: "not valid JSON (\(error))")
        }
        var metadata: [String: String] = [:]
        var tensors: [String: TensorView] = [:]
        var spans: [(begin: Int, end: Int, name: String)] = []
        for (name, raw) in header {
            if name == "__metadata__" {
                guard case let .object(entries) = raw else {
                    throw FormatError.malformedHeader(path: path, reason: "__metadata__ must be an object of strings")
                }
                for (key, value) in entries {
                    guard case let .string(string) = value else {
                        throw FormatError.malformedHeader(path: path, reason: "__metadata__ value for '\(key)' is not a string")
                    }
                    metadata[key] = string
                }
                continue
            }
            guard case .object = raw else {
                throw FormatError.badTensorEntry(path: path, tensor: name, reason: "expected an object")
            }
            guard let dtypeName = raw["dtype"]?.string, let dtype = DType(rawValue: dtypeName) else {
                throw FormatError.badTensorEntry(
                    path: path, tensor: name,
                    reason: "unknown or missing dtype \(raw["dtype"].map { $0.serialized() } ?? "(none)"); expected one of \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let shape = Self.integers(raw["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw FormatError.badTensorEntry(path: path, tensor: name, reason: "shape must be an array of non-negative integers, found \(raw["shape"].map { $0.serialized() } ?? "(none)")")
            }
            guard let offsets = Self.integers(raw["data_offsets"]), offsets.count == 2, offsets[0] >= 0, offsets[1] >= offsets[0] else {
                throw FormatError.badTensorEntry(path: path, tensor: name, reason: "data_offsets must be [begin, end] integers with 0 <= begin <= end, found \(raw["data_offsets"].map { $0.serialized() } ?? "(none)")")
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
        // As the safetensors reference reader: tensors tile the data section exactly, in offset
        // order, with no overlap, no gap and nothing after the last one (zero-length tensors
        // included, so an empty tensor cannot hide an overlap between its neighbours).
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var position = 0, previous: String?
        for span in spans {
            if span.begin < position {
                throw FormatError.overlappingTensors(path: path, first: previous ?? span.name, second: span.name)
            }
            if span.begin > position {
                throw FormatError.malformedHeader(path: path, reason: "bytes \(position)..<\(span.begin) of the data section belong to no tensor (before '\(span.name)')")
            }
            position = span.end
            if span.end > span.begin || previous == nil { previous = span.name }
        }
        if position != dataSize {
            throw FormatError.malformedHeader(path: path, reason: "the data section has \(dataSize) bytes but its tensors cover \(position); the file is truncated or has trailing bytes")
        }
        self.metadata = metadata
        self.tensors = tensors
        self.tensorNames = spans.map(\.name)
    }

    /// An array of integers (a number written as `192.0` does not count, as in safetensors).
    private static func integers(_ value: JSONValue?) -> [Int]? {
        guard case let .array(items)? = value else { return nil }
        var result: [Int] = []
        for item in items {
            guard case let .int(number) = item else { return nil }
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
