import Testing
import TernaryFormat
import TernaryKernels

/// ggml's ternary block types as the GGUF exporter writes them and the reader decodes them (the
/// Python tests check both against gguf-py, llama.cpp's own implementation, on whole models).
@Suite("GGUF tensor types")
struct GGUFTensorTypeTests {
    static func codes(_ count: Int, seed: UInt64) -> [Int8] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Int8(Int(rng.next() % 3) - 1) }
    }

    @Test("TQ1_0 and TQ2_0 blocks give back every code and the scale, including all −1 and all +1 blocks", arguments: [GGUFTensorType.tq1_0, .tq2_0])
    func ternaryRoundTrip(type: GGUFTensorType) throws {
        let rows = 3, k = 512
        var codes = Self.codes(rows * k, seed: 7)
        for j in 0..<256 { codes[j] = -1; codes[256 + j] = 1 }  // the extreme base-3 digits: 0 and 242
        let bytes = GGUFTensorType.encode(codes: codes, rows: rows, k: k, scale: 0.375, as: type)
        #expect(bytes.count == type.byteCount(elements: rows * k, rowLength: k))
        let blocks = try bytes.withUnsafeBytes { try type.ternaryBlocks($0, elements: rows * k).get() }
        #expect(blocks.codes == codes)
        #expect(blocks.scales == [Float](repeating: 0.375, count: rows * k / 256))
        let floats = try bytes.withUnsafeBytes { try type.floats($0, elements: rows * k).get() }
        #expect(floats == codes.map { Float($0) * 0.375 })
    }

    @Test("I2_S: bitnet.cpp's layout (weight 32g + p of a block in bits 7−2g..6−2g of byte p), the scale after the codes, code 3 refused")
    func i2s() throws {
        let codes = Self.codes(256, seed: 3)
        var bytes = [UInt8](repeating: 0, count: 256 / 4 + 32)
        for (j, c) in codes.enumerated() {
            let block = j / 128, within = j % 128
            bytes[block * 32 + within % 32] |= UInt8(c + 1) << UInt8(6 - 2 * (within / 32))
        }
        withUnsafeBytes(of: Float(0.5).bitPattern.littleEndian) { bytes.replaceSubrange(64..<68, with: $0) }
        let blocks = try bytes.withUnsafeBytes { try GGUFTensorType.i2_s.ternaryBlocks($0, elements: 256).get() }
        #expect(blocks.codes == codes && blocks.scales == [0.5])
        bytes[5] |= 0b11 << 6
        let bad = bytes.withUnsafeBytes { GGUFTensorType.i2_s.ternaryBlocks($0, elements: 256) }
        #expect(throws: GGUFDecodingError.invalidCode(element: 5)) { try bad.get() }
    }

    @Test("sizes: rows that are not whole blocks, and sizes that overflow, have none")
    func sizes() {
        #expect(GGUFTensorType.tq2_0.byteCount(elements: 192 * 4, rowLength: 192) == nil)
        #expect(GGUFTensorType.q8_0.byteCount(elements: 192 * 4, rowLength: 192) == 4 * 6 * 34)
        #expect(GGUFTensorType.f32.byteCount(elements: Int.max / 2, rowLength: 1) == nil)
        #expect(GGUFTensorType.i2_s.byteCount(elements: 1024, rowLength: 32) == 256 + 32)
    }
}
