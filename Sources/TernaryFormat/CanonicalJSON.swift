/// A JSON value: what `JSONParser` reads and what the canonical writer writes.
///
/// Objects keep their keys in document order. The writer is byte-compatible with Python's
/// `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` for the values we
/// write (strings, integers, booleans, finite doubles, null, arrays, objects); both the Swift packer
/// and the Python exporter use this form, so their files are byte-identical.
public enum JSONValue: Sendable, Equatable {
    case null
    case string(String)
    /// A number written without fraction or exponent that fits an `Int`.
    case int(Int)
    /// Any other number (also `Infinity`/`NaN` where the parser was told to accept them).
    case double(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.string(x), .string(y)): x == y
        case let (.int(x), .int(y)): x == y
        case let (.double(x), .double(y)): x == y || (x.isNaN && y.isNaN)
        case let (.bool(x), .bool(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The value of `key` in an object (nil for a missing key or a non-object).
    public subscript(key: String) -> JSONValue? {
        guard case let .object(pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    /// A number as a Double, whether it was written as an integer or not.
    public var number: Double? {
        switch self {
        case let .int(i): Double(i)
        case let .double(d): d
        default: nil
        }
    }

    public var string: String? { if case let .string(s) = self { s } else { nil } }
    public var integer: Int? { if case let .int(i) = self { i } else { nil } }
    public var boolean: Bool? { if case let .bool(b) = self { b } else { nil } }
    public var array: [JSONValue]? { if case let .array(a) = self { a } else { nil } }
    public var isNull: Bool { if case .null = self { true } else { false } }

    /// What kind of value this is, for error messages ("an integer", "a string", …).
    public var kindDescription: String {
        switch self {
        case .null: "null"
        case .string: "a string"
        case .int: "an integer"
        case .double: "a non-integer number"
        case .bool: "a boolean"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// `sortKeys`: sort object keys (Python's sort_keys); otherwise keep their order.
    public func serialized(sortKeys: Bool = true) -> String {
        var out: [UInt8] = []
        write(into: &out, sortKeys: sortKeys)
        return String(decoding: out, as: UTF8.self)
    }

    /// Written as UTF-8 bytes: every character JSON escapes is ASCII, so escaping byte by byte is
    /// escaping character by character, and far cheaper (a 128k-token vocabulary is one object).
    private func write(into out: inout [UInt8], sortKeys: Bool) {
        switch self {
        case .null: out += "null".utf8
        case let .string(s): JSONValue.writeString(s, into: &out)
        case let .int(i): out += String(i).utf8
        case let .double(d): out += JSONValue.pythonRepr(d).utf8
        case let .bool(b): out += (b ? "true" : "false").utf8
        case let .array(items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out, sortKeys: sortKeys)
            }
            out.append(UInt8(ascii: "]"))
        case let .object(pairs):
            out.append(UInt8(ascii: "{"))
            // Python sorts keys by code point; UTF-8 byte order is code point order.
            let ordered = sortKeys ? pairs.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) } : pairs
            for (i, (key, value)) in ordered.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                value.write(into: &out, sortKeys: sortKeys)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string as Python's json.dumps(ensure_ascii=False) writes it.
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += "\\\"".utf8
            case UInt8(ascii: "\\"): out += "\\\\".utf8
            case 0x0A: out += "\\n".utf8
            case 0x0D: out += "\\r".utf8
            case 0x09: out += "\\t".utf8
            case 0x08: out += "\\b".utf8
            case 0x0C: out += "\\f".utf8
            case ..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += "\\u00".utf8
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 15)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16;
    /// non-finite values as Python's json writes them (`Infinity`, `-Infinity`, `NaN`: not JSON,
    /// but what Hugging Face config files hold, and only `JSONParser(allowNonFiniteNumbers:)` reads).
    static func pythonRepr(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        if d == d.rounded(), abs(d) < 1e16 { return String(Int64(d)) + ".0" }
        let swift = "\(d)"  // shortest round-trip, e.g. "1e-05", "0.0001", "1.5e+20"
        return swift
    }
}
