/// The `t1.6` layout (docs/FORMAT.md, "t1.6 matrices"): five ternary weights per byte.
///
/// A row of `K` weights is padded with zeros to a multiple of 320 (`blockWeights`) and stored as
/// blocks of 64 bytes. Byte `j` of a block is the base-3 number `c0 + 3·c1 + 9·c2 + 27·c3 + 81·c4`
/// (0…242) of the codes `c_i = w + 1` of positions `64·i + j`, so each of the five digits gives
/// 64 consecutive positions: 1.6 bits per weight against the 2-bit layout's 2.
public enum Base3Layout {
    public static let blockWeights = 320
    public static let blockBytes = 64
    /// The largest byte value: five codes of 2.
    public static let maxByte: UInt8 = 242

    /// `k` rounded up to a whole number of blocks.
    @inlinable public static func paddedLength(_ k: Int) -> Int {
        (k + blockWeights - 1) / blockWeights * blockWeights
    }

    /// Bytes of one packed row of `k` weights.
    @inlinable public static func rowBytes(_ k: Int) -> Int { paddedLength(k) / 5 }

    /// Packs one row of ternary values (each −1, 0 or +1) into `out` (`rowBytes(weights.count)` bytes).
    public static func packRow(_ weights: UnsafeBufferPointer<Int8>, into out: UnsafeMutableRawBufferPointer) {
        let padded = paddedLength(weights.count)
        precondition(out.count == padded / 5, "output must hold rowBytes(k) bytes")
        for blockStart in stride(from: 0, to: padded, by: blockWeights) {
            for j in 0..<blockBytes {
                var value = 0
                for i in stride(from: 4, through: 0, by: -1) {
                    let position = blockStart + 64 * i + j
                    let w: Int8 = position < weights.count ? weights[position] : 0
                    precondition(w >= -1 && w <= 1, "ternary weights must be -1, 0 or +1")
                    value = value * 3 + Int(w + 1)
                }
                out[blockStart / 5 + j] = UInt8(value)
            }
        }
    }

    /// Unpacks the first `count` weights of a packed row.
    public static func unpackRow(_ packed: UnsafeRawBufferPointer, count: Int) -> [Int8] {
        (0..<count).map { weight(at: $0, of: packed) }
    }

    /// The ternary weight at `position` of a packed row.
    @inlinable public static func weight(at position: Int, of packed: UnsafeRawBufferPointer) -> Int8 {
        let within = position % blockWeights
        let byte = Int(packed[position / blockWeights * blockBytes + within % 64])
        return Int8(digit(byte, within / 64)) - 1
    }

    /// Digit `i` (0…4) of a byte in base 3.
    @inlinable public static func digit(_ byte: Int, _ i: Int) -> Int {
        var v = byte
        for _ in 0..<i { v /= 3 }
        return v % 3
    }
}
