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

    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// A vocabulary string back to its bytes; nil if it holds a character outside the byte map.
    static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        for scalar in token.unicodeScalars {
            guard let b = scalarToByte[scalar.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
