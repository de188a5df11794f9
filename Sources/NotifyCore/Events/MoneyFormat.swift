/// Amounts as people read them: the currency's minor units (ISO 4217) and its symbol where one is common.
///
/// Rounding works on the decimal digits of the amount as written (the shortest representation of the parsed
/// number), never on a binary product such as `amount * 100`: `1.005` USD is `$1.01`, not `$1.00`. Amounts are
/// validated to at most `PaymentProcessed.maxAmount`; anything larger, negative, or not finite is written as
/// digits without rounding rather than trapping.
public enum MoneyFormat {
    /// `1234.5` in USD → `$1,234.50`; in JPY → `¥1,235`; in CHF → `CHF 1,234.50`.
    public static func display(_ amount: Double, currency: String) -> String {
        let digits = plain(amount, currency: currency, grouping: true)
        if let symbol = symbols[currency] { return symbol + digits }
        return "\(currency) \(digits)"
    }

    /// `1234.50`: fixed minor units, no symbol.
    public static func plain(_ amount: Double, currency: String, grouping: Bool = false) -> String {
        let minorUnits = minorUnits(currency)
        guard amount.isFinite, amount >= 0, let decimal = Decimal(amount) else { return "\(amount)" }
        // The amount in minor units, as decimal digits, with at least one digit before the fraction.
        var digits = decimal.rounded(toFractionDigits: minorUnits)
        while digits.count <= minorUnits { digits.insert(0, at: 0) }
        let fraction = digits.suffix(minorUnits)
        var wholeText = String(decoding: digits.dropLast(minorUnits).map { $0 + 48 }, as: UTF8.self)
        if grouping {
            var grouped = ""
            for (index, character) in wholeText.reversed().enumerated() {
                if index > 0, index % 3 == 0 { grouped.append(",") }
                grouped.append(character)
            }
            wholeText = String(grouped.reversed())
        }
        guard minorUnits > 0 else { return wholeText }
        return wholeText + "." + String(decoding: fraction.map { $0 + 48 }, as: UTF8.self)
    }

    static func minorUnits(_ currency: String) -> Int {
        if zeroDecimal.contains(currency) { return 0 }
        if threeDecimal.contains(currency) { return 3 }
        return 2
    }

    private static let symbols = ["USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "BRL": "R$"]
    private static let zeroDecimal: Set = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"]
    private static let threeDecimal: Set = ["BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"]

    /// A non-negative number as decimal digits and the power of ten of the last one: `12.5` is `[1, 2, 5]`, -1.
    struct Decimal: Equatable {
        var digits: [UInt8]
        var exponent: Int

        /// From Swift's shortest round-tripping representation (`100.5`, `1e-05`, `1.5e+20`).
        init?(_ value: Double) {
            let text = Array("\(value)".utf8)
            var digits: [UInt8] = [], exponent = 0, seenPoint = false, index = 0
            while index < text.count, text[index] != UInt8(ascii: "e") {
                switch text[index] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    digits.append(text[index] - 48)
                    if seenPoint { exponent -= 1 }
                case UInt8(ascii: "."): seenPoint = true
                default: return nil
                }
                index += 1
            }
            if index < text.count {
                guard let power = Int(String(decoding: text[(index + 1)...], as: UTF8.self)),
                    abs(power) <= 400
                else { return nil }
                exponent += power
            }
            guard !digits.isEmpty else { return nil }
            self.digits = digits
            self.exponent = exponent
        }

        /// The digits of `self × 10^fractionDigits`, rounded half up to a whole number.
        func rounded(toFractionDigits fractionDigits: Int) -> [UInt8] {
            let shift = exponent + fractionDigits
            if shift >= 0 { return trimmed(digits + Array(repeating: 0, count: shift)) }
            let keep = digits.count + shift
            guard keep >= 0 else { return [0] }
            var kept = Array(digits.prefix(keep))
            if digits[keep] >= 5 {
                // Carry the rounding up through the kept digits.
                var position = kept.count - 1
                while position >= 0, kept[position] == 9 {
                    kept[position] = 0
                    position -= 1
                }
                if position >= 0 { kept[position] += 1 } else { kept.insert(1, at: 0) }
            }
            return trimmed(kept)
        }

        private func trimmed(_ digits: [UInt8]) -> [UInt8] {
            let firstNonZero = digits.firstIndex { $0 != 0 } ?? digits.count
            let rest = Array(digits[firstNonZero...])
            return rest.isEmpty ? [0] : rest
        }
    }
}
