/// The GGUF tensor types this engine reads and writes (ggml's `ggml_type` numbers; I2_S is
/// bitnet.cpp's). Each knows its block layout, so a tensor's byte size is checked against the file
/// before a byte of it is read, and decodes blocks exactly as ggml's reference code does
/// (docs/FORMAT.md, "GGUF").
public enum GGUFTensorType: UInt32, CaseIterable, Sendable {
    case f32 = 0, f16 = 1, q4_0 = 2, q8_0 = 8, q6_K = 14, bf16 = 30, tq1_0 = 34, tq2_0 = 35, i2_s = 36

    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q8_0: "Q8_0"
        case .q6_K: "Q6_K"
        case .bf16: "BF16"
        case .tq1_0: "TQ1_0"
        case .tq2_0: "TQ2_0"
        case .i2_s: "I2_S"
        }
    }

    /// A type number's name, for messages about types this engine does not read.
    public static func describe(_ raw: UInt32) -> String {
        GGUFTensorType(rawValue: raw).map(\.name) ?? "type \(raw)"
    }

    /// Weights per block (rows must be whole blocks; I2_S's blocks run over the whole tensor).
    public var blockWeights: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q4_0, .q8_0: 32
        case .i2_s: 128
        case .q6_K, .tq1_0, .tq2_0: 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 18      // f16 d, 16 bytes of nibbles
        case .q8_0: 34      // f16 d, 32 int8
        case .q6_K: 210     // ql[128], qh[64], int8 scales[16], f16 d
        case .tq1_0: 54     // qs[48] (5 base-3 digits each), qh[4] (4 digits each), f16 d
        case .tq2_0: 66     // qs[64] (4 2-bit codes each), f16 d
        case .i2_s: 32      // 128 2-bit codes; the tensor ends with 32 bytes holding its f32 scale
        }
    }

    /// Whether values are −1/0/+1 codes times scales (kept exactly when packed).
    public var isTernary: Bool { self == .tq1_0 || self == .tq2_0 || self == .i2_s }

    /// Bytes of a tensor of `elements` values whose rows hold `rowLength`; nil when the row is not
    /// whole blocks or the size overflows.
    public func byteCount(elements: Int, rowLength: Int) -> Int? {
        guard elements >= 0, rowLength > 0 else { return nil }
        if self == .i2_s {
            guard elements % blockWeights == 0 else { return nil }
            return elements / 4 + 32
        }
        guard rowLength % blockWeights == 0 else { return nil }
        let (bytes, overflow) = (elements / blockWeights).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    /// Ternary codes (−1, 0, +1) and the scale of each `blockWeights` block (I2_S: one scale for all).
    public struct TernaryBlocks: Sendable {
        public var codes: [Int8]
        public var scales: [Float]
    }

    /// The codes and scales of a TQ1_0, TQ2_0 or I2_S tensor of `elements` values. An I2_S code 3
    /// is no value and an error (nil and the position of the first).
    public func ternaryBlocks(_ data: UnsafeRawBufferPointer, elements: Int) -> Result<TernaryBlocks, GGUFDecodingError> {
        var codes = [Int8](repeating: 0, count: elements)
        var scales: [Float] = []
        let blocks = elements / blockWeights
        switch self {
        case .tq2_0:
            scales.reserveCapacity(blocks)
            for b in 0..<blocks {
                let base = b * 66
                for j in 0..<256 {
                    // Weight j: byte 32·(j / 128) + j % 32, bits 2·((j % 128) / 32).
                    let byte = data[base + 32 * (j / 128) + j % 32]
                    let code = (byte >> UInt8(2 * ((j % 128) / 32))) & 3
                    guard code != 3 else { return .failure(.invalidCode(element: b * 256 + j)) }
                    codes[b * 256 + j] = Int8(code) - 1
                }
                scales.append(Float(half(data, base + 64)))
            }
        case .tq1_0:
            scales.reserveCapacity(blocks)
            for b in 0..<blocks {
                let base = b * 54
                // Digit n of a byte q (most significant first) is ((q · 3ⁿ mod 256) · 3) >> 8.
                func digit(_ byte: UInt8, _ n: Int) -> Int8 { Int8((UInt16(byte &* Self.powersOf3[n]) * 3) >> 8) - 1 }
                for m in 0..<32 { for n in 0..<5 { codes[b * 256 + n * 32 + m] = digit(data[base + m], n) } }
                for m in 0..<16 { for n in 0..<5 { codes[b * 256 + 160 + n * 16 + m] = digit(data[base + 32 + m], n) } }
                for m in 0..<4 { for n in 0..<4 { codes[b * 256 + 240 + n * 4 + m] = digit(data[base + 48 + m], n) } }
                scales.append(Float(half(data, base + 52)))
            }
        case .i2_s:
            for b in 0..<blocks {
                for j in 0..<128 {
                    // Weight j of a block: byte j % 32, bits 6 − 2·(j / 32) and 7 − 2·(j / 32).
                    let code = (data[b * 32 + j % 32] >> UInt8(6 - 2 * (j / 32))) & 3
                    guard code != 3 else { return .failure(.invalidCode(element: b * 128 + j)) }
                    codes[b * 128 + j] = Int8(code) - 1
                }
            }
            scales = [data.loadUnaligned(fromByteOffset: elements / 4, as: Float.self)]
        default:
            return .failure(.notTernary(self))
        }
        return .success(TernaryBlocks(codes: codes, scales: scales))
    }

    static let powersOf3: [UInt8] = [1, 3, 9, 27, 81]

    /// Every value as Float32 (a ternary type's codes times their scales).
    public func floats(_ data: UnsafeRawBufferPointer, elements: Int) -> Result<[Float], GGUFDecodingError> {
        var out = [Float](repeating: 0, count: elements)
        let blocks = elements / blockWeights
        switch self {
        case .f32:
            for i in 0..<elements { out[i] = data.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<elements { out[i] = Float(half(data, 2 * i)) }
        case .bf16:
            for i in 0..<elements { out[i] = Float(bitPattern: UInt32(data.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .q8_0:
            for b in 0..<blocks {
                let d = Float(half(data, b * 34))
                for j in 0..<32 { out[b * 32 + j] = d * Float(Int8(bitPattern: data[b * 34 + 2 + j])) }
            }
        case .q4_0:
            for b in 0..<blocks {
                let d = Float(half(data, b * 18))
                for j in 0..<16 {
                    let byte = data[b * 18 + 2 + j]
                    out[b * 32 + j] = d * Float(Int(byte & 0xF) - 8)
                    out[b * 32 + j + 16] = d * Float(Int(byte >> 4) - 8)
                }
            }
        case .q6_K:
            for b in 0..<blocks {
                let base = b * 210
                let d = Float(half(data, base + 208))
                for h in 0..<2 {
                    for t in 0..<128 {
                        let low = data[base + h * 64 + t % 64] >> UInt8(4 * (t / 64)) & 0xF
                        let high = (data[base + 128 + h * 32 + t % 32] >> UInt8(2 * (t / 32))) & 3
                        let i = h * 128 + t
                        let scale = Float(Int8(bitPattern: data[base + 192 + i / 16]))
                        out[b * 256 + i] = d * scale * Float(Int(low | high << 4) - 32)
                    }
                }
            }
        case .tq1_0, .tq2_0, .i2_s:
            switch ternaryBlocks(data, elements: elements) {
            case let .failure(error): return .failure(error)
            case let .success(blocks):
                let per = self == .i2_s ? elements : blockWeights
                for i in 0..<elements { out[i] = Float(blocks.codes[i]) * blocks.scales[i / max(per, 1)] }
            }
        }
        return .success(out)
    }

    private func half(_ data: UnsafeRawBufferPointer, _ offset: Int) -> Float16 {
        Float16(bitPattern: data.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
}

/// Why a tensor's blocks could not be decoded.
public enum GGUFDecodingError: Error, Sendable, Equatable {
    /// A 2-bit code 3, which stands for no ternary value.
    case invalidCode(element: Int)
    case notTernary(GGUFTensorType)

    public var reason: String {
        switch self {
        case let .invalidCode(element): "element \(element) holds the 2-bit code 3, which is no ternary value"
        case let .notTernary(type): "\(type.name) is not a ternary type"
        }
    }
}

extension GGUFFile {
    /// A tensor's type and bytes, after checking that the type is one this engine reads, its rows
    /// are whole blocks and its bytes lie inside the file.
    public func data(of tensor: TensorInfo) throws -> (type: GGUFTensorType, bytes: UnsafeRawBufferPointer) {
        func bad(_ reason: String) -> FormatError { .badTensorEntry(path: path, tensor: tensor.name, reason: reason) }
        guard let type = GGUFTensorType(rawValue: tensor.type) else {
            throw bad("its type \(tensor.type) is not one this engine reads (\(GGUFTensorType.allCases.map(\.name).joined(separator: ", ")))")
        }
        var elements = 1
        for d in tensor.dimensions {
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow, product <= 1 << 40 else { throw bad("its dimensions \(tensor.dimensions) hold too many elements") }
            elements = product
        }
        guard let count = type.byteCount(elements: elements, rowLength: tensor.dimensions[0]) else {
            throw bad("\(type.name) stores blocks of \(type.blockWeights) values, and its rows of \(tensor.dimensions[0]) (of \(elements) values) are not whole blocks")
        }
        let start = dataOffset + tensor.offset
        guard start <= bytes.count, count <= bytes.count - start else {
            throw bad("its \(count) bytes at \(start) run past the end of the file (\(bytes.count) bytes); the file is truncated")
        }
        return (type, UnsafeRawBufferPointer(rebasing: bytes[start..<(start + count)]))
    }
}
