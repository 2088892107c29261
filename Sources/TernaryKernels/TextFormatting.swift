/// Fixed-point number formatting for reports (what `String(format: "%.Nf")` does, without needing
/// full Foundation).
extension Double {
    /// The value rounded to `decimals` digits after the point ("12.35" for 12.345 and 2).
    public func fixed(_ decimals: Int) -> String {
        guard isFinite else { return isNaN ? "nan" : (self < 0 ? "-inf" : "inf") }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(self) * scale).rounded()
        guard scaled < 9e18 else { return "\(self)" }
        var digits = String(UInt64(scaled))
        if decimals > 0 {
            if digits.count <= decimals { digits = String(repeating: "0", count: decimals + 1 - digits.count) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -decimals))
        }
        return (self < 0 && scaled > 0 ? "-" : "") + digits
    }
}
