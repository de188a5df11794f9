/// Lowercase hexadecimal, as digests are stored and compared (API key hashes, request hashes, signatures).
/// Written byte by byte: `String(format:)` per byte cost a tenth of the daemon's CPU on the send path.
public func lowercaseHex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    text.reserveCapacity(bytes.underestimatedCount * 2)
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: text, as: UTF8.self)
}
