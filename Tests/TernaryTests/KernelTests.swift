import Testing
@testable import TernaryKernels
@testable import TernaryGeneration

typealias SeededGenerator = SplitMix64

let kernelLengths = Array(1...257) + [1600, 6400]

func randomTernaryMatrix(rows: Int, k: Int, rng: inout SeededGenerator) -> (values: [Int8], packed: [UInt8]) {
    let values = (0..<(rows * k)).map { _ in Int8.random(in: -1...1, using: &rng) }
    let rowBytes = TernaryLayout.rowBytes(k)
    var packed = [UInt8](repeating: 0, count: rows * rowBytes)
    values.withUnsafeBufferPointer { v in
        packed.withUnsafeMutableBytes { p in
            for r in 0..<rows {
                TernaryLayout.packRow(
                    UnsafeBufferPointer(rebasing: v[(r * k)..<((r + 1) * k)]),
                    into: UnsafeMutableRawBufferPointer(rebasing: p[(r * rowBytes)..<((r + 1) * rowBytes)]))
            }
        }
    }
    return (values, packed)
}

func randomActivations(_ k: Int, rng: inout SeededGenerator) -> [Int8] {
    var x = (0..<TernaryLayout.paddedLength(k)).map { _ in Int8.random(in: -128...127, using: &rng) }
    for i in k..<x.count { x[i] = 0 }
    return x
}

@Suite("Ternary kernels")
struct KernelTests {
    @Test("pack then unpack returns the ternary values, for widths that are not multiples of 16 or 64")
    func packRoundTrip() {
        var rng = SeededGenerator(seed: 1)
        for k in [1, 5, 15, 16, 17, 63, 64, 65, 100, 127, 128, 129, 257, 1600] {
            let (values, packed) = randomTernaryMatrix(rows: 3, k: k, rng: &rng)
            let rowBytes = TernaryLayout.rowBytes(k)
            for r in 0..<3 {
                let row = packed[(r * rowBytes)..<((r + 1) * rowBytes)].withUnsafeBytes {
                    TernaryLayout.unpackRow($0, count: k)
                }
                #expect(row == Array(values[(r * k)..<((r + 1) * k)]), "k=\(k) row=\(r)")
            }
        }
    }

    @Test("the packed layout puts position 16k+j in bits 2k of byte j, code = w + 1, zero padding")
    func layoutIsDocumented() {
        var w = [Int8](repeating: 0, count: 70)
        w[0] = 1; w[16] = -1; w[33] = 1; w[63] = -1; w[64] = 1
        var out = [UInt8](repeating: 0, count: TernaryLayout.rowBytes(70))
        w.withUnsafeBufferPointer { b in out.withUnsafeMutableBytes { TernaryLayout.packRow(b, into: $0) } }
        #expect(out.count == 32)
        // byte 0: pos 0 (+1 → 2) bits 0-1, pos 16 (−1 → 0) bits 2-3, pos 32 (0 → 1) bits 4-5, pos 48 (0 → 1) bits 6-7
        #expect(out[0] == 0b01_01_00_10)
        #expect(out[1] == 0b01_10_01_01)  // pos 33 = +1 in bits 4-5
        #expect(out[15] == 0b00_01_01_01)  // pos 63 = −1 in bits 6-7
        #expect(out[16] == 0b01_01_01_10)  // pos 64 = +1; 80, 96, 112 are padding (0)
        #expect(out[31] == 0b01_01_01_01)  // all padding: code 1
    }

    @Test("every SIMD ternary GEMV equals the scalar reference, lengths 1...257, 1600, 6400, 19 or 37 rows")
    func ternaryGEMVParity() {
        var rng = SeededGenerator(seed: 2)
        let kernels = KernelISA.available.map { TernaryKernels(isa: $0) }
        for k in kernelLengths {
            let rows = k >= 1600 ? 37 : 19  // sixteen-row groups, row pairs and an odd row
            let (_, packed) = randomTernaryMatrix(rows: rows, k: k, rng: &rng)
            let x = randomActivations(k, rng: &rng)
            let xSum = x.reduce(Int32(0)) { $0 + Int32($1) }
            var reference = [Int32](repeating: 0, count: rows)
            ScalarKernels.ternaryGEMV(weights: packed, rowBytes: TernaryLayout.rowBytes(k), rows: rows, x: x, out: &reference)
            for kernel in kernels {
                var out = [Int32](repeating: -1, count: rows)
                kernel.matmul(for: .ternary).gemv(packed, TernaryLayout.rowBytes(k), rows, x, xSum, &out)
                #expect(out == reference, "\(kernel.isa) k=\(k)")
            }
        }
    }

    @Test("the scalar ternary GEMV agrees with an unpacked dot product at the extremes (-128, 127)")
    func scalarAgainstUnpacked() {
        var rng = SeededGenerator(seed: 3)
        for k in [1, 64, 65, 6400] {
            let (values, packed) = randomTernaryMatrix(rows: 2, k: k, rng: &rng)
            var x = [Int8](repeating: 0, count: TernaryLayout.paddedLength(k))
            for i in 0..<k { x[i] = Bool.random(using: &rng) ? -128 : 127 }
            var out = [Int32](repeating: 0, count: 2)
            ScalarKernels.ternaryGEMV(weights: packed, rowBytes: TernaryLayout.rowBytes(k), rows: 2, x: x, out: &out)
            for r in 0..<2 {
                let expected = (0..<k).reduce(Int32(0)) { $0 + Int32(values[r * k + $1]) * Int32(x[$1]) }
                #expect(out[r] == expected)
            }
            let xSum = x.reduce(Int32(0)) { $0 + Int32($1) }
            for isa in KernelISA.available {
                var simd = [Int32](repeating: 0, count: 2)
                TernaryKernels(isa: isa).matmul(for: .ternary).gemv(packed, TernaryLayout.rowBytes(k), 2, x, xSum, &simd)
                #expect(simd == out, "\(isa) k=\(k)")
            }
        }
    }

    @Test("every SIMD ternary GEMM equals the scalar GEMV per token, for 1…45 tokens (across the 8-token steps, the 24- and 32-token tiles, the one-pass decode batches of up to 16 and the prefill panels)")
    func ternaryGEMMParity() {
        var rng = SeededGenerator(seed: 4)
        // 19 rows: where K > 5120 the GEMM takes rows in groups of eight (two whole, one of three).
        // 45 rows: a prefill takes rows 32 at a time (one whole panel, then 13 of the next); K past
        // 512 takes several panels; 17…45 tokens cover its steps of 12, 8, 4, 2 and 1 tokens.
        for (k, rows) in [1, 63, 64, 65, 200, 257, 1600, 6400].flatMap({ k in [(k, 5), (k, 19), (k, 45)] }) {
            let (_, packed) = randomTernaryMatrix(rows: rows, k: k, rng: &rng)
            let stride = TernaryLayout.paddedLength(k)
            for tokens in [1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 21, 25, 30, 33, 45] {
                var x = [Int8]()
                var sums = [Int32]()
                for _ in 0..<tokens {
                    let t = randomActivations(k, rng: &rng)
                    x += t
                    sums.append(t.reduce(Int32(0)) { $0 + Int32($1) })
                }
                var reference = [Int32](repeating: 0, count: tokens * rows)
                for t in 0..<tokens {
                    var column = [Int32](repeating: 0, count: rows)
                    Array(x[(t * stride)..<((t + 1) * stride)]).withUnsafeBufferPointer {
                        ScalarKernels.ternaryGEMV(weights: packed, rowBytes: stride / 4, rows: rows, x: $0.baseAddress!, out: &column)
                    }
                    for r in 0..<rows { reference[t * rows + r] = column[r] }
                }
                for isa in KernelISA.available {
                    var out = [Int32](repeating: 0, count: tokens * rows)
                    TernaryKernels(isa: isa).matmul(for: .ternary).gemm(packed, stride / 4, rows, x, stride, sums, tokens, &out, rows)
                    #expect(out == reference, "\(isa) k=\(k) tokens=\(tokens)")
                }
            }
        }
    }

    @Test("every SIMD int8 GEMV equals the scalar reference")
    func int8GEMVParity() {
        var rng = SeededGenerator(seed: 5)
        for k in kernelLengths {
            let padded = TernaryLayout.paddedLength(k)
            let rows = 3
            var w = [Int8](repeating: 0, count: rows * padded)
            for r in 0..<rows { for i in 0..<k { w[r * padded + i] = Int8.random(in: -127...127, using: &rng) } }
            var x = randomActivations(k, rng: &rng)
            for i in 0..<k where x[i] == -128 { x[i] = -127 }
            let xSum = x.reduce(Int32(0)) { $0 + Int32($1) }
            var reference = [Int32](repeating: 0, count: rows)
            ScalarKernels.int8GEMV(weights: w, rowLength: padded, rows: rows, x: x, out: &reference)
            for isa in KernelISA.available {
                var out = [Int32](repeating: 0, count: rows)
                TernaryKernels(isa: isa).matmul(for: .int8).gemv(w, padded, rows, x, xSum, &out)
                #expect(out == reference, "\(isa) k=\(k)")
            }
        }
    }

    @Test("activation quantization rounds ties to even and every path gives the same bytes")
    func quantizationTiesAndParity() {
        // max |x| = 127 makes s = 1, so x*s are the exact ties below.
        let x: [Float] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -127, 3.49999, 10]
        var q = [Int8](repeating: 99, count: 64)
        let (s, sum) = ScalarKernels.quantizeActivations(x, count: x.count, into: &q, padded: 64)
        #expect(s == 1)
        #expect(Array(q[0..<10]) == [0, 2, 2, 0, -2, -2, 126, -127, 3, 10])
        #expect(q[10..<64].allSatisfy { $0 == 0 })
        #expect(sum == q.reduce(0) { $0 + Int32($1) })
        for isa in KernelISA.available {
            var out = [Int8](repeating: 99, count: 64)
            let got = TernaryKernels(isa: isa).quantize(x, count: x.count, into: &out, padded: 64)
            #expect(out == q && got.scale == s && got.sum == sum, "ties on \(isa)")
        }

        var rng = SeededGenerator(seed: 6)
        for n in kernelLengths {
            let xs = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) }
            let padded = TernaryLayout.paddedLength(n)
            var reference = [Int8](repeating: 1, count: padded)
            let expected = ScalarKernels.quantizeActivations(xs, count: n, into: &reference, padded: padded)
            for isa in KernelISA.available {
                var out = [Int8](repeating: 1, count: padded)
                let got = TernaryKernels(isa: isa).quantize(xs, count: n, into: &out, padded: padded)
                #expect(out == reference && got.scale == expected.scale && got.sum == expected.sum, "\(isa) n=\(n)")
            }
        }
        var zeros = [Int8](repeating: 1, count: 64)
        let allZero = ScalarKernels.quantizeActivations([0, 0, 0], count: 3, into: &zeros, padded: 64)
        #expect(allZero.scale == 127 / 1e-5 && zeros.allSatisfy { $0 == 0 })
    }

    @Test("a token holding NaN or an infinity quantizes to a NaN scale and zero codes on every path (found by fuzzing: this trapped)",
          arguments: [Float.nan, .infinity, -.infinity])
    func quantizationOfNonFiniteValues(_ bad: Float) {
        for n in [3, 8, 20, 64] {
            for at in [0, n - 1] {
                var xs = (0..<n).map { Float($0) - 2 }
                xs[at] = bad
                for isa in KernelISA.available {
                    var out = [Int8](repeating: 1, count: 64)
                    let got = TernaryKernels(isa: isa).quantize(xs, count: n, into: &out, padded: 64)
                    #expect(got.scale.isNaN && got.sum == 0 && out.allSatisfy { $0 == 0 }, "\(isa) n=\(n) at \(at)")
                }
            }
        }
    }

    @Test("whole-tensor f16 and bf16 conversions equal the standard library's, every bit pattern, at odd byte offsets")
    func halfPrecisionConversions() {
        // Every f16 and bf16 pattern, stored one byte past an aligned address (safetensors and GGUF
        // tensors may start anywhere), widened: exact, and NaN stays NaN.
        let patterns = (0...UInt16.max).map { $0 }
        var bytes = [UInt8](repeating: 0, count: 1 + 2 * patterns.count)
        for (i, p) in patterns.enumerated() {
            bytes[1 + 2 * i] = UInt8(p & 0xFF)
            bytes[2 + 2 * i] = UInt8(p >> 8)
        }
        let (halves, brains) = bytes.withUnsafeBytes {
            (HalfPrecision.floats(f16: $0.baseAddress! + 1, count: patterns.count),
             HalfPrecision.floats(bf16: $0.baseAddress! + 1, count: patterns.count))
        }
        for (i, p) in patterns.enumerated() {
            let half = Float(Float16(bitPattern: p)), brain = Float(bitPattern: UInt32(p) << 16)
            #expect(halves[i] == half || (halves[i].isNaN && half.isNaN), "f16 \(p)")
            #expect(brains[i].bitPattern == brain.bitPattern, "bf16 \(p)")
        }
        // Narrowing rounds to nearest, ties to even, as Float16(_:): every f16 value, the midpoints
        // between neighbours (ties), just beside them, past the largest finite value, the subnormals.
        var floats: [Float] = [0, -0, .infinity, -.infinity, 65520, 65519.99, 1e-8, -1e-8, 3e-5]
        for p in patterns where !Float16(bitPattern: p).isNaN {
            let v = Float(Float16(bitPattern: p)), next = Float(Float16(bitPattern: p).nextUp)
            floats += [v, (v + next) / 2, ((v + next) / 2).nextUp, ((v + next) / 2).nextDown]
        }
        let narrowed = HalfPrecision.float16(floats)
        #expect(narrowed.count == floats.count)
        for (x, h) in zip(floats, narrowed) { #expect(h.bitPattern == Float16(x).bitPattern, "\(x)") }
        #expect(HalfPrecision.float16([]).isEmpty)
        #expect(HalfPrecision.float16([.nan])[0].isNaN)
    }

    @Test("the worker pool covers a range exactly once, in grain-aligned runs, with any thread count")
    func workerPoolCoversRange() {
        for threads in 1...4 {
            let pool = WorkerPool(threads: threads)
            for total in [1, 2, 7, 64, 1000, 4800] {
                var hits = [Int](repeating: 0, count: total)
                var runStart = [Int](repeating: -1, count: total)
                var worker = [Int](repeating: -1, count: total)
                hits.withUnsafeMutableBufferPointer { h in
                    runStart.withUnsafeMutableBufferPointer { s in
                        worker.withUnsafeMutableBufferPointer { w in
                            let hits = h.baseAddress!, starts = s.baseAddress!, workers = w.baseAddress!
                            pool.runIndexed(total, grain: 4) { range, index in
                                for i in range { hits[i] += 1; starts[i] = range.lowerBound; workers[i] = index }
                            }
                        }
                    }
                }
                #expect(hits.allSatisfy { $0 == 1 }, "threads=\(threads) total=\(total)")
                #expect(runStart.allSatisfy { $0 % 4 == 0 }, "runs start on a grain boundary")
                #expect(worker.allSatisfy { (0..<threads).contains($0) }, "worker indices lie in 0..<threads")
            }
        }
    }

    @Test("owned-first runs: each thread's named first run is one run, the range is covered exactly once, even oversubscribed")
    func workerPoolOwnedFirstRuns() {
        // Four and eight threads on this machine's two cores: late workers' first runs are taken by others.
        for threads in [1, 2, 3, 4, 8] {
            let pool = WorkerPool(threads: threads)
            for total in [1, 8, 40, 1000, 4800, 6400] {
                let firsts = (0..<threads).map { pool.firstRun(total, grain: 8, thread: $0) }
                if threads > 1 && total >= 8 * 2 * threads {
                    #expect(firsts.allSatisfy { $0.count == total / (2 * threads) / 8 * 8 }, "threads=\(threads) total=\(total)")
                    #expect(zip(firsts, firsts.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "first runs lie side by side")
                } else if threads > 1 {
                    #expect(firsts.allSatisfy { $0.isEmpty })
                }
                for round in 0..<3 {
                    let runs = RunLog(total: total)
                    pool.run(total, grain: 8, ownedFirst: true, runs)
                    let hits = runs.hits, starts = runs.starts
                    #expect(hits.allSatisfy { $0 == 1 }, "threads=\(threads) total=\(total) round=\(round)")
                    #expect((0..<total).allSatisfy { starts[$0] % 8 == 0 }, "runs start on a grain boundary")
                    for first in firsts where !first.isEmpty {
                        #expect(first.allSatisfy { starts[$0] == first.lowerBound && runs.ends[$0] == first.upperBound },
                                "first run \(first) is run whole")
                    }
                }
            }
        }
    }

    @Test("prefetch hints never change results and bad addresses are harmless")
    func workerPoolPrefetchHintsAreHarmless() {
        let pool = WorkerPool(threads: 2)
        let weights = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { weights.deallocate() }
        pool.prefetchHints { thread, slot in
            // One real range, one that points at nothing mapped (a prefetch there is dropped).
            slot == 0 ? UnsafeRawBufferPointer(weights) : UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: 0x40 + thread * 64), count: 1 << 20)
        }
        for _ in 0..<50 {
            let runs = RunLog(total: 4800)
            pool.run(4800, grain: 8, ownedFirst: true, runs)
            #expect(runs.hits.allSatisfy { $0 == 1 })
        }
        pool.prefetchHints { _, _ in nil }
    }
}

/// Records which runs of a pool call touched each index (each index is written by one thread).
private final class RunLog: ParallelTask, @unchecked Sendable {
    let total: Int
    private let counts: UnsafeMutablePointer<Int>, runStarts: UnsafeMutablePointer<Int>, runEnds: UnsafeMutablePointer<Int>
    init(total: Int) {
        self.total = total
        counts = .allocate(capacity: total)
        counts.initialize(repeating: 0, count: total)
        runStarts = .allocate(capacity: total)
        runStarts.initialize(repeating: -1, count: total)
        runEnds = .allocate(capacity: total)
        runEnds.initialize(repeating: -1, count: total)
    }
    deinit { counts.deallocate(); runStarts.deallocate(); runEnds.deallocate() }
    func run(_ range: Range<Int>, worker: Int) {
        for i in range { counts[i] += 1; runStarts[i] = range.lowerBound; runEnds[i] = range.upperBound }
    }
    var hits: [Int] { Array(UnsafeBufferPointer(start: counts, count: total)) }
    var starts: [Int] { Array(UnsafeBufferPointer(start: runStarts, count: total)) }
    var ends: [Int] { Array(UnsafeBufferPointer(start: runEnds, count: total)) }
}

@Suite("Sampling")
struct SamplingTests {
    @Test("top-k selection equals sorting the whole vocabulary, ties broken by id")
    func topKMatchesFullSort() {
        var rng = SplitMix64(seed: 11)
        let logits = (0..<5000).map { _ in Float(Int.random(in: -50...50, using: &rng)) / 4 }  // many ties
        let full = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        for k in [1, 2, 40, 999] {
            #expect(Sampler.ranked(logits, keep: k).map(\.id) == Array(full.prefix(k)), "k=\(k)")
        }
        #expect(Sampler.ranked(logits, keep: 0).map(\.id) == full)
    }

    @Test("the same seed gives the same tokens; greedy ignores the seed")
    func seeded() throws {
        let logits: [Float] = (0..<100).map { Float($0 % 7) }
        var a = Sampler(options: { var o = SamplingOptions(); o.seed = 5; return o }())
        var b = Sampler(options: { var o = SamplingOptions(); o.seed = 5; return o }())
        let x = try (0..<20).map { _ in try a.sample(logits, history: []) }
        #expect(x == (try (0..<20).map { _ in try b.sample(logits, history: []) }))
        var g = Sampler(options: .greedy)
        #expect(try g.sample(logits, history: []) == 6)
    }

    @Test("a logit bias shifts a token's logit before sampling: -100 bans the best, +100 forces another; bad biases are errors")
    func logitBias() throws {
        let logits: [Float] = [0.5, 3, 2, -1]
        var o = SamplingOptions.greedy
        o.logitBias = [1: -100]
        var banned = Sampler(options: o)
        #expect(try banned.sample(logits, history: []) == 2)
        o = SamplingOptions()
        o.seed = 3
        o.logitBias = [3: 100, 9: 5]  // ids past the vocabulary do nothing here (the scheduler refuses them)
        var forced = Sampler(options: o)
        #expect(try (0..<20).map { _ in try forced.sample(logits, history: []) } == Array(repeating: 3, count: 20))
        for bad: [Int: Float] in [[0: 101], [0: .nan], [-1: 1]] {
            o.logitBias = bad
            #expect(throws: GenerationError.self) { try o.validate() }
        }
    }

    @Test("NaN or infinite logits are an error; a vanishing temperature or penalty picks the best token instead of trapping")
    func extremes() throws {
        var s = Sampler(options: SamplingOptions())
        #expect(throws: GenerationError.self) { try s.sample([1, .nan, 2], history: []) }
        #expect(throws: GenerationError.self) { try s.sample([1, .infinity, 2], history: []) }
        let logits: [Float] = [0.5, 3, 2, -1]
        for (temperature, penalty) in [(Float(1e-38), Float(1.1)), (1, 1e-40), (1e-38, 1e-40), (1e30, 1)] {
            var o = SamplingOptions()
            o.temperature = temperature
            o.repetitionPenalty = penalty
            var sampler = Sampler(options: o)
            let token = try sampler.sample(logits, history: [1, 3])
            #expect(logits.indices.contains(token))
            // Token 1 has the best logit, and a vanishing penalty divides it toward +∞.
            if temperature < 1e-30 || penalty < 1e-30 { #expect(token == 1, "temperature \(temperature), penalty \(penalty)") }
        }
    }
}

@Suite("Log-sum-exp")
struct LogSumExpTests {
    @Test("the vectorised log-sum-exp equals the double-precision oracle within 1e-6, awkward lengths and spreads included")
    func matchesReference() {
        var rng = SeededGenerator(seed: 8)
        for n in [1, 7, 8, 9, 31, 1000, 50257, 131_073] {
            for spread: Float in [0.01, 5, 30, 300] {
                var x = (0..<n).map { _ in Float.random(in: -spread...spread, using: &rng) }
                if n > 1 { x[n / 2] = spread * 4 }  // one dominant logit: the rest underflow toward 0
                let (fast, exact) = x.withUnsafeBufferPointer { (LogSumExp.of($0), LogSumExp.reference($0)) }
                #expect(abs(fast - exact) <= 1e-6 * max(1, abs(exact)), "n=\(n) spread=\(spread): \(fast) vs \(exact)")
            }
        }
        #expect([Float]().withUnsafeBufferPointer { LogSumExp.of($0) } == -.infinity)
        // Two equal logits: log 2 above either.
        #expect(abs([Float](repeating: 3, count: 2).withUnsafeBufferPointer { LogSumExp.of($0) } - (3 + 0.693_147_180_559_945_3)) < 1e-7)
    }
}

@Suite("Integer matmul table: every layout on every path")
struct IntegerMatmulTableTests {
    /// `rows` random rows of `k` weights stored in `layout`, zero (code 1) padded.
    static func randomRows(_ layout: IntegerLayout, rows: Int, k: Int, rng: inout SeededGenerator) -> [UInt8] {
        let rowBytes = layout.rowBytes(k)
        var out = [UInt8](repeating: 0, count: rows * rowBytes)
        out.withUnsafeMutableBytes { raw in
            for r in 0..<rows {
                let row = UnsafeMutableRawBufferPointer(rebasing: raw[(r * rowBytes)..<((r + 1) * rowBytes)])
                switch layout {
                case .int8:
                    for i in 0..<k { row[i] = UInt8(bitPattern: Int8.random(in: -127...127, using: &rng)) }
                case .ternary, .base3:
                    let values = (0..<k).map { _ in Int8.random(in: -1...1, using: &rng) }
                    values.withUnsafeBufferPointer { layout == .base3 ? Base3Layout.packRow($0, into: row) : TernaryLayout.packRow($0, into: row) }
                }
            }
        }
        return out
    }

    @Test("GEMV and GEMM of every layout × path equal the layout's scalar entry (awkward widths, odd row counts, 1–19 tokens)")
    func everyLayoutOnEveryPath() {
        var rng = SeededGenerator(seed: 21)
        for layout in IntegerLayout.allCases {
            let scalar = TernaryKernels(isa: .scalar).matmul(for: layout)
            // 5185 and 10300: past 5120, where eight tokens of activations outgrow L1 and the GEMM tiles four.
            // 45 rows: a prefill (more than 16 tokens) takes rows 32 at a time, then 13.
            for (k, rows) in [1, 63, 65, 319, 321, 1600, 5185, 10300].flatMap({ k in [(k, 7), (k, 45)] }) {
                let rowBytes = layout.rowBytes(k), stride = layout.paddedLength(k)
                let w = Self.randomRows(layout, rows: rows, k: k, rng: &rng)
                for tokens in [1, 3, 8, 13, 19] {
                    var x = [Int8](repeating: 0, count: tokens * stride), sums = [Int32](repeating: 0, count: tokens)
                    for t in 0..<tokens {
                        // −127…127, what the quantizer gives (|x·s| ≤ 127): the AVX2 int8 kernel's sign trick needs it.
                        for i in 0..<k { x[t * stride + i] = Int8.random(in: -127...127, using: &rng) }
                        sums[t] = x[(t * stride)..<((t + 1) * stride)].reduce(Int32(0)) { $0 + Int32($1) }
                    }
                    var reference = [Int32](repeating: 0, count: tokens * rows)
                    scalar.gemm(w, rowBytes, rows, x, stride, sums, tokens, &reference, rows)
                    for isa in KernelISA.available {
                        let matmul = TernaryKernels(isa: isa).matmul(for: layout)
                        var out = [Int32](repeating: -1, count: tokens * rows)
                        matmul.gemm(w, rowBytes, rows, x, stride, sums, tokens, &out, rows)
                        #expect(out == reference, "\(layout) \(isa) (\(matmul.implementation)) k=\(k) tokens=\(tokens) gemm")
                        var one = [Int32](repeating: -1, count: rows)
                        matmul.gemv(w, rowBytes, rows, x, sums[0], &one)
                        #expect(one == Array(reference[0..<rows]), "\(layout) \(isa) k=\(k) gemv")
                    }
                }
            }
        }
    }
}
