import Foundation

/// InventoryAdjusted 1.x in either shape the catalog shows (docs/api.md), reduced to what stock tracking needs.
public struct InventoryAdjusted: Sendable, Equatable {
    public var eventID: String
    public var timestamp: Date
    /// `product_id`; in the envelope shape `productId`, else `sku`.
    public var productID: String
    /// Empty when the event names no warehouse.
    public var warehouseID: String
    public var adjustedQuantity: Int
    public var newQuantity: Int
    /// The level before this adjustment: `previousQuantity` when given, else `newQuantity - adjustedQuantity`.
    public var previousQuantity: Int
    public var correlationID: String?

    public init(_ json: [String: Any]) throws(Rejection) {
        let fields = JSONFields(json)
        if fields.has("event_id") {
            eventID = try fields.id("event_id")
            timestamp = try fields.timestamp("timestamp")
            productID = try fields.id("product_id")
            warehouseID = try fields.optionalID("warehouse_id") ?? ""
            adjustedQuantity = try fields.integer("adjusted_quantity")
            newQuantity = try fields.integer("new_quantity")
            previousQuantity = newQuantity - adjustedQuantity
            _ = try fields.optionalString("adjustment_reason")
            _ = try fields.optionalString("adjusted_by")
            correlationID = nil
        } else if fields.has("eventId") || fields.has("data") {
            eventID = try fields.id("eventId")
            if let type = try fields.optionalString("eventType"), type != "InventoryAdjusted" {
                throw Rejection(.schema, "field 'eventType' must be \"InventoryAdjusted\"")
            }
            timestamp = try fields.timestamp("timestamp")
            let data = try fields.object("data")
            let explicitProduct = try data.optionalID("productId")
            let sku = try data.optionalID("sku")
            guard let product = explicitProduct ?? sku else {
                throw Rejection(.schema, "missing required field 'data.sku' (or 'data.productId')")
            }
            productID = product
            warehouseID = try data.optionalID("warehouseId") ?? ""
            adjustedQuantity = try data.integer("adjustedQuantity")
            newQuantity = try data.integer("newQuantity")
            let previous = try data.optionalInteger("previousQuantity")
            previousQuantity = previous ?? newQuantity - adjustedQuantity
            for optional in ["productName", "adjustmentType", "reason", "notes", "adjustedBy"] {
                _ = try data.optionalString(optional)
            }
            correlationID = try fields.optionalObject("metadata")?.optionalID("correlationId")
        } else {
            throw Rejection(.schema, "missing required field 'event_id' (flat shape) or 'eventId' (envelope shape)")
        }
    }
}

extension JSONFields {
    /// A required whole number (stock quantities), within ±10^12.
    func integer(_ key: String) throws(Rejection) -> Int {
        guard let value = try optionalInteger(key) else { throw Rejection(.schema, "missing required field '\(path)\(key)'") }
        return value
    }

    func optionalInteger(_ key: String) throws(Rejection) -> Int? {
        guard has(key) else { return nil }
        let value = try number(key)
        guard value.rounded() == value, abs(value) <= 1e12 else {
            throw Rejection(.schema, "field '\(path)\(key)' must be a whole number")
        }
        return Int(value)
    }
}
