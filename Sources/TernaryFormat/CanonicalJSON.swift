/// A deterministic JSON writer, byte-compatible with Python's
/// `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` for the values we
/// write (strings, integers, booleans, finite doubles, arrays, objects). Both the Swift packer and
/// the Python exporter use this form, so their files are byte-identical.
public enum JSONValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.serialized() == b.serialized() }

    /// `sorted`: sort object keys (Python's sort_keys); otherwise keep insertion order.
    public func serialized(sortKeys: Bool = true) -> String {
        var out = ""
        write(into: &out, sortKeys: sortKeys)
        return out
    }

    private func write(into out: inout String, sortKeys: Bool) {
        switch self {
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
