/// Portable Swift SIMD kernels for CPUs without a hand-written path (ARM among them).
enum PortableKernels {
    /// Each block is unpacked into 64 codes, then a plain integer dot product that LLVM
    /// vectorises for the target (NEON, SSE, …); Swift's generic SIMD conversions are not used
    /// because they compile to per-lane code.
    static func ternaryGEMV(
        weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
        x: UnsafePointer<Int8>, xSum: Int32, out: UnsafeMutablePointer<Int32>
    ) {
        let blocks = rowBytes / TernaryLayout.blockBytes
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { codes in
            let c = codes.baseAddress!
            for r in 0..<rows {
                let row = (weights + r * rowBytes).assumingMemoryBound(to: UInt8.self)
                var acc: Int32 = 0
                for block in 0..<blocks {
                    let packed = row + block * 16
                    for j in 0..<16 {
                        let byte = packed[j]
                        c[j] = byte & 3
                        c[16 + j] = (byte >> 2) & 3
                        c[32 + j] = (byte >> 4) & 3
                        c[48 + j] = byte >> 6
                    }
                    let xs = x + block * 64
                    var blockSum: Int32 = 0
                    for i in 0..<64 { blockSum &+= Int32(c[i]) &* Int32(xs[i]) }
                    acc &+= blockSum
                }
                out[r] = acc &- xSum
            }
        }
    }

    /// Codes of every byte value of the `t1.6` layout: `base3Codes[5·q + i]` = digit i of q.
    static let base3Codes: [UInt8] = (0..<256).flatMap { q in (0..<5).map { UInt8(q < 243 ? Base3Layout.digit(q, $0) : 0) } }

    /// `t1.6` rows: each block is unpacked into 320 codes by table, then a plain dot product.
    static func base3GEMV(
        weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
        x: UnsafePointer<Int8>, xSum: Int32, out: UnsafeMutablePointer<Int32>
    ) {
        let blocks = rowBytes / Base3Layout.blockBytes
        base3Codes.withUnsafeBufferPointer { table in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 320) { codes in
                let c = codes.baseAddress!, t = table.baseAddress!
                for r in 0..<rows {
                    let row = (weights + r * rowBytes).assumingMemoryBound(to: UInt8.self)
                    var acc: Int32 = 0
                    for block in 0..<blocks {
                        let packed = row + block * 64
                        for j in 0..<64 {
                            let e = t + 5 * Int(packed[j])
                            c[j] = e[0]; c[64 + j] = e[1]; c[128 + j] = e[2]; c[192 + j] = e[3]; c[256 + j] = e[4]
                        }
                        let xs = x + block * 320
                        var blockSum: Int32 = 0
                        for i in 0..<320 { blockSum &+= Int32(c[i]) &* Int32(xs[i]) }
                        acc &+= blockSum
                    }
                    out[r] = acc &- xSum
                }
            }
        }
    }

    static func int8GEMV(
        weights: UnsafePointer<Int8>, rowLength: Int, rows: Int,
        x: UnsafePointer<Int8>, out: UnsafeMutablePointer<Int32>
    ) {
        for r in 0..<rows {
            let row = weights + r * rowLength
            var acc: Int32 = 0
            for k in 0..<rowLength { acc &+= Int32(row[k]) &* Int32(x[k]) }
            out[r] = acc
        }
    }
}
