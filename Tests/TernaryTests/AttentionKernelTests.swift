import Testing
@testable import TernaryKernels

/// The attention kernels against plain loops in double precision, for head sizes that exercise
/// every vector width (64-wide blocks, 8-wide, scalar tail) and keys/values rows with a stride.
@Suite("Attention kernels")
struct AttentionKernelTests {
    static let widths = [1, 7, 8, 16, 24, 64, 72, 100, 128]

    func randomFloats(_ n: Int, _ rng: inout SplitMix64) -> [Float] {
        (0..<n).map { _ in Float(Int.random(in: -1000...1000, using: &rng)) / 500 }
    }

    @Test("scores equal q · key for f32 and f16 rows with a stride", arguments: widths)
    func scores(width n: Int) {
        var rng = SplitMix64(seed: UInt64(n))
        let stride = n + 5, count = 37
        let q = randomFloats(n, &rng)
        let keys = randomFloats(stride * count, &rng)
        let halfKeys = keys.map { Float16($0) }
        var fromF32 = [Float](repeating: .nan, count: count), fromF16 = fromF32
        AttentionKernels.scores(query: q, keys: keys, stride: stride, count: count, width: n, scale: 0.125, into: &fromF32)
        AttentionKernels.scores(query: q, keys: halfKeys, stride: stride, count: count, width: n, scale: 0.125, into: &fromF16)
        for j in 0..<count {
            var exact = 0.0, exactHalf = 0.0
            for i in 0..<n {
                exact += Double(q[i]) * Double(keys[j * stride + i])
                exactHalf += Double(q[i]) * Double(Float(halfKeys[j * stride + i]))
            }
            #expect(abs(Double(fromF32[j]) - exact * 0.125) <= 1e-5 * Double(n), "f32 n=\(n) j=\(j)")
            #expect(abs(Double(fromF16[j]) - exactHalf * 0.125) <= 1e-5 * Double(n), "f16 n=\(n) j=\(j)")
        }
    }

    @Test("value sums add Σ p_j · value_j to the output for f32 and f16 rows with a stride", arguments: widths)
    func values(width n: Int) {
        var rng = SplitMix64(seed: 100 + UInt64(n))
        let stride = n + 3, count = 29
        let p = randomFloats(count, &rng)
        let values = randomFloats(stride * count, &rng)
        let halfValues = values.map { Float16($0) }
        let initial = randomFloats(n, &rng)
        var fromF32 = initial, fromF16 = initial
        AttentionKernels.accumulate(weights: p, values: values, stride: stride, count: count, width: n, into: &fromF32)
        AttentionKernels.accumulate(weights: p, values: halfValues, stride: stride, count: count, width: n, into: &fromF16)
        for i in 0..<n {
            var exact = Double(initial[i]), exactHalf = Double(initial[i])
            for j in 0..<count {
                exact += Double(p[j]) * Double(values[j * stride + i])
                exactHalf += Double(p[j]) * Double(Float(halfValues[j * stride + i]))
            }
            #expect(abs(Double(fromF32[i]) - exact) <= 1e-4, "f32 n=\(n) i=\(i)")
            #expect(abs(Double(fromF16[i]) - exactHalf) <= 1e-4, "f16 n=\(n) i=\(i)")
        }
    }

    /// Swift oracle for the q8 cache rows: the same float arithmetic as the C kernels.
    func quantizeReference(_ x: [Float]) -> (codes: [Int8], scale: Float) {
        let amax = x.map(abs).max() ?? 0
        guard amax > 0 else { return ([Int8](repeating: 0, count: x.count), 0) }
        let inverse = 127 / amax
        return (x.map { Int8(($0 * inverse).rounded(.toNearestOrEven)) }, amax / 127)
    }

    @Test("q8 rows: codes match the round-half-even oracle and reconstruct within half a step", arguments: widths)
    func quantizeRow(width n: Int) {
        var rng = SplitMix64(seed: 200 + UInt64(n))
        for row in 0..<20 {
            let x = randomFloats(n, &rng).map { $0 * Float(row + 1) }
            // A 64-byte aligned destination (as in the KV cache: streaming stores for whole 32-byte
            // pieces) and a misaligned one (plain stores) must give the same codes.
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: n + 64, alignment: 64)
            defer { buffer.deallocate() }
            for offset in [0, 1] {
                let destination = (buffer + offset).bindMemory(to: Int8.self, capacity: n)
                destination.update(repeating: 99, count: n)
                let scale = AttentionKernels.quantizeRow(x, into: destination, count: n)
                let expected = quantizeReference(x)
                #expect(Array(UnsafeBufferPointer(start: destination, count: n)) == expected.codes, "n=\(n) row=\(row) offset=\(offset)")
                #expect(scale == expected.scale)
            }
            var codes = [Int8](repeating: 99, count: n)
            let scale = AttentionKernels.quantizeRow(x, into: &codes, count: n)
            for i in 0..<n { #expect(abs(x[i] - scale * Float(codes[i])) <= scale * 0.5001) }
            if scale > 0 { #expect(codes.map { abs(Int($0)) }.max() == 127) }
        }
        var zeros = [Int8](repeating: 5, count: n)
        #expect(AttentionKernels.quantizeRow([Float](repeating: 0, count: n), into: &zeros, count: n) == 0)
        #expect(zeros.allSatisfy { $0 == 0 })
    }

    @Test("q8 scores and value sums equal the float math on the dequantized rows", arguments: widths)
    func q8Attention(width n: Int) {
        var rng = SplitMix64(seed: 300 + UInt64(n))
        let stride = n + 5, count = 37, scaleStride = 3
        let q = randomFloats(n, &rng), p = randomFloats(count, &rng), initial = randomFloats(n, &rng)
        var codes = [Int8](repeating: 0, count: stride * count)
        var scales = [Float](repeating: .nan, count: scaleStride * count)
        for j in 0..<count {
            let row = randomFloats(n, &rng).map { $0 * Float(j % 5 + 1) }
            let (c, s) = quantizeReference(row)
            for i in 0..<n { codes[j * stride + i] = c[i] }
            scales[j * scaleStride] = s
        }
        var scores = [Float](repeating: .nan, count: count), out = initial
        AttentionKernels.scores(query: q, keys: codes, stride: stride, keyScales: scales, scaleStride: scaleStride,
                                count: count, width: n, scale: 0.125, into: &scores)
        AttentionKernels.accumulate(weights: p, values: codes, stride: stride, valueScales: scales, scaleStride: scaleStride,
                                    count: count, width: n, into: &out)
        // Where the CPU has AVX-512 VNNI the query is itself rounded to int8 (one scale, max|q| / 127)
        // for integer dot products, so each score may be off by up to half a query step times the
        // key's magnitude: |Δ| ≤ 0.5 · (max|q| / 127) · Σ|k_i|.
        let queryStep = Double(q.map(abs).max()!) / 127
        for j in 0..<count {
            var exact = 0.0, magnitude = 0.0
            for i in 0..<n {
                let k = Double(scales[j * scaleStride]) * Double(codes[j * stride + i])
                exact += Double(q[i]) * k
                magnitude += abs(k)
            }
            let bound = (0.5 * queryStep * magnitude + 1e-5 * Double(n) * 5) * 0.125
            #expect(abs(Double(scores[j]) - exact * 0.125) <= bound, "scores n=\(n) j=\(j)")
        }
        for i in 0..<n {
            var exact = Double(initial[i])
            for j in 0..<count { exact += Double(p[j]) * Double(scales[j * scaleStride]) * Double(codes[j * stride + i]) }
            #expect(abs(Double(out[i]) - exact) <= 1e-4 * 5, "values n=\(n) i=\(i)")
        }
    }

    /// The f16 row-block kernels: up to four causal rows of a prefill (row r sees firstCount + r
    /// positions) or the query heads sharing a KV head at one position (each sees firstCount). Each
    /// row's scores and outputs must be bit-identical to the same row run alone (a decode step), so
    /// a token's logits do not depend on the block it ran in, and equal the plain math within float
    /// rounding.
    @Test("row blocks of f16 attention give each row exactly what it gets alone, and the plain math",
          arguments: [false, true], widths + [256])
    func rowBlocks(causal: Bool, width n: Int) {
        var rng = SplitMix64(seed: 400 + UInt64(n))
        let stride = n + 16, positions = 41, scoreStride = 48, queryStride = n + 3, outStride = n + 5
        let keys = randomFloats(stride * positions, &rng).map { Float16($0) }
        let values = randomFloats(stride * positions, &rng).map { Float16($0) }
        let queries = randomFloats(AttentionKernels.maxRows * queryStride, &rng)
        let weights = randomFloats(AttentionKernels.maxRows * scoreStride, &rng)
        let initial = randomFloats(AttentionKernels.maxRows * outStride, &rng)
        for rows in 1...AttentionKernels.maxRows {
            for firstCount in [1, 2, 5, 16, 17, positions - rows + 1] {
                var scores = [Float](repeating: .nan, count: AttentionKernels.maxRows * scoreStride), out = initial
                AttentionKernels.scores(queries: queries, queryStride: queryStride, rows: rows, causal: causal, keys: keys, stride: stride,
                                        firstCount: firstCount, width: n, scale: 0.125, into: &scores, scoreStride: scoreStride)
                AttentionKernels.accumulate(weights: weights, weightStride: scoreStride, rows: rows, causal: causal, firstCount: firstCount,
                                            values: values, stride: stride, width: n, into: &out, outStride: outStride)
                for r in 0..<rows {
                    let count = firstCount + (causal ? r : 0)
                    var alone = [Float](repeating: .nan, count: scoreStride)
                    var aloneOut = Array(initial[(r * outStride)..<(r * outStride + n)])
                    queries.withUnsafeBufferPointer { q in
                        AttentionKernels.scores(queries: q.baseAddress! + r * queryStride, queryStride: queryStride, rows: 1, causal: causal,
                                                keys: keys, stride: stride, firstCount: count, width: n, scale: 0.125, into: &alone,
                                                scoreStride: scoreStride)
                    }
                    weights.withUnsafeBufferPointer { p in
                        AttentionKernels.accumulate(weights: p.baseAddress! + r * scoreStride, weightStride: scoreStride, rows: 1, causal: causal,
                                                    firstCount: count, values: values, stride: stride, width: n, into: &aloneOut, outStride: n)
                    }
                    let context = "n=\(n) causal=\(causal) rows=\(rows) first=\(firstCount) r=\(r)"
                    #expect(Array(scores[(r * scoreStride)..<(r * scoreStride + count)]) == Array(alone[0..<count]), "scores \(context)")
                    #expect(Array(out[(r * outStride)..<(r * outStride + n)]) == aloneOut, "values \(context)")
                    for j in 0..<count {
                        var exact = 0.0
                        for i in 0..<n { exact += Double(queries[r * queryStride + i]) * Double(Float(keys[j * stride + i])) }
                        #expect(abs(Double(scores[r * scoreStride + j]) - exact * 0.125) <= 1e-5 * Double(n), "scores \(context) j=\(j)")
                    }
                    for i in 0..<n {
                        var exact = Double(initial[r * outStride + i])
                        for j in 0..<count { exact += Double(weights[r * scoreStride + j]) * Double(Float(values[j * stride + i])) }
                        #expect(abs(Double(out[r * outStride + i]) - exact) <= 1e-4 * Double(positions) / 29, "values \(context) i=\(i)")
                    }
                }
                // Outputs of rows past the block are untouched.
                #expect(Array(out[(rows * outStride)...]) == Array(initial[(rows * outStride)...]), "rows past the block n=\(n) rows=\(rows)")
            }
        }
    }

    @Test("zero positions leave scores and outputs untouched")
    func emptyRun() {
        let q = [Float](repeating: 1, count: 8), keys = [Float](repeating: 1, count: 8)
        var scores: [Float] = [42], out = [Float](repeating: 3, count: 8)
        AttentionKernels.scores(query: q, keys: keys, stride: 8, count: 0, width: 8, scale: 1, into: &scores)
        AttentionKernels.accumulate(weights: q, values: keys, stride: 8, count: 0, width: 8, into: &out)
        #expect(scores == [42])
        #expect(out.allSatisfy { $0 == 3 })
    }
}
