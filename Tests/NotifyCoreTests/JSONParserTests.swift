import Foundation
import PropertyBased
import Testing

@testable import NotifyCore

/// The service's JSON parser against Foundation's, the one it replaced: the same documents accepted (trailing
/// commas included, which Foundation allows), the same values read (numbers compared as the `Double` both give).
@Suite("JSON parser")
struct JSONParserTests {
    @Test(
        "tricky documents: accepted and refused as Foundation does, with the same values",
        arguments: [
            #"{}"#, #"[]"#, #" {"a" : [1, -0, 2.5e3, -1E-2, 0.1] } "#, #"{"a":"\u00e9\ud83e\udde8\n\t\"\\\/"}"#,
            #"{"a":true,"b":false,"c":null}"#, #"{"a":1,"a":2}"#, #"{"a":"é🧨"}"#, #"{"a":"\u0000"}"#,
            #"{"a":123456789012345678901234567890}"#, #"{"a":1.7976931348623157e308}"#,
            #"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":-}"#, #"{"a":1e}"#, #"{"a":+1}"#, #"{"a":[1,]}"#,
            #"{"a":1,}"#, #"{"a"}"#, #"{a:1}"#, #"{"a":tru}"#, #"{"a":"\x"}"#, #"{"a":"\u12"}"#, #"{"a":"\ud800"}"#,
            #"{"a":"\udc00x"}"#, "{\"a\":\"tab\there\"}", #"{"a":1} x"#, #"{"a":1}{"#, "", " ", #"""#, #"[1 2]"#, #"nul"#,
            #"{,}"#, #"[,]"#, #"[1,,]"#, #"{"a":1,,}"#, #"[ ]"#, #"{ }"#, "[1]\n",
        ])
    func tricky(_ text: String) throws {
        try Self.agree(Array(text.utf8))
    }

    @Test("generated documents read back as Foundation reads them")
    func generated() async {
        let scalars = Gen.oneOf(Gen.unicodeScalar(in: "\u{0}"..."\u{D7FF}"), Gen.unicodeScalar(in: "\u{E000}"..."\u{10FFFF}")).map(
            Character.init)
        await propertyCheck(
            count: 500, input: Gen.int(in: -(1 << 53)...(1 << 53)), Gen.double(in: -1e300...1e300), Gen.bool,
            scalars.string(of: 0...16), scalars.string(of: 0...4).array(of: 0...4)
        ) { integer, double, flag, text, texts in
            let document: [String: Any] = [
                "i": integer, "d": double, "b": flag, "s": text, "a": texts, "n": NSNull(), "o": ["x": [integer], "y": [:]],
            ]
            guard let data = try? JSONSerialization.data(withJSONObject: document) else { return }
            try Self.agree(Array(data))
        }
    }

    /// Both parsers accept `bytes` or both refuse it; accepted, they read the same value.
    static func agree(_ bytes: [UInt8]) throws {
        let foundation = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        let ours = JSONParser.parse(bytes)
        // A number too large for a Double is refused by both, except that Foundation does not look at one whose
        // key is repeated later in the object; this parser refuses those too.
        if foundation != nil, ours == nil,
            String(decoding: bytes, as: UTF8.self).range(of: #"[0-9][eE]\+?0*[0-9]{3,}"#, options: .regularExpression) != nil
        {
            return
        }
        #expect(
            (foundation == nil) == (ours == nil),
            "accepted by \(ours == nil ? "Foundation only" : "ours only"): \(String(decoding: bytes, as: UTF8.self))")
        if let foundation, let ours {
            #expect(same(foundation, ours), "\(String(decoding: bytes, as: UTF8.self))")
        }
    }

    /// Foundation's value and ours are the same JSON value. Numbers may differ in the last bits: Foundation's
    /// parser rounds some decimals wrongly (it reads 0.30000000000000004 as 0.3000000000000001; this one reads it
    /// as Swift's `Double` does), and integers beyond 2^53 may round either way.
    static func same(_ foundation: Any, _ ours: Any) -> Bool {
        switch (foundation, ours) {
        case (let a as [String: Any], let b as [String: Any]):
            a.count == b.count && a.allSatisfy { key, value in b[key].map { same(value, $0) } ?? false }
        case (let a as [Any], let b as [Any]): a.count == b.count && zip(a, b).allSatisfy { same($0, $1) }
        case (let a as String, let b as String): a == b
        case (is NSNull, is NSNull): true
        case (let a as NSNumber, let b as Bool) where type(of: a) == type(of: NSNumber(value: true)): a.boolValue == b
        case (let a as NSNumber, let b as Double) where type(of: a) != type(of: NSNumber(value: true)):
            a.doubleValue == b || abs(a.doubleValue - b) <= 4 * max(a.doubleValue.ulp, b.ulp)
        default: false
        }
    }
}
