import Foundation
import NotifyCore
import Testing

@Suite("InventoryAdjusted and the stock rule")
struct InventoryTests {
    static func parse(_ json: String) throws(Rejection) -> InventoryAdjusted {
        try InventoryAdjusted(try JSONInput().object(from: Array(json.utf8)))
    }

    static func flat(_ id: String, _ time: String, new: Int, adjusted: Int, product: String = "p-1") -> InventoryAdjusted {
        try! parse(
            #"{"event_id":"\#(id)","timestamp":"\#(time)","product_id":"\#(product)","adjusted_quantity":\#(adjusted),"new_quantity":\#(new)}"#
        )
    }

    @Test("the catalog's envelope example (stock-decrease.json)")
    func catalogEnvelope() throws {
        let json = """
            {"eventId":"evt_inv_adj_3e92df","eventType":"InventoryAdjusted","timestamp":"2024-04-10T09:45:33Z",
             "data":{"adjustmentId":"adj_20241015","sku":"SKU-MOUSE-ERGO","productName":"Ergonomic Wireless Mouse",
             "warehouseId":"wh_east_01","adjustmentType":"decrease","previousQuantity":340,"adjustedQuantity":-18,
             "newQuantity":322,"reason":"damaged_goods","notes":"18 units found damaged","adjustedBy":"warehouse_mgr_alee"},
             "metadata":{"correlationId":"corr_adj_002","version":"1.0.0"}}
            """
        let event = try Self.parse(json)
        #expect(event.eventID == "evt_inv_adj_3e92df")
        #expect(event.productID == "SKU-MOUSE-ERGO")
        #expect(event.warehouseID == "wh_east_01")
        #expect(event.previousQuantity == 340)
        #expect(event.newQuantity == 322)
        #expect(event.correlationID == "corr_adj_002")
    }

    @Test("the flat shape; previous quantity derived; productId preferred over sku")
    func flatShape() throws {
        let event = try Self.parse(
            #"{"event_id":"e1","timestamp":"2026-01-01T00:00:00Z","product_id":"p","adjusted_quantity":-3,"new_quantity":0,"adjustment_reason":"sale"}"#
        )
        #expect(event.previousQuantity == 3)
        #expect(event.warehouseID == "")
        let both = try Self.parse(
            #"{"eventId":"e2","timestamp":"2026-01-01T00:00:00Z","data":{"sku":"S","productId":"P","adjustedQuantity":1,"newQuantity":1}}"#)
        #expect(both.productID == "P")
    }

    @Test("the catalog's placeholder example (an Employee record) and other bad payloads are schema rejections")
    func rejections() {
        let bad = [
            #"{"Name": "John Doe", "Age": 30, "Department": "Engineering", "Position": "Software Engineer", "Salary": 85000.50, "JoinDate": "2024-01-15"}"#,
            #"{"event_id":"e","timestamp":"2026-01-01T00:00:00Z","product_id":"p","adjusted_quantity":1.5,"new_quantity":2}"#,
            #"{"eventId":"e","eventType":"OutOfStock","timestamp":"2026-01-01T00:00:00Z","data":{"sku":"s","adjustedQuantity":1,"newQuantity":1}}"#,
            #"{"eventId":"e","timestamp":"2026-01-01T00:00:00Z","data":{"adjustedQuantity":1,"newQuantity":1}}"#,
        ]
        for json in bad {
            do {
                _ = try Self.parse(json)
                Issue.record("accepted \(json)")
            } catch {
                #expect(error.reason == .schema)
            }
        }
    }

    @Test("3 → 0 → 0 → 5 → 0 makes exactly two stock-outs, with the last available quantities")
    func transitions() {
        let steps = [(3, 1), (0, -3), (0, 0), (5, 5), (0, -5)]  // (new, adjusted): starts in stock at 3
        var level: StockLevel?
        var outs: [Int] = []
        var backs = 0
        for (index, (new, adjusted)) in steps.enumerated() {
            let event = Self.flat("e\(index)", "2026-01-01T00:00:0\(index)Z", new: new, adjusted: adjusted)
            let (next, transition) = StockRule.apply(event, to: level)
            level = next ?? level
            if case .outOfStock(let last) = transition { outs.append(last) }
            if transition == .backInStock { backs += 1 }
        }
        #expect(outs == [3, 5])
        #expect(backs == 1)
    }

    @Test("an adjustment older than the level changes nothing; a first event uses previousQuantity")
    func orderingAndFirstEvents() {
        let current = StockLevel(quantity: 0, outOfStock: true, asOf: RFC3339.date(from: "2026-01-01T00:00:10Z")!)
        let late = Self.flat("late", "2026-01-01T00:00:05Z", new: 7, adjusted: 7)
        #expect(StockRule.apply(late, to: current).level == nil)
        #expect(StockRule.apply(late, to: current).transition == .none)

        #expect(
            StockRule.apply(Self.flat("a", "2026-01-01T00:00:00Z", new: 0, adjusted: -3), to: nil).transition
                == .outOfStock(lastAvailable: 3))
        #expect(StockRule.apply(Self.flat("b", "2026-01-01T00:00:00Z", new: -2, adjusted: -2), to: nil).transition == .none)
    }

    @Test("low stock is a crossing of the threshold while still in stock")
    func lowStock() {
        var level: StockLevel? = StockLevel(quantity: 20, outOfStock: false, asOf: .distantPast)
        var seen: [StockRule.Transition] = []
        for (index, new) in [8, 5, 0, 12, 3].enumerated() {
            let before = level!.quantity
            let event = Self.flat("l\(index)", "2026-01-01T00:00:0\(index)Z", new: new, adjusted: new - before)
            let (next, transition) = StockRule.apply(event, to: level, lowStockThreshold: 10)
            level = next ?? level
            seen.append(transition)
        }
        #expect(seen == [.lowStock(threshold: 10), .none, .outOfStock(lastAvailable: 5), .backInStock, .lowStock(threshold: 10)])
        let policy = InventoryPolicy(watchers: ["ops"], lowStockThreshold: 10, lowStockOverrides: ["rare": 1])
        #expect(policy.lowStockThreshold(for: "rare") == 1)
        #expect(policy.lowStockThreshold(for: "common") == 10)
    }

    @Test("OutOfStock bodies: required fields always, warehouse when known")
    func outOfStockBody() throws {
        let event = OutOfStock(
            eventID: "id-1", timestamp: RFC3339.date(from: "2024-04-22T18:33:07Z")!, productID: "p",
            lastAvailableQuantity: 3, warehouseID: "")
        let json = try JSONSerialization.jsonObject(with: Data(event.body.bytes)) as! [String: Any]
        #expect(json["event_id"] as? String == "id-1")
        #expect(json["timestamp"] as? String == "2024-04-22T18:33:07.000Z")
        #expect(json["last_available_quantity"] as? Int == 3)
        #expect(json["warehouse_id"] == nil)
    }
}
