/// A product's template as its owner wrote it (`PublishTemplate`'s `template`): Mustache texts for the parts every
/// channel shows (`title`, `body`), optional per-channel parts (`email {subject?, text?, html?}`, `sms {body}`,
/// `push {title?, body?}`; what is left out is the title or the body), and per-locale variants (`locales {"es":
/// {...}, "es-MX": {...}}`), each complete in itself. A recipient's locale picks its variant by dropping subtags
/// (`es-MX` → `es` → the template's own parts), so a variant never mixes languages.
public struct ProductTemplate: Sendable, Equatable {
    public static let maxLocales = 50
    /// The longest part, in characters: an HTML email with its inline styles fits; a page of a book does not.
    public static let maxPartLength = 64 * 1024
    /// The largest `PublishTemplate` or `PreviewTemplate` request, in bytes.
    public static let maxRequestBytes = 512 * 1024
    /// A product's templates, at most: publishing a new name past it is refused (409), so a tenant cannot fill the
    /// database at the speed it is allowed to publish.
    public static let maxNamesPerProduct = 1_000
    /// Versions of one template kept: publishing past it deletes the oldest (never the live one), so rollback reaches
    /// the newest hundred.
    public static let maxVersionsKept = 100
    /// Bytes of definitions a product keeps, across every version of every template: a thousand names of a hundred
    /// versions of the largest template would be fifty gigabytes.
    public static let maxBytesPerProduct = 64 * 1024 * 1024

    /// The texts of one language.
    public struct Variant: Sendable, Equatable {
        public var title: String
        public var body: String
        public var emailSubject: String?
        public var emailText: String?
        public var emailHTML: String?
        public var sms: String?
        public var pushTitle: String?
        public var pushBody: String?

        public init(
            title: String, body: String, emailSubject: String? = nil, emailText: String? = nil, emailHTML: String? = nil,
            sms: String? = nil, pushTitle: String? = nil, pushBody: String? = nil
        ) {
            self.title = title
            self.body = body
            self.emailSubject = emailSubject
            self.emailText = emailText
            self.emailHTML = emailHTML
            self.sms = sms
            self.pushTitle = pushTitle
            self.pushBody = pushBody
        }

        init(_ fields: JSONFields) throws(Rejection) {
            func part(_ fields: JSONFields, _ key: String) throws(Rejection) -> String? {
                guard let text = try fields.optionalString(key, maxLength: ProductTemplate.maxPartLength) else { return nil }
                guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                    throw Rejection(.schema, "field '\(fields.path)\(key)' must not be blank (leave it out for the default)")
                }
                return text
            }
            guard let title = try part(fields, "title") else { throw Rejection(.schema, "missing required field '\(fields.path)title'") }
            guard let body = try part(fields, "body") else { throw Rejection(.schema, "missing required field '\(fields.path)body'") }
            self.title = title
            self.body = body
            let email = try fields.optionalObject("email")
            emailSubject = try email.flatMap { (email) throws(Rejection) in try part(email, "subject") }
            emailText = try email.flatMap { (email) throws(Rejection) in try part(email, "text") }
            emailHTML = try email.flatMap { (email) throws(Rejection) in try part(email, "html") }
            sms = try fields.optionalObject("sms").flatMap { (sms) throws(Rejection) in try part(sms, "body") }
            let push = try fields.optionalObject("push")
            pushTitle = try push.flatMap { (push) throws(Rejection) in try part(push, "title") }
            pushBody = try push.flatMap { (push) throws(Rejection) in try part(push, "body") }
        }

        /// Every part with the field path it is read from (relative to the variant), for compiling and for errors.
        var parts: [(path: String, text: String, html: Bool)] {
            var parts: [(String, String, Bool)] = [("title", title, false), ("body", body, false)]
            if let emailSubject { parts.append(("email.subject", emailSubject, false)) }
            if let emailText { parts.append(("email.text", emailText, false)) }
            if let emailHTML { parts.append(("email.html", emailHTML, true)) }
            if let sms { parts.append(("sms.body", sms, false)) }
            if let pushTitle { parts.append(("push.title", pushTitle, false)) }
            if let pushBody { parts.append(("push.body", pushBody, false)) }
            return parts
        }

        var json: JSONValue {
            var members: [(String, JSONValue)] = [("title", .string(title)), ("body", .string(body))]
            let email = [("subject", emailSubject), ("text", emailText), ("html", emailHTML)].compactMap { key, text in
                text.map { (key, JSONValue.string($0)) }
            }
            if !email.isEmpty { members.append(("email", .object(email))) }
            if let sms { members.append(("sms", .object([("body", .string(sms))]))) }
            let push = [("title", pushTitle), ("body", pushBody)].compactMap { key, text in text.map { (key, JSONValue.string($0)) } }
            if !push.isEmpty { members.append(("push", .object(push))) }
            return .object(members)
        }
    }

    /// The parts without a locale: what a recipient whose language has no variant gets.
    public var base: Variant
    /// Variants by language tag, in the order of their tags (sorted), so the same template reads the same.
    public var locales: [(tag: String, variant: Variant)]

    public init(base: Variant, locales: [(tag: String, variant: Variant)] = []) {
        self.base = base
        self.locales = locales.sorted { $0.tag < $1.tag }
    }

    public static func == (lhs: ProductTemplate, rhs: ProductTemplate) -> Bool {
        lhs.base == rhs.base && lhs.locales.map(\.tag) == rhs.locales.map(\.tag) && lhs.locales.map(\.variant) == rhs.locales.map(\.variant)
    }

    /// Reads a template from `fields` (`template` of a request, or a stored definition). Two tags that differ only in
    /// case are one language and refused together.
    public init(_ fields: JSONFields) throws(Rejection) {
        let base = try Variant(fields)
        var locales: [(String, Variant)] = []
        if let variants = try fields.optionalObject("locales") {
            guard variants.object.count <= Self.maxLocales else {
                throw Rejection(.schema, "field '\(variants.path.dropLast())' has more than \(Self.maxLocales) locales")
            }
            var seen: Set<String> = []
            for tag in variants.object.keys.sorted() {
                let checked = try ContactAddress.locale(tag, field: "\(variants.path)\(tag)")
                guard seen.insert(checked.lowercased()).inserted else {
                    throw Rejection(.schema, "field '\(variants.path)\(tag)' names a locale given twice")
                }
                locales.append((checked, try Variant(try variants.object(tag))))
            }
        }
        self.init(base: base, locales: locales)
    }

    /// The variant for `locale` (any case): the most specific tag of the template that is `locale` or a prefix of it,
    /// else the base parts; and the tag chosen (nil for the base).
    public func variant(for locale: String?) -> (tag: String?, variant: Variant) {
        guard let locale, !locales.isEmpty else { return (nil, base) }
        var subtags = locale.lowercased().split(separator: "-")
        while !subtags.isEmpty {
            let tag = subtags.joined(separator: "-")
            if let match = locales.first(where: { $0.tag.lowercased() == tag }) { return (match.tag, match.variant) }
            subtags.removeLast()
        }
        return (nil, base)
    }

    /// `{title, body, email?, sms?, push?, locales?}`, as `init(_:)` reads it.
    public var body: JSONValue {
        guard case .object(var members) = base.json else { return base.json }
        if !locales.isEmpty { members.append(("locales", .object(locales.map { ($0.tag, $0.variant.json) }))) }
        return .object(members)
    }

    /// Whether `name` is a template name: lower-case letters, digits, `.`, `_` and `-`, 1 to 64 of them, starting
    /// with a letter or digit (they appear in URLs and logs as they are).
    public static func checkName(_ name: String, field: String = "name") throws(Rejection) {
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)
        }
        guard (1...64).contains(name.count), allowed, let first = name.unicodeScalars.first, !"._-".unicodeScalars.contains(first) else {
            throw Rejection(.schema, "field '\(field)' must be 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")
        }
    }
}
