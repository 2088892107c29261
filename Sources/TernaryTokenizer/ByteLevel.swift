/// GPT-2's reversible map from bytes to printable Unicode characters, so that every byte sequence
/// is a string of vocabulary characters (printable Latin-1 maps to itself, the rest to U+0100…).
enum ByteLevel {
    static let byteToScalar: [Unicode.Scalar] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var scalars = printable.map { UInt32($0) }
        var next: UInt32 = 256
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            scalars.append(next)
            next += 1
        }
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        for (b, s) in zip(printable, scalars) { table[b] = Unicode.Scalar(s)! }
        return table
    }()

    /// Scalar value → byte, for the 256 byte characters (all below U+0144).
    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// Scalar value → byte (−1: not a byte character), for every scalar below U+0144.
    private static let byteTable: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, s) in byteToScalar.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    @inline(__always) static func byte(of scalar: Unicode.Scalar) -> UInt8? {
        guard scalar.value < 0x144 else { return nil }
        let b = byteTable[Int(scalar.value)]
        return b < 0 ? nil : UInt8(b)
    }

    /// As `bytes(of:)`, through the table.
    static func fastBytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            guard let b = byte(of: scalar) else { return nil }
            out.append(b)
        }
        return out
    }

    /// A vocabulary string back to its bytes; nil if it holds a character outside the byte map.
    static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        for scalar in token.unicodeScalars {
            guard let b = scalarToByte[scalar.value] else { return nil }
            out.append(b)
        }
        return out
    }

    /// Text → its UTF-8 bytes as byte characters (what a byte-level BPE word is made of).
    static func encode(_ text: String) -> String {
        var view = String.UnicodeScalarView()
        for b in text.utf8 { view.append(byteToScalar[Int(b)]) }
        return String(view)
    }
}
