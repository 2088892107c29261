/// Decodes `Decodable` types (model configs with Hugging Face key names) from a parsed `JSONValue`.
/// Strict where JSONDecoder is lenient: an `Int` must be written as an integer (`192.0` is refused),
/// and every failure names the key path ("rope_scaling.factor: expected a number, found a string").
public enum JSONValueDecoder {
    public struct Failure: Error, CustomStringConvertible {
        /// Dotted key path, e.g. `rope_scaling.factor` (array indices as `[3]`).
        public let path: String
        public let reason: String
        public var description: String { path.isEmpty ? reason : "'\(path)': \(reason)" }

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        do {
            return try T(from: TreeDecoder(value: value, codingPath: []))
        } catch let error as DecodingError {
            throw failure(error)
        }
    }

    static func failure(_ error: DecodingError) -> Failure {
        switch error {
        case let .keyNotFound(key, context): Failure(path: path(context.codingPath + [key]), reason: "missing")
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            Failure(path: path(context.codingPath), reason: context.debugDescription)
        @unknown default: Failure(path: "", reason: "\(error)")
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
        return out
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "\(intValue!)" }
    init(_ i: Int) { intValue = i }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct TreeDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case let .object(pairs) = value else { throw mismatch(value, "an object", codingPath) }
        return KeyedDecodingContainer(Keyed<Key>(pairs: Dictionary(pairs, uniquingKeysWith: { a, _ in a }), codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case let .array(items) = value else { throw mismatch(value, "an array", codingPath) }
        return Unkeyed(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(value: value, codingPath: codingPath) }
}

private func mismatch(_ value: JSONValue, _ expected: String, _ path: [any CodingKey]) -> DecodingError {
    .typeMismatch(Any.self, .init(codingPath: path, debugDescription: "expected \(expected), found \(value.kindDescription)"))
}

/// Scalar decoding shared by the three container kinds.
private func decodeScalar<T: Decodable>(_ type: T.Type, _ value: JSONValue, _ path: [any CodingKey]) throws -> T {
    switch type {
    case is Int.Type:
        guard case let .int(i) = value else { throw mismatch(value, "an integer", path) }
        return i as! T
    case is Int32.Type:
        guard case let .int(i) = value, let v = Int32(exactly: i) else { throw mismatch(value, "a 32-bit integer", path) }
        return v as! T
    case is UInt64.Type:
        guard case let .int(i) = value, let v = UInt64(exactly: i) else { throw mismatch(value, "a non-negative integer", path) }
        return v as! T
    case is Double.Type:
        guard let d = value.number else { throw mismatch(value, "a number", path) }
        return d as! T
    case is Float.Type:
        guard let d = value.number else { throw mismatch(value, "a number", path) }
        return Float(d) as! T
    case is String.Type:
        guard case let .string(s) = value else { throw mismatch(value, "a string", path) }
        return s as! T
    case is Bool.Type:
        guard case let .bool(b) = value else { throw mismatch(value, "a boolean", path) }
        return b as! T
    case is JSONValue.Type:
        return value as! T
    default:
        return try T(from: TreeDecoder(value: value, codingPath: path))
    }
}

private struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let pairs: [String: JSONValue]
    let codingPath: [any CodingKey]
    var allKeys: [Key] { pairs.keys.compactMap(Key.init(stringValue:)) }

    func contains(_ key: Key) -> Bool { pairs[key.stringValue] != nil }

    func value(_ key: Key) throws -> JSONValue {
        guard let v = pairs[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool { pairs[key.stringValue]?.isNull ?? true }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decodeScalar(type, try value(key), codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try TreeDecoder(value: try value(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try TreeDecoder(value: try value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { TreeDecoder(value: .object(pairs.map { ($0, $1) }), codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> any Decoder { TreeDecoder(value: try value(key), codingPath: codingPath + [key]) }
}

private struct Unkeyed: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [JSONValue], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    mutating func next() throws -> (JSONValue, [any CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the array has only \(items.count) items"))
        }
        defer { currentIndex += 1 }
        return (items[currentIndex], codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next()
        return try decodeScalar(type, value, path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, path) = try next()
        return try TreeDecoder(value: value, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (value, path) = try next()
        return try TreeDecoder(value: value, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (value, path) = try next()
        return TreeDecoder(value: value, codingPath: path)
    }
}

private struct Single: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]
    func decodeNil() -> Bool { value.isNull }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeScalar(type, value, codingPath) }
}

extension JSONValue: Decodable {
    /// Decoding a `JSONValue` from a `JSONValueDecoder` gives the value itself (for raw sub-objects).
    public init(from decoder: any Decoder) throws {
        guard let tree = decoder as? TreeDecoder else {
            throw DecodingError.typeMismatch(JSONValue.self, .init(codingPath: decoder.codingPath, debugDescription: "JSONValue decodes only from JSONValueDecoder"))
        }
        self = tree.value
    }
}
