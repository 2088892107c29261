import TernaryFormat

/// Bounds on the sizes a config may give, checked before anything is allocated: a corrupt or
/// hostile file gets an error naming the key instead of an overflow trap or a petabyte allocation.
/// They are far above any real model (Llama 3 405B has 126 layers, width 16,384 and a 128k
/// vocabulary).
public enum ModelLimits {
    /// The largest width, height, vocabulary or context a config may give.
    public static let maximumDimension = 1 << 24
    public static let maximumLayers = 1024
    /// The most weights a model may have in all (2^40, about 1.1 trillion).
    public static let maximumElements = 1 << 40

    /// `value` is a positive dimension within bounds.
    static func check(_ value: Int, _ key: String) throws {
        let limit = key.contains("layer") ? maximumLayers : maximumDimension
        guard value >= 1, value <= limit else { throw invalid(key, "\(value) is outside 1...\(limit)") }
    }

    /// The product of `factors` stays within `maximumElements`.
    static func checkProduct(_ factors: [Int], _ what: String) throws {
        var product = 1
        for f in factors {
            let (p, overflow) = product.multipliedReportingOverflow(by: f)
            guard !overflow, p <= maximumElements else { throw invalid(what, "\(factors.map(String.init).joined(separator: " × ")) weights is more than this engine loads (\(maximumElements))") }
            product = p
        }
    }

    static func invalid(_ key: String, _ reason: String) -> JSONValueDecoder.Failure { .init(path: key, reason: reason) }
    static func unsupported(_ key: String, _ reason: String) -> JSONValueDecoder.Failure { .init(path: key, reason: reason) }
}
