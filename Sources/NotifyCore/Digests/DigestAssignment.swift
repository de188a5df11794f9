/// A digest still taking items, as stored: its id (the notification id its message goes under), its delivery's id,
/// how many items it holds and how many it may.
public struct OpenDigest: Sendable, Equatable {
    public var id: String
    public var deliveryID: String
    public var items: Int
    public var maxItems: Int

    public init(id: String, deliveryID: String, items: Int, maxItems: Int) {
        self.id = id
        self.deliveryID = deliveryID
        self.items = items
        self.maxItems = maxItems
    }
}

/// Which digest each new item joins, decided under the keys' locks from the digests open for them: the open one while
/// it has room, else a new one (opened by the item, with the item's policy). A digest that reaches its `maxItems`
/// is full: closed, and its job due at once, so the next item of its key opens another.
public struct DigestAssignment: Sendable, Equatable {
    /// The digests to open, each with the item that opened it.
    public var opened: [DigestItem] = []
    /// Items each existing or new digest gains, by digest id.
    public var added: [String: Int] = [:]
    /// Digests that are full now.
    public var full: [OpenDigest] = []
    /// Each item's delivery id with the digest it joins (its id and its delivery's), in the items' order.
    public var members: [(deliveryID: String, digestID: String, digestDeliveryID: String)] = []

    public init(_ items: [DigestItem], open: [DigestKey: OpenDigest]) {
        var open = open
        for item in items {
            let key = item.key
            var digest =
                open[key]
                ?? {
                    opened.append(item)
                    return OpenDigest(id: item.newDigestID, deliveryID: item.newDeliveryID, items: 0, maxItems: item.policy.maxItems)
                }()
            digest.items += 1
            added[digest.id, default: 0] += 1
            members.append((item.job.deliveryID, digest.id, digest.deliveryID))
            if digest.items >= digest.maxItems {
                full.append(digest)
                open[key] = nil
            } else {
                open[key] = digest
            }
        }
    }

    public static func == (a: DigestAssignment, b: DigestAssignment) -> Bool {
        a.opened == b.opened && a.added == b.added && a.full == b.full
            && a.members.map { [$0.deliveryID, $0.digestID, $0.digestDeliveryID] }
                == b.members.map { [$0.deliveryID, $0.digestID, $0.digestDeliveryID] }
    }
}
