/// A GGUF file (llama.cpp's format), versions 2 and 3, little-endian: its metadata and its tensor
/// table, memory-mapped. Every count, length and offset is checked against the file before it is
/// used: a hostile or truncated file is an error naming what is wrong, never a trap or an
/// allocation sized by the file's claims.
public final class GGUFFile: @unchecked Sendable {
    public enum Value: Sendable, Equatable {
        case unsigned(UInt64)
        case signed(Int64)
        case float(Double)
        case bool(Bool)
        case string(String)
        indirect case array(ValueType, [Value])
        /// An array of strings, kept as byte ranges of the mapping (a vocabulary's merges are
        /// hundreds of thousands of strings that are only ever looked up by their bytes).
        case strings(StringList)

        public var string: String? { if case let .string(s) = self { s } else { nil } }
        public var bool: Bool? { if case let .bool(b) = self { b } else { nil } }
        /// An integer value of any width (nil if it does not fit an Int).
        public var integer: Int? {
            switch self {
            case let .unsigned(u): Int(exactly: u)
            case let .signed(s): Int(exactly: s)
            default: nil
            }
        }
        public var number: Double? {
            switch self {
            case let .float(f): f
            case let .unsigned(u): Double(u)
            case let .signed(s): Double(s)
            default: nil
            }
        }
        public var array: [Value]? {
            switch self {
            case let .array(_, items): items
            case let .strings(list): (0..<list.count).map { .string(list[$0] ?? "") }
            default: nil
            }
        }
        public var strings: [String]? {
            switch self {
            case let .strings(list): list.all
            case let .array(_, items): items.compactMap(\.string)
            default: nil
            }
        }
    }

    /// GGUF metadata value types.
    public enum ValueType: UInt32, Sendable {
        case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64

        var fixedSize: Int? {
            switch self {
            case .uint8, .int8, .bool: 1
            case .uint16, .int16: 2
            case .uint32, .int32, .float32: 4
            case .uint64, .int64, .float64: 8
            case .string, .array: nil
            }
        }
    }

    /// A GGUF string array as byte ranges of the mapped file.
    public struct StringList: Sendable, Equatable {
        let file: MappedFile
        /// start₀, end₀, start₁, end₁, …
        let bounds: [Int]

        public var count: Int { bounds.count / 2 }

        /// Item i's bytes (not checked for UTF-8).
        public func bytes(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: file.bytes[bounds[2 * i]..<bounds[2 * i + 1]]) }

        /// Item i as a string; nil if its bytes are not UTF-8.
        public subscript(i: Int) -> String? { String(validating: bytes(i), as: UTF8.self) }

        /// Every item that is valid UTF-8 (callers compare the count to detect the others).
        public var all: [String] { (0..<count).compactMap { self[$0] } }

        public static func == (a: StringList, b: StringList) -> Bool { a.file === b.file && a.bounds == b.bounds }
    }

    public struct TensorInfo: Sendable {
        public let name: String
        /// ggml's order: dims[0] is the innermost (row length).
        public let dimensions: [Int]
        /// The ggml type number (0 F32, 1 F16, 34 TQ1_0, 35 TQ2_0, 36 I2_S, …).
        public let type: UInt32
        /// Offset from the start of the data section.
        public let offset: Int
    }

    public let path: String
    public let version: UInt32
    /// Keys in file order.
    public let keys: [String]
    public let metadata: [String: Value]
    public let tensors: [TensorInfo]
    public let alignment: Int
    /// Where tensor data starts in the file.
    public let dataOffset: Int
    private let mapping: MappedFile
    public var bytes: UnsafeRawBufferPointer { mapping.bytes }

    public static let magic: UInt32 = 0x4655_4747  // "GGUF"

    /// Whether the file at `path` starts with the GGUF magic.
    public static func isGGUF(path: String) -> Bool {
        guard let file = try? MappedFile(path: path), file.bytes.count >= 4 else { return false }
        return file.bytes.loadUnaligned(as: UInt32.self) == UInt32(littleEndian: magic)
    }

    public init(path: String) throws {
        mapping = try MappedFile(path: path)
        self.path = path
        var reader = Reader(bytes: mapping.bytes, file: mapping, path: path)
        guard try reader.u32("the magic") == Self.magic else {
            throw FormatError.malformedHeader(path: path, reason: "not a GGUF file (it does not start with 'GGUF')")
        }
        version = try reader.u32("the version")
        guard version == 2 || version == 3 else {
            throw FormatError.unsupportedVersion(path: path, found: "GGUF v\(version)", supported: "GGUF v2 and v3")
        }
        let tensorCount = try reader.count("the tensor count", minimumBytesEach: 24)
        let keyCount = try reader.count("the metadata count", minimumBytesEach: 13)
        var keys: [String] = [], metadata: [String: Value] = [:]
        for _ in 0..<keyCount {
            let key = try reader.string("a metadata key")
            guard metadata[key] == nil else { throw FormatError.malformedHeader(path: path, reason: "metadata key '\(key)' appears twice") }
            let type = try reader.valueType("the type of '\(key)'")
            metadata[key] = try reader.value(type, what: key, depth: 0)
            keys.append(key)
        }
        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.integer, a > 0, a <= 1 << 20, a & (a - 1) == 0 else {
                throw FormatError.badMetadata(path: path, key: "general.alignment", reason: "must be a power of two up to 1 MiB")
            }
            alignment = a
        }
        var tensors: [TensorInfo] = []
        var names = Set<String>()
        for _ in 0..<tensorCount {
            let name = try reader.string("a tensor name")
            guard names.insert(name).inserted else { throw FormatError.malformedHeader(path: path, reason: "tensor '\(name)' appears twice") }
            let dimensionCount = try reader.u32("the dimension count of '\(name)'")
            guard dimensionCount >= 1, dimensionCount <= 4 else {
                throw FormatError.badTensorEntry(path: path, tensor: name, reason: "\(dimensionCount) dimensions; GGUF tensors have 1 to 4")
            }
            var dimensions: [Int] = []
            for _ in 0..<dimensionCount {
                let d = try reader.u64("a dimension of '\(name)'")
                guard d <= UInt64(Int32.max) else { throw FormatError.badTensorEntry(path: path, tensor: name, reason: "dimension \(d) is absurd") }
                dimensions.append(Int(d))
            }
            let type = try reader.u32("the type of '\(name)'")
            let offset = try reader.u64("the offset of '\(name)'")
            guard offset <= UInt64(mapping.bytes.count) else {
                throw FormatError.badTensorEntry(path: path, tensor: name, reason: "offset \(offset) is past the end of the file")
            }
            guard Int(offset) % alignment == 0 else {
                throw FormatError.badTensorEntry(path: path, tensor: name, reason: "offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            tensors.append(TensorInfo(name: name, dimensions: dimensions, type: type, offset: Int(offset)))
        }
        dataOffset = (reader.offset + alignment - 1) / alignment * alignment
        guard tensors.isEmpty || dataOffset <= mapping.bytes.count else {
            throw FormatError.headerPastEnd(path: path, headerLength: UInt64(dataOffset), fileSize: mapping.bytes.count)
        }
        self.keys = keys
        self.metadata = metadata
        self.tensors = tensors
        self.alignment = alignment
    }

    /// Bounds-checked little-endian reading of the header.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        let file: MappedFile
        let path: String
        var offset = 0

        func truncated(_ what: String) -> FormatError {
            .malformedHeader(path: path, reason: "the file ends inside \(what) (at byte \(offset) of \(bytes.count)); it is truncated")
        }

        mutating func take<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
            guard bytes.count - offset >= MemoryLayout<T>.size else { throw truncated(what) }
            defer { offset += MemoryLayout<T>.size }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }

        mutating func u32(_ what: String) throws -> UInt32 { try take(UInt32.self, what) }
        mutating func u64(_ what: String) throws -> UInt64 { try take(UInt64.self, what) }

        /// A count of items that each take at least `minimumBytesEach` bytes: more than the rest of
        /// the file could hold is an error before anything is allocated for them.
        mutating func count(_ what: String, minimumBytesEach: Int) throws -> Int {
            let n = try u64(what)
            let room = UInt64(bytes.count - offset) / UInt64(minimumBytesEach)
            guard n <= room else {
                throw FormatError.malformedHeader(path: path, reason: "\(what) is \(n), more than the \(bytes.count - offset) bytes left could hold")
            }
            return Int(n)
        }

        mutating func string(_ what: String) throws -> String {
            let length = try u64("the length of \(what)")
            guard length <= UInt64(bytes.count - offset) else {
                throw FormatError.malformedHeader(path: path, reason: "\(what) claims \(length) bytes but only \(bytes.count - offset) are left")
            }
            let raw = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(length))])
            offset += Int(length)
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw FormatError.malformedHeader(path: path, reason: "\(what) is not valid UTF-8")
            }
            return s
        }

        mutating func valueType(_ what: String) throws -> ValueType {
            let raw = try u32(what)
            guard let type = ValueType(rawValue: raw) else {
                throw FormatError.malformedHeader(path: path, reason: "\(what) is \(raw), not a GGUF value type (0...12)")
            }
            return type
        }

        mutating func value(_ type: ValueType, what: String, depth: Int) throws -> Value {
            switch type {
            case .uint8: return .unsigned(UInt64(try take(UInt8.self, what)))
            case .int8: return .signed(Int64(try take(Int8.self, what)))
            case .uint16: return .unsigned(UInt64(try take(UInt16.self, what)))
            case .int16: return .signed(Int64(try take(Int16.self, what)))
            case .uint32: return .unsigned(UInt64(try take(UInt32.self, what)))
            case .int32: return .signed(Int64(try take(Int32.self, what)))
            case .uint64: return .unsigned(try take(UInt64.self, what))
            case .int64: return .signed(try take(Int64.self, what))
            case .float32: return .float(Double(Float(bitPattern: try take(UInt32.self, what))))
            case .float64: return .float(Double(bitPattern: try take(UInt64.self, what)))
            case .bool:
                let b = try take(UInt8.self, what)
                guard b <= 1 else { throw FormatError.malformedHeader(path: path, reason: "'\(what)' holds \(b), not a boolean") }
                return .bool(b == 1)
            case .string: return .string(try string("the value of '\(what)'"))
            case .array:
                guard depth < 4 else { throw FormatError.malformedHeader(path: path, reason: "'\(what)' nests arrays too deeply") }
                let element = try valueType("the element type of '\(what)'")
                let n = try count("the length of '\(what)'", minimumBytesEach: element.fixedSize ?? 8)
                if element == .string {
                    var ends: [Int] = []
                    ends.reserveCapacity(2 * n)
                    for _ in 0..<n {
                        let length = try u64("the length of an item of '\(what)'")
                        guard length <= UInt64(bytes.count - offset) else {
                            throw FormatError.malformedHeader(path: path, reason: "an item of '\(what)' claims \(length) bytes but only \(bytes.count - offset) are left")
                        }
                        ends.append(offset)
                        offset += Int(length)
                        ends.append(offset)
                    }
                    return .strings(StringList(file: file, bounds: ends))
                }
                var items: [Value] = []
                items.reserveCapacity(n)
                for _ in 0..<n { items.append(try value(element, what: what, depth: depth + 1)) }
                return .array(element, items)
            }
        }
    }
}
