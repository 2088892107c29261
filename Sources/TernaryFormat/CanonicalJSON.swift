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
        var out = ""
        write(into: &out, sortKeys: sortKeys)
        return out
    }

    private func write(into out: inout String, sortKeys: Bool) {
        switch self {
        case .null: out += "null"
        case let .string(s): JSONValue.writeString(s, into: &out)
        case let .int(i): out += String(i)
        case let .double(d): out += JSONValue.pythonRepr(d)
        case let .bool(b): out += b ? "true" : "false"
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out, sortKeys: sortKeys)
            }
            out += "]"
        case let .object(pairs):
            out += "{"
            let ordered = sortKeys ? pairs.sorted { Array($0.0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.0.unicodeScalars.map(\.value)) } : pairs
            for (i, (key, value)) in ordered.enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(key, into: &out)
                out += ":"
                value.write(into: &out, sortKeys: sortKeys)
            }
            out += "}"
        }
    }

    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16.
    static func pythonRepr(_ d: Double) -> String {
        precondition(d.isFinite, "JSON cannot hold \(d)")
        if d == d.rounded(), abs(d) < 1e16 { return String(Int64(d)) + ".0" }
        let swift = "\(d)"  // shortest round-trip, e.g. "1e-05", "0.0001", "1.5e+20"
        return swift
    }
}
