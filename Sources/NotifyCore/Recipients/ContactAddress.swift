/// Contact addresses as a recipient directory accepts them: checked once, when they are registered, so a send
/// never meets an address no provider would take. Pure functions; a failure is a `Rejection` naming the field
/// and the rule, never echoing the value.
public enum ContactAddress {
    // MARK: - Email (RFC 5321 limits, RFC 5322 dot-atom, RFC 6531 UTF-8, IDNA domains)

    /// An email address, normalised: the domain in lower case (domains are case-insensitive; the local part is
    /// the receiving server's and is kept as written).
    ///
    /// Accepted: a dot-atom local part (RFC 5322 `atext`, plus any non-ASCII character as RFC 6531 allows), `@`,
    /// and a domain of at least two labels, each of letters, digits and hyphens (not first or last) or an
    /// internationalised label. Limits are RFC 5321's, measured in octets on the wire: local part ≤ 64, domain
    /// ≤ 253 in its ASCII (Punycode) form with labels ≤ 63, whole address ≤ 254. Quoted local parts and address
    /// literals (`user@[192.0.2.1]`) are refused: no provider a service like this sends through takes them.
    public static func email(_ text: String, field: String = "email") throws(Rejection) -> String {
        func reject(_ rule: String) -> Rejection { Rejection(.schema, "field '\(field)' is not a valid email address: \(rule)") }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw reject("it must contain exactly one '@'") }
        let local = parts[0]
        let domain = parts[1].lowercased()
        guard !local.isEmpty else { throw reject("the part before '@' is empty") }
        guard local.utf8.count <= 64 else { throw reject("the part before '@' is longer than 64 octets") }
        guard !local.hasPrefix("."), !local.hasSuffix("."), !local.contains("..") else {
            throw reject("the part before '@' has a leading, trailing or doubled dot")
        }
        guard local.unicodeScalars.allSatisfy({ $0.value > 0x7F || atext.contains($0) || $0 == "." }) else {
            throw reject("the part before '@' has a character outside RFC 5322's atext (quoted local parts are not accepted)")
        }
        let labels = try asciiLabels(of: domain, reject: reject)
        guard labels.count >= 2 else { throw reject("the domain needs at least two labels") }
        guard labels.last!.contains(where: { !("0"..."9").contains($0) }) else { throw reject("the top-level domain is numeric") }
        let asciiDomainLength = labels.reduce(labels.count - 1) { $0 + $1.utf8.count }
        guard asciiDomainLength <= 253 else { throw reject("the domain is longer than 253 octets") }
        guard local.utf8.count + 1 + asciiDomainLength <= 254 else { throw reject("the address is longer than 254 octets") }
        return String(local) + "@" + domain
    }

    /// The domain's labels in ASCII: internationalised labels in their Punycode form (`xn--...`, RFC 3492).
    private static func asciiLabels(of domain: String, reject: (String) -> Rejection) throws(Rejection) -> [String] {
        guard !domain.isEmpty else { throw reject("the domain is empty") }
        var labels: [String] = []
        for label in domain.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else { throw reject("the domain has an empty label") }
            guard !label.hasPrefix("-"), !label.hasSuffix("-") else { throw reject("a domain label starts or ends with '-'") }
            let ascii: String
            if label.unicodeScalars.allSatisfy({ $0.isASCII }) {
                guard label.unicodeScalars.allSatisfy({ ldh.contains($0) }) else {
                    throw reject("a domain label has a character other than letters, digits and '-'")
                }
                ascii = String(label)
            } else {
                guard label.unicodeScalars.allSatisfy({ $0.isASCII ? ldh.contains($0) : isLabelLetter($0) }) else {
                    throw reject("an internationalised domain label has a character that is not a letter, digit or mark")
                }
                guard let encoded = Punycode.encode(String(label)) else { throw reject("a domain label cannot be encoded") }
                ascii = "xn--" + encoded
            }
            guard ascii.utf8.count <= 63 else { throw reject("a domain label is longer than 63 octets") }
            labels.append(ascii)
        }
        return labels
    }

    /// Letters, digits and combining marks: what IDNA2008 labels are made of (symbols such as '☃' are not).
    private static func isLabelLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .nonspacingMark, .spacingMark: true
        default: scalar.properties.isAlphabetic
        }
    }

    private static let atext = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-".unicodeScalars)
    private static let ldh = Set("abcdefghijklmnopqrstuvwxyz0123456789-".unicodeScalars)

    // MARK: - Phone (E.164)

    /// A phone number in E.164 (`+` and 2 to 15 digits, the first not 0), as SMS providers take it. Spaces,
    /// hyphens, dots and parentheses people write between the digits are removed.
    public static func phone(_ text: String, field: String = "phone") throws(Rejection) -> String {
        let compact = text.unicodeScalars.filter { !" -.()".unicodeScalars.contains($0) }
        guard compact.first == "+" else {
            throw Rejection(.schema, "field '\(field)' must be an E.164 number starting with '+' and a country code")
        }
        let digits = compact.dropFirst()
        guard (2...15).contains(digits.count), digits.allSatisfy({ ("0"..."9").contains($0) }), digits.first != "0" else {
            throw Rejection(.schema, "field '\(field)' must be an E.164 number: '+' and 2 to 15 digits, the first not 0")
        }
        return "+" + String(String.UnicodeScalarView(digits))
    }

    // MARK: - Locale and time zone

    /// A BCP 47 language tag (`en`, `pt-BR`, `zh-Hant-TW`): subtags of 1 to 8 letters or digits, the first of 2 to
    /// 8 letters, at most 35 characters.
    public static func locale(_ text: String, field: String = "locale") throws(Rejection) -> String {
        func alphanumeric(_ subtag: Substring, letters: Bool) -> Bool {
            subtag.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || (!letters && ("0"..."9").contains($0))) }
        }
        let subtags = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.count <= 35, let language = subtags.first, (2...8).contains(language.count),
            alphanumeric(language, letters: true),
            subtags.dropFirst().allSatisfy({ (1...8).contains($0.count) && alphanumeric($0, letters: false) })
        else { throw Rejection(.schema, "field '\(field)' must be a BCP 47 language tag such as 'en' or 'pt-BR'") }
        return text
    }
}
