/// Checks of tensor values that a strict reader of docs/FORMAT.md makes: floats finite, ternary codes
/// in 0…2 with padding code 1, int8 weights in −127…127. A NaN hidden in a norm weight would
/// otherwise be laundered into finite garbage by the int8 activation quantizer, and a code 3 would
/// silently act as a weight of 2. The scans read words, so they cost about one pass over the data.
public enum TensorValues {
    /// The index of the first value that is NaN or infinite in an F32, F16 or BF16 tensor.
    public static func firstNonFinite(_ view: TensorView) -> Int? {
        switch view.dtype {
        case .f32: first(view.data, as: UInt32.self) { $0 & 0x7F80_0000 == 0x7F80_0000 }
        case .f16: first(view.data, as: UInt16.self) { $0 & 0x7C00 == 0x7C00 }
        case .bf16: first(view.data, as: UInt16.self) { $0 & 0x7F80 == 0x7F80 }
        default: nil
        }
    }

    /// The offset of the first byte of 2-bit ternary codes that holds the code 3.
    public static func firstInvalidTernaryByte(_ data: UnsafeRawBufferPointer) -> Int? {
        // A code is 3 when both of its bits are set: byte & (byte >> 1) & 0b01010101 ≠ 0.
        first(data, as: UInt64.self, chunkBad: { $0 & ($0 >> 1) & 0x5555_5555_5555_5555 != 0 }) { $0 & ($0 >> 1) & 0x55 != 0 }
    }

    /// The offset of the first int8 value −128 (int8 weights are −127…127).
    public static func firstInt8Minimum(_ data: UnsafeRawBufferPointer) -> Int? {
        first(data, as: UInt8.self) { $0 == 0x80 }
    }

    /// The first element matching `bad`, scanned in blocks that are checked without branching.
    private static func first<T: FixedWidthInteger>(_ data: UnsafeRawBufferPointer, as type: T.Type, _ bad: (T) -> Bool) -> Int? {
        let n = data.count / MemoryLayout<T>.size
        let block = 4096
        var start = 0
        while start < n {
            let end = min(n, start + block)
            var any = false
            for i in start..<end { any = any || bad(data.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)) }
            if any { return (start..<end).first { bad(data.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) } }
            start = end
        }
        return nil
    }

    /// As `first(_:as:_:)` for bytes, testing eight at a time with `chunkBad`.
    private static func first(_ data: UnsafeRawBufferPointer, as type: UInt64.Type, chunkBad: (UInt64) -> Bool, _ byteBad: (UInt8) -> Bool) -> Int? {
        let words = data.count / 8
        var i = 0
        while i < words {
            let end = min(words, i + 4096)
            var any = false
            for w in i..<end { any = any || chunkBad(data.loadUnaligned(fromByteOffset: 8 * w, as: UInt64.self)) }
            if any { return (8 * i..<8 * end).first { byteBad(data[$0]) } }
            i = end
        }
        return (8 * words..<data.count).first { byteBad(data[$0]) }
    }
}
