/// The packed ternary layout (docs/FORMAT.md, "Ternary matrices").
///
/// A row of `K` weights is padded with zeros to a multiple of 64 (`blockWeights`) and stored as
/// blocks of 16 bytes. In a block, byte `j` holds in bits `2k..2k+1` the code `w + 1` of position
/// `16k + j`, so code 0 is −1, 1 is 0 and 2 is +1 (3 is never written). Read as little-endian
/// `UInt32`, a row is `paddedLength(K) / 16` words: 16 weights per word.
public enum TernaryLayout {
    public static let blockWeights = 64
    public static let blockBytes = 16
    public static let weightsPerWord = 16

    /// `k` rounded up to a whole number of blocks.
    @inlinable public static func paddedLength(_ k: Int) -> Int {
        (k + blockWeights - 1) / blockWeights * blockWeights
    }

    /// Bytes of one packed row of `k` weights.
    @inlinable public static func rowBytes(_ k: Int) -> Int { paddedLength(k) / 4 }

    /// Packs one row of ternary values (each −1, 0 or +1) into `out` (`rowBytes(weights.count)` bytes).
    public static func packRow(_ weights: UnsafeBufferPointer<Int8>, into out: UnsafeMutableRawBufferPointer) {
        let padded = paddedLength(weights.count)
        precondition(out.count == padded / 4, "output must hold rowBytes(k) bytes")
        for blockStart in stride(from: 0, to: padded, by: blockWeights) {
            let byteBase = blockStart / 4
            for j in 0..<16 {
                var byte: UInt8 = 0
                for k in 0..<4 {
                    let position = blockStart + 16 * k + j
                    let w: Int8 = position < weights.count ? weights[position] : 0
                    precondition(w >= -1 && w <= 1, "ternary weights must be -1, 0 or +1")
                    byte |= UInt8(w + 1) << UInt8(2 * k)
                }
                out[byteBase + j] = byte
            }
        }
    }

    /// Unpacks the first `count` weights of a packed row.
    public static func unpackRow(_ packed: UnsafeRawBufferPointer, count: Int) -> [Int8] {
        var result = [Int8](repeating: 0, count: count)
        for position in 0..<count { result[position] = weight(at: position, of: packed) }
        return result
    }

    /// The ternary weight at `position` of a packed row.
    @inlinable public static func weight(at position: Int, of packed: UnsafeRawBufferPointer) -> Int8 {
        let block = position / blockWeights
        let within = position % blockWeights
        let byte = packed[block * blockBytes + within % 16]
        let code = (byte >> UInt8(2 * (within / 16))) & 3
        return Int8(code) - 1
    }
}
