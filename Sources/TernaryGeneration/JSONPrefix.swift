/// Checks, one byte at a time, that a text is the beginning of one JSON object (RFC 8259, UTF-8):
/// what JSON mode (`OutputFormat.jsonObject`) holds a generation to. The state is a few bytes,
/// so checking a token's bytes from a copy costs no allocation. `JSONSchemaPrefix` uses one for
/// each string, number and unconstrained value (`anyValue`: any JSON value, not only an object).
///
/// Two limits keep a model from running on without ending its object, as llama.cpp's JSON grammar
/// does: at most `maxDepth` nested containers, and whitespace between tokens of the document only
/// as one space, or one line break and up to 20 spaces or tabs (`WhitespaceRun`): enough for
/// pretty-printing, not for a model that would rather write blank lines forever.
public struct JSONPrefix: ByteChecker, Sendable, Equatable {
    public static let maxDepth = 64

    enum Mode: UInt8 {
        case start          // before the top-level object
        case objectFirst    // after `{`: a key or `}`
        case key            // after `,` in an object: a key
        case colon          // after a key
        case value          // after `:` or `,` in an array
        case arrayFirst     // after `[`: a value or `]`
        case afterValue     // after a value inside a container: `,` or its close
        case string         // inside a string (a key when `inKey`)
        case escape         // after `\` in a string
        case hex            // in `\uXXXX`: `count` digits still to come
        case utf8           // inside a multi-byte character: `count` continuation bytes to come
        case literal        // inside true/false/null
        case minus          // after `-`: a digit
        case zero           // after a leading 0: `.`, `e`, or the number's end
        case integer        // in the integer digits
        case point          // after `.`: a digit
        case fraction       // in the fraction digits
        case exponentMark   // after `e`: a sign or a digit
        case exponentSign   // after the exponent's sign: a digit
        case exponent       // in the exponent digits
        case done           // the object is closed; only whitespace may follow
    }

    /// The literals' letters, one after another: true at 0, false at 4, null at 9.
    private static let letters: StaticString = "truefalsenull"

    var mode = Mode.start
    /// Containers open, innermost in bit depth − 1 (1: object, 0: array).
    private var depth: UInt8 = 0
    private var objects: UInt64 = 0
    private var inKey = false
    private var count: UInt8 = 0
    private var literal: UInt8 = 0
    /// The bounds of the next UTF-8 continuation byte (narrower after E0, ED, F0, F4).
    private var low: UInt8 = 0x80, high: UInt8 = 0xBF
    private var whitespace = WhitespaceRun()

    /// Whether the top level may be any JSON value rather than only an object.
    private var anyValue = false

    public init() {}

    init(anyValue: Bool) { self.anyValue = anyValue }

    /// Whether the text is a whole number that a following byte may end (or continue): a number at
    /// the top level has no closing byte of its own.
    var mayEndBeforeNextByte: Bool {
        depth == 0 && (mode == .zero || mode == .integer || mode == .fraction || mode == .exponent)
    }

    /// Whether the next byte continues a number's digits (the number has begun).
    var inNumber: Bool {
        switch mode {
        case .minus, .zero, .integer, .point, .fraction, .exponentMark, .exponentSign, .exponent: true
        default: false
        }
    }

    /// Whether the next byte starts a character of a string (not inside an escape or a multi-byte
    /// character).
    var atStringCharacter: Bool { mode == .string }

    /// Whether the text so far is one whole JSON object (and possibly whitespace after it).
    public var isComplete: Bool { mode == .done }

    /// Takes one byte; false (and an unspecified state) when no JSON object can have it here.
    public mutating func consume(_ byte: UInt8) -> Bool {
        switch mode {
        case .string: return stringByte(byte)
        case .escape:
            switch byte {
            case UInt8(ascii: "u"): mode = .hex; count = 4
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                 UInt8(ascii: "r"), UInt8(ascii: "t"): mode = .string
            default: return false
            }
            return true
        case .hex:
            guard Self.isHexDigit(byte) else { return false }
            count -= 1
            if count == 0 { mode = .string }
            return true
        case .utf8:
            guard byte >= low, byte <= high else { return false }
            low = 0x80; high = 0xBF
            count -= 1
            if count == 0 { mode = .string }
            return true
        case .literal:
            // `literal` is where the word starts in `letters`, `count` how many of its letters came.
            guard byte == Self.letters.utf8Start[Int(literal + count)] else { return false }
            count += 1
            if count == (literal == 4 ? 5 : 4) { return endValue() }
            return true
        case .minus:
            guard Self.isDigit(byte) else { return false }
            mode = byte == UInt8(ascii: "0") ? .zero : .integer
            return true
        case .zero, .integer:
            if mode == .integer, Self.isDigit(byte) { return true }
            if byte == UInt8(ascii: ".") { mode = .point; return true }
            if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { mode = .exponentMark; return true }
            return endNumber(then: byte)
        case .point:
            guard Self.isDigit(byte) else { return false }
            mode = .fraction
            return true
        case .fraction:
            if Self.isDigit(byte) { return true }
            if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { mode = .exponentMark; return true }
            return endNumber(then: byte)
        case .exponentMark:
            if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") { mode = .exponentSign; return true }
            guard Self.isDigit(byte) else { return false }
            mode = .exponent
            return true
        case .exponentSign:
            guard Self.isDigit(byte) else { return false }
            mode = .exponent
            return true
        case .exponent:
            if Self.isDigit(byte) { return true }
            return endNumber(then: byte)
        default: return structural(byte)
        }
    }

    /// A byte between tokens: whitespace, punctuation, or the start of a value.
    private mutating func structural(_ byte: UInt8) -> Bool {
        if WhitespaceRun.isWhitespace(byte) { return whitespace.take(byte) }
        whitespace = WhitespaceRun()
        switch (mode, byte) {
        case (.start, _) where anyValue: return startValue(byte)
        case (.start, UInt8(ascii: "{")): return open(object: true)
        case (.objectFirst, UInt8(ascii: "\"")), (.key, UInt8(ascii: "\"")):
            mode = .string; inKey = true
            return true
        case (.objectFirst, UInt8(ascii: "}")): return close()
        case (.arrayFirst, UInt8(ascii: "]")): return close()
        case (.colon, UInt8(ascii: ":")): mode = .value; return true
        case (.afterValue, UInt8(ascii: ",")): mode = innermostIsObject ? .key : .value; return true
        case (.afterValue, UInt8(ascii: "}")): return innermostIsObject && close()
        case (.afterValue, UInt8(ascii: "]")): return !innermostIsObject && close()
        case (.value, _), (.arrayFirst, _): return startValue(byte)
        default: return false
        }
    }

    private mutating func startValue(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "{"): return open(object: true)
        case UInt8(ascii: "["): return open(object: false)
        case UInt8(ascii: "\""): mode = .string; inKey = false
        case UInt8(ascii: "-"): mode = .minus
        case UInt8(ascii: "0"): mode = .zero
        case UInt8(ascii: "1")...UInt8(ascii: "9"): mode = .integer
        case UInt8(ascii: "t"): mode = .literal; literal = 0; count = 1
        case UInt8(ascii: "f"): mode = .literal; literal = 4; count = 1
        case UInt8(ascii: "n"): mode = .literal; literal = 9; count = 1
        default: return false
        }
        return true
    }

    private mutating func stringByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "\""):
            if inKey { mode = .colon; inKey = false; return true }
            return endValue()
        case UInt8(ascii: "\\"): mode = .escape
        case 0..<0x20: return false
        case 0x20..<0x80: break
        // UTF-8 lead bytes (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
        case 0xC2...0xDF: mode = .utf8; count = 1
        case 0xE0: mode = .utf8; count = 2; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: mode = .utf8; count = 2
        case 0xED: mode = .utf8; count = 2; high = 0x9F
        case 0xF0: mode = .utf8; count = 3; low = 0x90
        case 0xF1...0xF3: mode = .utf8; count = 3
        case 0xF4: mode = .utf8; count = 3; high = 0x8F
        default: return false
        }
        return true
    }

    private var innermostIsObject: Bool { objects >> (UInt64(depth) - 1) & 1 == 1 }

    private mutating func open(object: Bool) -> Bool {
        guard Int(depth) < Self.maxDepth else { return false }
        if object { objects |= 1 << UInt64(depth) } else { objects &= ~(1 << UInt64(depth)) }
        depth += 1
        mode = object ? .objectFirst : .arrayFirst
        return true
    }

    private mutating func close() -> Bool {
        depth -= 1
        return endValue()
    }

    /// A value ended: the object is done at depth 0, otherwise a `,` or a close comes next.
    private mutating func endValue() -> Bool {
        mode = depth == 0 ? .done : .afterValue
        whitespace = WhitespaceRun()
        return true
    }

    /// A number ended at `byte`, which belongs to what follows it.
    private mutating func endNumber(then byte: UInt8) -> Bool {
        _ = endValue()
        return structural(byte)
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    private static func isHexDigit(_ b: UInt8) -> Bool {
        isDigit(b) || (b | 0x20 >= UInt8(ascii: "a") && b | 0x20 <= UInt8(ascii: "f"))
    }
}

/// A format's checker: takes a text one byte at a time (`JSONPrefix`, `JSONSchemaPrefix`).
public protocol ByteChecker: Equatable {
    /// Takes one byte; false (and an unspecified state) when no text of the format can have it here.
    mutating func consume(_ byte: UInt8) -> Bool
    /// Whether the text so far is whole.
    var isComplete: Bool { get }
}

extension ByteChecker {
    /// Takes every byte; false (and an unspecified state) at the first one the format refuses.
    public mutating func consume<Bytes: Sequence>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        for byte in bytes where !consume(byte) { return false }
        return true
    }
}

/// Whitespace between the tokens of a JSON text, as llama.cpp's JSON grammar allows it: one
/// space, or a line break and up to 20 spaces or tabs (its indentation).
struct WhitespaceRun: Equatable {
    static let maxIndent = 20
    private var length: UInt8 = 0
    private var lineBreak = false

    static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    mutating func take(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x0A where length == 0: lineBreak = true
        case 0x20 where length == 0: break
        case 0x20, 0x09: guard lineBreak, length <= Self.maxIndent else { return false }
        default: return false
        }
        length += 1
        return true
    }
}
