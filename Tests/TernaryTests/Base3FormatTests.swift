import Foundation
import Testing
@testable import TernaryConvert
@testable import TernaryFormat
@testable import TernaryKernels
@testable import TernaryModels

/// Rows of random ternary values packed in the t1.6 layout.
func randomBase3Matrix(rows: Int, k: Int, rng: inout SeededGenerator) -> (values: [Int8], packed: [UInt8]) {
    let values = (0..<(rows * k)).map { _ in Int8.random(in: -1...1, using: &rng) }
    return (values, WeightQuantizer.pack(values, rows: rows, k: k, format: .base3))
}

/// Activations padded with zeros to the t1.6 row length.
func randomBase3Activations(_ k: Int, rng: inout SeededGenerator, extremes: Bool = false) -> [Int8] {
    var x = (0..<Base3Layout.paddedLength(k)).map { _ in
        extremes ? (Bool.random(using: &rng) ? Int8(-128) : 127) : Int8.random(in: -128...127, using: &rng)
    }
    for i in k..<x.count { x[i] = 0 }
    return x
}

@Suite("t1.6: the base-3 ternary format")
struct Base3FormatTests {
    static let lengths = [1, 5, 63, 64, 65, 200, 319, 320, 321, 639, 640, 960, 1600, 2560, 6912]

    @Test("byte j of a block is c0 + 3·c1 + 9·c2 + 27·c3 + 81·c4 for positions 64i + j, padding code 1")
    func layoutIsDocumented() {
        var w = [Int8](repeating: 0, count: 330)
        w[0] = 1; w[64] = -1; w[128] = 1; w[192] = 1; w[256] = -1  // byte 0: codes 2, 0, 2, 2, 0
        w[63] = -1                                                 // byte 63: codes 0, 1, 1, 1, 1
        w[320] = 1                                                 // second block, byte 0: 2, 1, 1, 1, 1
        let packed = WeightQuantizer.pack(w, rows: 1, k: 330, format: .base3)
        #expect(packed.count == 128 && Base3Layout.rowBytes(330) == 128)
        #expect(packed[0] == 2 + 0 * 3 + 2 * 9 + 2 * 27 + 0 * 81)
        #expect(packed[63] == 0 + 3 + 9 + 27 + 81)
        #expect(packed[64] == 2 + 3 + 9 + 27 + 81)
        #expect(packed[1] == 121 && packed[127] == 121)  // all zero weights (code 1 everywhere): 1+3+9+27+81
        #expect(packed.allSatisfy { $0 <= Base3Layout.maxByte })
    }

    @Test("pack then unpack returns the ternary values, for rows that are not whole blocks")
    func packRoundTrip() {
        var rng = SeededGenerator(seed: 11)
        for k in Self.lengths {
            let (values, packed) = randomBase3Matrix(rows: 3, k: k, rng: &rng)
            #expect(WeightQuantizer.unpack(packed, rows: 3, k: k, format: .base3) == values, "k=\(k)")
            #expect(packed.count == 3 * WeightFormat.base3.rowBytes(k))
        }
    }

    @Test("every path's t1.6 GEMV equals the scalar reference, and the reference the unpacked dot product, at extreme activations too")
    func gemvParity() {
        var rng = SeededGenerator(seed: 12)
        for k in Self.lengths {
            for rows in k > 1000 ? [3] : [1, 2, 19] {  // row pairs and a single row
                let (values, packed) = randomBase3Matrix(rows: rows, k: k, rng: &rng)
                for extremes in [false, true] {
                    let x = randomBase3Activations(k, rng: &rng, extremes: extremes)
                    let xSum = x.reduce(Int32(0)) { $0 + Int32($1) }
                    var reference = [Int32](repeating: 0, count: rows)
                    ScalarKernels.base3GEMV(weights: packed, rowBytes: Base3Layout.rowBytes(k), rows: rows, x: x, out: &reference)
                    var unpacked = [Int32](repeating: 0, count: rows)
                    for r in 0..<rows {
                        for i in 0..<k { unpacked[r] += Int32(values[r * k + i]) * Int32(x[i]) }
                    }
                    #expect(reference == unpacked, "k=\(k)")
                    for isa in KernelISA.available {
                        var out = [Int32](repeating: -1, count: rows)
                        TernaryKernels(isa: isa).matmul(for: .base3).gemv(packed, Base3Layout.rowBytes(k), rows, x, xSum, &out)
                        #expect(out == reference, "\(isa) k=\(k) rows=\(rows)")
                    }
                }
            }
        }
    }

    @Test("every path's t1.6 GEMM equals the scalar GEMV per token, for 1…45 tokens (two rows by eight tokens, tiles, leftover tokens, an odd row, the prefill panels of 32 rows)")
    func gemmParity() {
        var rng = SeededGenerator(seed: 13)
        // 37 rows: a prefill (more than 16 tokens) takes one panel of 32 rows, then 5; K past 640
        // takes several panels.
        for (k, rows) in [1, 319, 321, 1600, 6912].flatMap({ k in [(k, 5), (k, 37)] }) {
            let (_, packed) = randomBase3Matrix(rows: rows, k: k, rng: &rng)
            let stride = Base3Layout.paddedLength(k), rowBytes = Base3Layout.rowBytes(k)
            for tokens in [1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 25, 33, 45] {
                var x = [Int8](), sums = [Int32]()
                for _ in 0..<tokens {
                    let t = randomBase3Activations(k, rng: &rng)
                    x += t
                    sums.append(t.reduce(Int32(0)) { $0 + Int32($1) })
                }
                var reference = [Int32](repeating: 0, count: tokens * rows)
                for t in 0..<tokens {
                    var column = [Int32](repeating: 0, count: rows)
                    Array(x[(t * stride)..<((t + 1) * stride)]).withUnsafeBufferPointer {
                        ScalarKernels.base3GEMV(weights: packed, rowBytes: rowBytes, rows: rows, x: $0.baseAddress!, out: &column)
                    }
                    for r in 0..<rows { reference[t * rows + r] = column[r] }
                }
                for isa in KernelISA.available {
                    var out = [Int32](repeating: 0, count: tokens * rows)
                    TernaryKernels(isa: isa).matmul(for: .base3).gemm(packed, rowBytes, rows, x, stride, sums, tokens, &out, rows)
                    #expect(out == reference, "\(isa) k=\(k) tokens=\(tokens)")
                }
            }
        }
    }

    /// The same random model written with 2-bit and with t1.6 linear layers.
    static func pair(_ preset: Synthesizer.Preset, embeddings: WeightFormat = .int8) throws -> (twoBit: String, base3: String) {
        // The same file name in two directories (a GGUF export names the model after its file).
        let twoBit = TestPaths.temporaryDirectory().appendingPathComponent("model.safetensors").path
        let base3 = TestPaths.temporaryDirectory().appendingPathComponent("model.safetensors").path
        try Synthesizer.write(preset: preset, embeddings: embeddings, weights: .ternary, seed: 5, output: twoBit)
        try Synthesizer.write(preset: preset, embeddings: embeddings, weights: .base3, seed: 5, output: base3)
        return (twoBit, base3)
    }

    @Test("a model packed as t1.6 gives bit-identical logits to the same model in 2-bit: prefill in micro-batches of 4, then decode, on 1 and 2 threads (same weights, same integer math)",
          arguments: ["gpt2", "llama", "mamba2"])
    func sameLogitsAsTwoBit(_ architecture: String) throws {
        let preset: Synthesizer.Preset = switch architecture {
        case "gpt2":  // k = 200 and 800: not whole 320-blocks
            Synthesizer.Preset(name: "t", architecture: "gpt2", config: .object([
                ("n_layer", .int(2)), ("n_embd", .int(200)), ("n_head", .int(4)), ("n_positions", .int(64)), ("vocab_size", .int(300)),
            ]))
        case "llama": Synthesizer.llama("t", architecture: "llama", layers: 2, width: 96, ffn: 352, heads: 4, kvHeads: 2, vocabulary: 300,
                                        context: 64, theta: 10_000, activation: "silu", tied: false, rmsNorm: true)
        default: Synthesizer.mamba2("t", layers: 2, width: 64, heads: 4, state: 16, groups: 1, vocabulary: 300, tied: true)
        }
        let (twoBit, base3) = try Self.pair(preset)
        #expect(try FileManager.default.attributesOfItem(atPath: base3)[.size] as! Int > 0)
        let ids = [5, 17, 99, 3, 42, 7, 250, 1, 64, 8]
        for threads in [1, 2] {
            let a = try ModelRegistry.load(path: twoBit, isa: .best), b = try ModelRegistry.load(path: base3, isa: .best)
            let context = InferenceContext(threads: threads, microBatch: 4)
            let ma = a.makeMemory(MemoryOptions()), mb = b.makeMemory(MemoryOptions())
            #expect(try a.forward(ids, memory: ma, context: context, allLogits: true) == b.forward(ids, memory: mb, context: context, allLogits: true))
            for id in [3, 9, 27] {
                #expect(try a.forward([id], memory: ma, context: context, allLogits: false) == b.forward([id], memory: mb, context: context, allLogits: false))
            }
        }
    }

    @Test("a t1.6 file exports to the same GGUF as the 2-bit file of the same model (TQ1_0 and TQ2_0)")
    func ggufExportIsTheSame() throws {
        let (twoBit, base3) = try Self.pair(Synthesizer.llama("t", architecture: "llama", layers: 1, width: 256, ffn: 512, heads: 4, kvHeads: 2,
                                                              vocabulary: 300, context: 64, theta: 10_000, activation: "silu", tied: false))
        for type in [GGUFTensorType.tq1_0, .tq2_0] {
            let a = twoBit + ".\(type.name).gguf", b = base3 + ".\(type.name).gguf"
            _ = try GGUFExporter.export(packed: twoBit, output: a, ternary: type, withTokenizer: false)
            _ = try GGUFExporter.export(packed: base3, output: b, ternary: type, withTokenizer: false)
            #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)), "\(type.name)")
        }
    }

    @Test("a t1.6 file with a byte past 242 or a nonzero weight in a row's padding is refused, naming the tensor")
    func corruptBytesAreRefused() throws {
        let (_, base3) = try Self.pair(Synthesizer.gpt2("t", layers: 1, width: 64, heads: 2))
        let file = try SafetensorsFile(path: base3)
        let name = "h.0.attn.c_attn.weight"
        #expect(file.tensors[name]?.dtype == .u8)
        // k = 64: byte 63 of a row holds position 63 and the padding positions 127, 191, 255 and 319.
        for (byte, expected) in [(UInt8(243), "byte 63 is 243; t1.6 bytes hold five base-3 digits, at most 242"),
                                 (UInt8(2), "row 0 has a nonzero weight in its padding (position 127 of 64)")] {
            let tensors = file.tensorNames.map { n -> OutputTensor in
                let t = file.tensors[n]!
                var bytes = Array(t.data)
                if n == name { bytes[63] = byte }
                return OutputTensor(name: n, dtype: t.dtype, shape: t.shape, bytes: bytes)
            }
            let path = TestPaths.temporaryDirectory().appendingPathComponent("bad.safetensors").path
            try SafetensorsWriter.write(to: path, metadata: file.metadata, tensors: tensors)
            do {
                _ = try ModelRegistry.load(path: path, isa: .best)
                Issue.record("a corrupt t1.6 byte \(byte) loaded")
            } catch {
                #expect("\(error)".contains(name) && "\(error)".contains(expected), "\(error)")
            }
        }
    }
}
