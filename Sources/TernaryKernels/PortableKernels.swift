/// Portable Swift SIMD kernels for CPUs without a hand-written path (ARM among them).
enum PortableKernels {
    static func ternaryGEMV(
        weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
        x: UnsafePointer<Int8>, xSum: Int32, out: UnsafeMutablePointer<Int32>
    ) {
        let blocks = rowBytes / TernaryLayout.blockBytes
        let xr = UnsafeRawPointer(x)
        for r in 0..<rows {
            let row = weights + r * rowBytes
            var acc = SIMD16<Int32>()
            for block in 0..<blocks {
                let packed = row.loadUnaligned(fromByteOffset: block * 16, as: SIMD16<UInt8>.self)
                for k in 0..<4 {
                    let codes = SIMD16<Int32>(truncatingIfNeeded: (packed &>> UInt8(2 * k)) & 3)
                    let xs = SIMD16<Int32>(
                        truncatingIfNeeded: xr.loadUnaligned(fromByteOffset: block * 64 + 16 * k, as: SIMD16<Int8>.self))
                    acc &+= codes &* xs
                }
            }
            out[r] = acc.wrappedSum() &- xSum
        }
    }

    static func int8GEMV(
        weights: UnsafePointer<Int8>, rowLength: Int, rows: Int,
        x: UnsafePointer<Int8>, out: UnsafeMutablePointer<Int32>
    ) {
        let xr = UnsafeRawPointer(x)
        for r in 0..<rows {
            let row = UnsafeRawPointer(weights + r * rowLength)
            var acc = SIMD16<Int32>()
            for k in stride(from: 0, to: rowLength, by: 16) {
                let w = SIMD16<Int32>(truncatingIfNeeded: row.loadUnaligned(fromByteOffset: k, as: SIMD16<Int8>.self))
                let v = SIMD16<Int32>(truncatingIfNeeded: xr.loadUnaligned(fromByteOffset: k, as: SIMD16<Int8>.self))
                acc &+= w &* v
            }
            out[r] = acc.wrappedSum()
        }
    }
}
