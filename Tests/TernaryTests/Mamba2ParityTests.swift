import Foundation
import Testing
@testable import TernaryConvert
@testable import TernaryFormat
@testable import TernaryGeneration
@testable import TernaryKernels
@testable import TernaryModels

/// The Swift forward of Mamba-2 against ternary_qat.reference_mamba2 (itself checked against
/// transformers' Mamba2ForCausalLM, chunked scan, in the Python tests), on two tiny random models
/// patched and exported by ternary_qat (python/scripts/make_swift_fixtures.py):
///
/// - mamba2-g1: n_groups 1, tied head;
/// - mamba2-g2: n_groups 2, a BitLinear RMSNorm before in_proj and out_proj, untied head.
///
/// - bitmamba2-tiny: a random BitMamba-2 in bitmamba.c's BIT2 file (B and C one value per head, x
///   alone convolved, D per channel, no gated norm, ternary head), packed from the .bin.
///
/// All: 8 heads of 16, convolution 4, random norms, dt_bias, D, A_log and conv bias.
/// Tolerance: |Δlogit| ≤ 1e-4 · max(1, max|logit|) (float32 op order in the scan, norms and head;
/// the ternary matmuls are exact and the ids keep every activation 2e-5 from a rounding tie).
@Suite("Mamba-2 parity with PyTorch")
struct Mamba2ParityTests {
    static let fixtures = ["mamba2-g1", "mamba2-g2", "bitmamba2-tiny"]

    static func packed(_ fixture: String) throws -> String {
        let bit2 = TestPaths.fixtures.appendingPathComponent("\(fixture)/model.bin").path
        guard FileManager.default.fileExists(atPath: bit2) else { return try LlamaFamilyParityTests.packed(fixture) }
        let out = TestPaths.temporaryDirectory().appendingPathComponent("\(fixture).safetensors").path
        var options = PackOptions()
        options.withoutTokenizer = true
        options.embeddings = .f32  // the BIT2 file's float32 embeddings and convolution, kept exactly
        _ = try Packer.pack(input: bit2, output: out, options: options)
        return out
    }
    static func expected(_ fixture: String) throws -> SafetensorsFile { try LlamaFamilyParityTests.expected(fixture) }
    static func ints(_ file: SafetensorsFile, _ name: String) throws -> [Int] { try LlamaFamilyParityTests.ints(file, name) }

    @Test("logits match the PyTorch reference on every kernel path", arguments: fixtures)
    func logitsMatch(_ fixture: String) throws {
        try ReferenceChecks.logits(fixture, expected: try Self.expected(fixture), path: try Self.packed(fixture))
    }

    @Test("32 greedy tokens are identical to PyTorch's", arguments: fixtures)
    func greedyTokens(_ fixture: String) throws {
        try ReferenceChecks.greedyTokens(expected: try Self.expected(fixture), path: try Self.packed(fixture))
    }

    @Test("perplexity equals PyTorch's within 1e-3 relative", arguments: fixtures)
    func perplexityMatches(_ fixture: String) throws {
        try ReferenceChecks.perplexity(expected: try Self.expected(fixture), path: try Self.packed(fixture))
    }

    @Test("a prompt in one prefill, in micro-batches, and token by token gives the same logits", arguments: fixtures)
    func incremental(_ fixture: String) throws {
        let path = try Self.packed(fixture)
        let ids = try Self.ints(try Self.expected(fixture), "ids")
        let model = try LlamaFamilyParityTests.load(path)
        let batched = try model.forward(ids, memory: model.makeMemory(), allLogits: true)
        let memory = model.makeMemory()
        var incremental: [Float] = []
        for id in ids { incremental += try model.forward([id], memory: memory, allLogits: false) }
        #expect(ModelParityTests.firstMismatch(incremental, batched) == nil)
        let small = try LlamaFamilyParityTests.load(path, microBatch: 5)
        #expect(ModelParityTests.firstMismatch(try small.forward(ids, memory: small.makeMemory(), allLogits: true), batched) == nil)
    }

    @Test("several sequences in one forward give each the logits it gets alone", arguments: fixtures)
    func batchedSequences(_ fixture: String) throws {
        let model = try LlamaFamilyParityTests.load(try Self.packed(fixture), microBatch: 16)
        let ids = try Self.ints(try Self.expected(fixture), "ids")
        let prompts = [Array(ids[0..<7]), Array(ids[7..<30]), Array(ids[30..<31])]
        var alone: [[Float]] = []
        for prompt in prompts {
            let memory = model.makeMemory()
            var rows = try model.forward(prompt, memory: memory, allLogits: true)
            rows += try model.forward([prompt[0]], memory: memory, allLogits: false)
            alone.append(rows)
        }
        let memories = prompts.map { _ in model.makeMemory() }
        let v = model.vocabularySize
        let out = prompts.map { UnsafeMutablePointer<Float>.allocate(capacity: ($0.count + 1) * v) }
        defer { out.forEach { $0.deallocate() } }
        try model.model.forward((0..<3).map { ForwardStep(tokens: prompts[$0], memory: memories[$0], logits: .all, output: out[$0]) },
                                context: model.context)
        try model.model.forward((0..<3).map { ForwardStep(tokens: [prompts[$0][0]], memory: memories[$0], output: out[$0] + prompts[$0].count * v) },
                                context: model.context)
        for i in 0..<3 {
            let got = Array(UnsafeBufferPointer(start: out[i], count: (prompts[i].count + 1) * v))
            #expect(memories[i].length == prompts[i].count + 1)
            #expect(ModelParityTests.firstMismatch(got, alone[i]) == nil, "sequence \(i)")
        }
    }

    @Test("the state is the same size after any number of tokens; a checkpoint copy resumes exactly; it cannot rewind")
    func recurrentState() throws {
        let model = try LlamaFamilyParityTests.load(try Self.packed("mamba2-g1"))
        let ids = try Self.ints(try Self.expected("mamba2-g1"), "ids")
        let state = try #require(model.makeMemory() as? RecurrentState)
        let bytes = state.bytes
        _ = try model.forward(Array(ids[0..<10]), memory: state, allLogits: false)
        let checkpoint = state.copy()
        let after = try model.forward(Array(ids[10..<20]), memory: state, allLogits: true)
        #expect(state.bytes == bytes && state.length == 20)
        #expect(!state.truncate(to: 10), "a recurrent state cannot forget its last tokens")
        #expect(state.truncate(to: 20))
        state.restore(checkpoint)
        #expect(state.length == 10)
        #expect(try model.forward(Array(ids[10..<20]), memory: state, allLogits: true) == after)
        #expect(state.truncate(to: 0) && state.length == 0)
    }
}

/// The selective-scan kernels against their plain references on awkward sizes.
@Suite("Mamba-2 kernels")
struct SelectiveScanTests {
    @Test("the SIMD scan equals the plain one (state sizes around the vector width, several tokens)", arguments: [1, 7, 8, 13, 16, 64])
    func scan(stateSize: Int) {
        var rng = SplitMix64(seed: UInt64(stateSize))
        func random(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in (Float(rng.next() % 2001) / 1000 - 1) * scale } }
        let headSize = 21, tokens = 9, stride = 3 * stateSize + 2
        let x = random(tokens * headSize), bc = random(tokens * stride), dt = random(tokens, scale: 0.5).map { abs($0) + 0.01 }
        let initial = random(headSize * stateSize)
        var a = initial, b = initial
        var ya = [Float](repeating: 0, count: tokens * headSize), yb = ya
        let perChannel = random(headSize)  // D per channel (BitMamba-2); the per-head case is stride 0
        SelectiveScan.scanReference(state: &a, x: x, xStride: headSize, b: bc, c: Array(bc[stateSize...]), bcStride: stride, dt: dt, dtStride: 1,
                                    a: -0.7, d: perChannel, dStride: stateSize % 2, y: &ya, yStride: headSize, tokens: tokens,
                                    headSize: headSize, stateSize: stateSize)
        SelectiveScan.scan(state: &b, x: x, xStride: headSize, b: bc, c: Array(bc[stateSize...]), bcStride: stride, dt: dt, dtStride: 1,
                           a: -0.7, d: perChannel, dStride: stateSize % 2, y: &yb, yStride: headSize, tokens: tokens,
                           headSize: headSize, stateSize: stateSize)
        for i in a.indices { #expect(abs(a[i] - b[i]) <= 1e-5 * max(1, abs(a[i]))) }
        for i in ya.indices { #expect(abs(ya[i] - yb[i]) <= 1e-5 * max(1, abs(ya[i]))) }
    }

    @Test("the SIMD convolution equals the plain one (widths around the vector width, channel ranges, several tokens)",
          arguments: [(5, 4, 1), (16, 4, 1), (37, 4, 6), (64, 3, 9), (100, 2, 2)])
    func convolution(width: Int, kernel: Int, tokens: Int) {
        var rng = SplitMix64(seed: UInt64(width * 31 + kernel))
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.next() % 2001) / 1000 - 1 } }
        let inputStride = width + 3
        let input = random(tokens * inputStride), weight = random(kernel * width), bias = random(width)
        let initial = random((kernel - 1) * width)
        for withBias in [false, true] {
            for channels in [0..<width, 1..<width, (width / 3)..<(width - width / 5)] {
                var stateA = initial, stateB = initial
                var outA = [Float](repeating: 7, count: tokens * width), outB = outA
                bias.withUnsafeBufferPointer { bias in
                    let b = withBias ? bias.baseAddress : nil
                    SelectiveScan.convolveReference(input: input, inputStride: inputStride, tokens: tokens, state: &stateA, width: width,
                                                    weight: weight, bias: b, kernel: kernel, out: &outA, outStride: width,
                                                    channels: channels, silu: true)
                    SelectiveScan.convolve(input: input, inputStride: inputStride, tokens: tokens, state: &stateB, width: width,
                                           weight: weight, bias: b, kernel: kernel, out: &outB, outStride: width, channels: channels, silu: true)
                }
                #expect(outA == outB, "width \(width), channels \(channels)")
                #expect(stateA == stateB, "width \(width), channels \(channels)")
                // Channels outside the range are untouched.
                #expect(outB[0] == (channels.lowerBound > 0 ? 7 : outA[0]))
            }
        }
    }

    @Test("the convolution continues across calls: two halves equal the whole")
    func convolutionWindow() {
        let width = 6, kernel = 4, tokens = 7
        let input = (0..<(tokens * width)).map { Float($0 % 11) - 5 }
        let weight = (0..<(width * kernel)).map { Float($0 % 5) / 4 - 0.5 }
        var whole = [Float](repeating: 0, count: tokens * width), split = whole
        var stateA = [Float](repeating: 0, count: (kernel - 1) * width), stateB = stateA
        SelectiveScan.convolve(input: input, inputStride: width, tokens: tokens, state: &stateA, width: width, weight: weight, bias: nil,
                               kernel: kernel, out: &whole, outStride: width, channels: 0..<width, silu: false)
        for (start, count) in [(0, 2), (2, 5)] {
            input.withUnsafeBufferPointer { inp in
                split.withUnsafeMutableBufferPointer { out in
                    SelectiveScan.convolve(input: inp.baseAddress! + start * width, inputStride: width, tokens: count, state: &stateB, width: width,
                                           weight: weight, bias: nil, kernel: kernel, out: out.baseAddress! + start * width, outStride: width,
                                           channels: 0..<width, silu: false)
                }
            }
        }
        #expect(whole == split)
        #expect(stateA == stateB)
        // Channel 0 at token 3 sees inputs 0...3 with weights 0...3.
        #expect(whole[3 * width] == (0..<4).reduce(Float(0)) { $0 + weight[$1 * width] * input[$1 * width] })
    }
}
