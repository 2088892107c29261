/// A strict JSON reader (RFC 8259): a duplicate key in an object, a byte that is not UTF-8 inside a
/// string, trailing commas, comments or anything after the value are errors with a line and column.
/// Two readers of one file must never see two different models (Python's `json` keeps the last of
/// duplicate keys, Swift's JSONDecoder the first), so the file is refused instead.
///
/// `allowNonFiniteNumbers` accepts the `Infinity`, `-Infinity` and `NaN` literals that Python's
/// `json.dumps` writes, as Hugging Face does in some config.json files (Mamba-2's `time_step_limit`),
/// and the `{"__float__": "Infinity"}` objects that transformers 5 writes in their place.
public struct JSONParser {
    public struct SyntaxError: Error, CustomStringConvertible, Equatable {
        public let line: Int
        public let column: Int
        public let reason: String
        public var description: String { "line \(line), column \(column): \(reason)" }
    }

    public var allowNonFiniteNumbers = false
    /// Nesting deeper than this is refused (a hostile file cannot exhaust the stack).
    public var maximumDepth = 256

    public init(allowNonFiniteNumbers: Bool = false) { self.allowNonFiniteNumbers = allowNonFiniteNumbers }

    /// The value `bytes` holds, or a `SyntaxError`.
    public func parse<Bytes: Collection>(_ bytes: Bytes) throws -> JSONValue where Bytes.Element == UInt8 {
        if let value = try bytes.withContiguousStorageIfAvailable({ try parse(buffer: UnsafeRawBufferPointer($0)) }) {
            return value
        }
        return try Array(bytes).withUnsafeBytes { try parse(buffer: $0) }
    }

    public func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try parse(buffer: UnsafeRawBufferPointer($0)) }
    }

    private func parse(buffer: UnsafeRawBufferPointer) throws -> JSONValue {
        var scanner = Scanner(bytes: buffer, options: self)
        scanner.skipWhitespace()
        let value = try scanner.value(depth: 0)
        scanner.skipWhitespace()
        guard scanner.index == buffer.count else { throw scanner.error("unexpected text after the JSON value") }
        return value
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        let options: JSONParser
        var index = 0

        init(bytes: UnsafeRawBufferPointer, options: JSONParser) {
            self.bytes = bytes
            self.options = options
        }

        func error(_ reason: String, at offset: Int? = nil) -> SyntaxError {
            let end = min(offset ?? index, bytes.count)
            var line = 1, column = 1
            for i in 0..<end {
                if bytes[i] == UInt8(ascii: "\n") { line += 1; column = 1 } else if bytes[i] & 0xC0 != 0x80 { column += 1 }
            }
            return SyntaxError(line: line, column: column, reason: reason)
        }

        @inline(__always) var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < options.maximumDepth else { throw error("nested more than \(options.maximumDepth) levels deep") }
            guard let c = current else { throw error("unexpected end of the text, expected a value") }
            switch c {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "N") where options.allowNonFiniteNumbers: try literal("NaN"); return .double(.nan)
            case UInt8(ascii: "I") where options.allowNonFiniteNumbers: try literal("Infinity"); return .double(.infinity)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw error("unexpected character '\(Self.describe(c))', expected a value")
            }
        }

        /// transformers 5 writes a non-finite float as `{"__float__": "Infinity"}` (also "-Infinity",
        /// "NaN") where earlier versions wrote the bare literal; read either as the number.
        static func taggedFloat(_ pairs: [(String, JSONValue)]) -> JSONValue? {
            guard pairs.count == 1, pairs[0].0 == "__float__", case .string(let tag) = pairs[0].1 else { return nil }
            switch tag {
            case "Infinity": return .double(.infinity)
            case "-Infinity": return .double(-.infinity)
            case "NaN": return .double(.nan)
            default: return nil
            }
        }

        static func describe(_ c: UInt8) -> String {
            c >= 0x20 && c < 0x7F ? String(UnicodeScalar(c)) : "\\u{\(String(c, radix: 16))}"
        }

        mutating func literal(_ word: StaticString) throws {
            let start = index
            let length = word.utf8CodeUnitCount
            guard index + length <= bytes.count else { throw error("unexpected end of the text in '\(word)'", at: start) }
            for i in 0..<length where bytes[index + i] != word.utf8Start[i] {
                throw error("unexpected character '\(Self.describe(bytes[index + i]))', expected '\(word)'", at: index + i)
            }
            index += length
        }

        mutating func object(depth: Int) throws -> JSONValue {
            index += 1  // {
            var pairs: [(String, JSONValue)] = []
            var seen = Set<String>()
            skipWhitespace()
            if current == UInt8(ascii: "}") { index += 1; return .object(pairs) }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error(current == nil ? "unexpected end of the text inside an object" : "expected a string key") }
                let keyStart = index
                let key = try string()
                guard seen.insert(key).inserted else { throw error("duplicate key \"\(key)\" in an object", at: keyStart) }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':' after the key \"\(key)\"") }
                index += 1
                skipWhitespace()
                pairs.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return options.allowNonFiniteNumbers ? Self.taggedFloat(pairs) ?? .object(pairs) : .object(pairs)
                case nil: throw error("unexpected end of the text inside an object")
                default: throw error("expected ',' or '}' in an object")
                }
            }
        }

        mutating func array(depth: Int) throws -> JSONValue {
            index += 1  // [
            var items: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { index += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return .array(items)
                case nil: throw error("unexpected end of the text inside an array")
                default: throw error("expected ',' or ']' in an array")
                }
            }
        }

        mutating func number() throws -> JSONValue {
            let start = index
            if current == UInt8(ascii: "-") {
                index += 1
                if options.allowNonFiniteNumbers, current == UInt8(ascii: "I") { try literal("Infinity"); return .double(-.infinity) }
            }
            guard let first = current, first >= 0x30, first <= 0x39 else { throw error("expected a digit") }
            index += 1
            if first == UInt8(ascii: "0"), let next = current, next >= 0x30, next <= 0x39 {
                throw error("a number cannot start with 0 followed by digits")
            }
            digits()
            var integral = true
            if current == UInt8(ascii: ".") {
                integral = false
                index += 1
                guard digits() > 0 else { throw error("expected a digit after the decimal point") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                integral = false
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { throw error("expected a digit in the exponent") }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if integral, let int = Int(text) { return .int(int) }
            guard let double = Double(text) else { throw error("'\(text)' is not a number", at: start) }
            // A literal too large for a double is an error, not an infinity that no strict reader
            // could read back (Infinity is its own literal where allowed).
            guard double.isFinite || options.allowNonFiniteNumbers else { throw error("'\(text)' is too large for a number", at: start) }
            return .double(double)
        }

        @discardableResult
        mutating func digits() -> Int {
            let start = index
            while let c = current, c >= 0x30, c <= 0x39 { index += 1 }
            return index - start
        }

        mutating func string() throws -> String {
            let open = index
            index += 1  // "
            let start = index
            // Fast path: no escapes.
            while index < bytes.count {
                let c = bytes[index]
                if c == UInt8(ascii: "\"") {
                    let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    guard let s = String(validating: raw, as: UTF8.self) else { throw error("a string holds bytes that are not UTF-8", at: open) }
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw error("a control character inside a string must be escaped") }
                index += 1
            }
            var utf8 = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            while true {
                guard let c = current else { throw error("unexpected end of the text inside a string", at: open) }
                index += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: utf8, as: UTF8.self) else { throw error("a string holds bytes that are not UTF-8", at: open) }
                    return s
                case UInt8(ascii: "\\"):
                    guard let e = current else { throw error("unexpected end of the text inside a string", at: open) }
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""): utf8.append(0x22)
                    case UInt8(ascii: "\\"): utf8.append(0x5C)
                    case UInt8(ascii: "/"): utf8.append(0x2F)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if scalar >= 0xD800, scalar < 0xDC00 {
                            guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                                throw error("a high surrogate \\u\(String(scalar, radix: 16)) is not followed by a low one")
                            }
                            index += 2
                            let low = try hex4()
                            guard low >= 0xDC00, low < 0xE000 else { throw error("\\u\(String(low, radix: 16)) is not a low surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if scalar >= 0xDC00, scalar < 0xE000 {
                            throw error("a lone low surrogate \\u\(String(scalar, radix: 16))")
                        }
                        utf8.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                    default: throw error("unknown escape '\\\(Self.describe(e))' in a string")
                    }
                default:
                    if c < 0x20 { throw error("a control character inside a string must be escaped") }
                    utf8.append(c)
                }
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("unexpected end of the text in a \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                let digit: UInt32
                switch c {
                case 0x30...0x39: digit = UInt32(c - 0x30)
                case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
                default: throw error("'\(Self.describe(c))' is not a hex digit in a \\u escape")
                }
                v = v << 4 | digit
                index += 1
            }
            return v
        }
    }
}
