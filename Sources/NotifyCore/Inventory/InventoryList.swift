/// The `GetInventoryList` query this service sends to the inventory service (docs/api.md, catalog schema).
public enum InventoryList {
    /// `{filters: {inStock: false}, pagination: {page, pageSize}}`: out-of-stock items, one page.
    public static func outOfStockRequest(page: Int, pageSize: Int) -> JSONValue {
        .object([
            ("filters", .object([("inStock", .bool(false))])),
            ("pagination", .object([("page", .int(page)), ("pageSize", .int(pageSize))])),
        ])
    }

    public struct Item: Sendable, Equatable {
        public var productID: String
        /// `location`, which stock tracking uses as the warehouse; empty when absent.
        public var location: String
        public var quantity: Int

        public init(productID: String, location: String, quantity: Int) {
            self.productID = productID
            self.location = location
            self.quantity = quantity
        }
    }

    public struct Page: Sendable, Equatable {
        public var items: [Item]
        public var page: Int
        public var pageSize: Int
        public var total: Int

        /// True when later pages exist. The values come from another service: the product is checked, and one that
        /// overflows means there is nothing sensible after this page.
        public var hasMore: Bool {
            let (seen, overflow) = page.multipliedReportingOverflow(by: pageSize)
            return !overflow && seen < total && !items.isEmpty
        }

        /// Parses a 200 reply `{items: [{productId, sku?, name?, quantity, location?, category?}], page, pageSize, total}`.
        public init(body: [UInt8]) throws(Rejection) {
            let fields = JSONFields(try JSONInput().object(from: body))
            page = try fields.integer("page")
            pageSize = try fields.integer("pageSize")
            total = try fields.integer("total")
            guard page >= 1, pageSize >= 1, total >= 0 else {
                throw Rejection(.schema, "fields 'page' and 'pageSize' must be positive and 'total' not negative")
            }
            guard let raw = fields.object["items"] as? [[String: Any]] else {
                throw Rejection(.schema, "field 'items' must be an array of objects")
            }
            var items: [Item] = []
            for (index, element) in raw.enumerated() {
                let item = JSONFields(element, path: "items[\(index)].")
                items.append(
                    Item(
                        productID: try item.id("productId"), location: try item.optionalID("location") ?? "",
                        quantity: try item.integer("quantity")))
            }
            self.items = items
        }
    }
}
