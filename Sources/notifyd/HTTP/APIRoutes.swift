import HTTPTypes
import NotifyCore

/// The HTTP API's routes, one command each: what `APIEndpoint` serves and `OpenAPIDocument` describes, from this one
/// list. Paths are the seed platform's where it has them (`/v1/products`, `/v1/notifications/<channel>`,
/// `/v1/messages`), and resource-shaped for this service's extensions.
enum APIRoutes {
    struct Route: Sendable {
        let method: HTTPRequest.Method
        /// The path with `{name}` parameters, as OpenAPI writes it.
        let path: String
        let command: Command
        let summary: String
        /// Query fields read as whole numbers.
        var integers: Set<String> = []
        /// Query fields read as strings.
        var strings: [String] = []
        /// Fields every call of the route has (`channel` of `/v1/notifications/email`).
        var fixed: [(String, String)] = []
        /// A path parameter whose request field has another name (`productId` → `id` for `UpdateProduct`).
        var fieldNames: [String: String] = [:]

        /// The path's parameters, in order.
        var parameters: [String] {
            path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
        }

        /// The request field a path parameter fills: the one of the same name, unless `fieldNames` says otherwise.
        func field(_ parameter: String) -> String { fieldNames[parameter] ?? parameter }

        /// The path as Hummingbird's router writes it (`:name`).
        var hummingbirdPath: String {
            path.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("{") ? ":" + $0.dropFirst().dropLast() : String($0) }.joined(separator: "/")
        }
    }

    static let all: [Route] = [
        Route(
            method: .post, path: "/v1/products", command: .createProduct,
            summary: "Onboard a product (admin): its id and key, and its organisations'"),
        Route(method: .get, path: "/v1/products/{productId}", command: .getProduct, summary: "A product with its organisations"),
        Route(
            method: .patch, path: "/v1/products/{productId}", command: .updateProduct,
            summary: "Rename, activate or deactivate a product, or set its quota (admin)",
            fieldNames: ["productId": "id"]),
        Route(
            method: .post, path: "/v1/products/{productId}/organizations", command: .createOrganizations,
            summary: "Organisations under a product, each with its key"),
        Route(method: .get, path: "/v1/organizations/{organizationId}", command: .getOrganization, summary: "One organisation"),
        Route(
            method: .patch, path: "/v1/organizations/{organizationId}", command: .updateOrganization,
            summary: "Rename, activate or deactivate an organisation, or set its quota", fieldNames: ["organizationId": "id"]),
        Route(
            method: .post, path: "/v1/keys/rotate", command: .rotateAPIKey,
            summary: "A new key for this one (or keyId); the old one works for the grace period"),
        Route(method: .post, path: "/v1/keys/revoke", command: .revokeAPIKey, summary: "Revoke this key (or keyId) at once"),
        Route(
            method: .post, path: "/v1/service-keys", command: .createServiceKey, summary: "A key for one of FlowMart's own services (admin)"
        ),
        Route(
            method: .post, path: "/v1/notifications", command: .sendNotification, summary: "Send one notification on one or more channels"),
        Route(
            method: .post, path: "/v1/notifications/email", command: .sendNotification, summary: "Send an email",
            fixed: [("channel", "email")]),
        Route(
            method: .post, path: "/v1/notifications/sms", command: .sendNotification, summary: "Send an SMS", fixed: [("channel", "sms")]),
        Route(
            method: .post, path: "/v1/notifications/push", command: .sendNotification, summary: "Send a push notification",
            fixed: [("channel", "push")]),
        Route(
            method: .post, path: "/v1/notifications/webhook", command: .sendNotification,
            summary: "Send to the recipient's webhook endpoint",
            fixed: [("channel", "webhook")]),
        Route(
            method: .post, path: "/v1/notifications/in-app", command: .sendNotification, summary: "Send to the recipient's in-app inbox",
            fixed: [("channel", "in-app")]),
        Route(
            method: .get, path: "/v1/users/{userId}/notifications", command: .getUserNotifications,
            summary: "A page of a user's in-app inbox, newest first", integers: ["limit", "offset"], strings: ["status"]),
        Route(
            method: .get, path: "/v1/users/{userId}/notifications/{notificationId}", command: .getNotificationDetails,
            summary: "One notification of a user's inbox"),
        Route(
            method: .post, path: "/v1/users/{userId}/notifications/{notificationId}/read", command: .markNotificationRead,
            summary: "Mark a notification read (idempotent)"),
        Route(method: .post, path: "/v1/batches", command: .sendBatch, summary: "The same notification to up to 1,000 recipients"),
        Route(
            method: .post, path: "/v1/requests/{requestId}/cancel", command: .cancelRequest,
            summary: "Stop what a send request has not sent yet"),
        Route(
            method: .get, path: "/v1/messages", command: .listMessages, summary: "A page of messages, newest first",
            integers: ["page", "limit"],
            strings: ["productId", "organizationId", "userId", "receiverId", "status", "createdFrom", "createdTo"]),
        Route(method: .get, path: "/v1/messages/{messageId}", command: .getMessage, summary: "One message"),
        Route(
            method: .get, path: "/v1/notifications/{notificationId}/deliveries", command: .getDeliveryStatus,
            summary: "Every channel of one notification, with its history"),
        Route(
            method: .get, path: "/v1/deliveries", command: .listDeliveries, summary: "A page of deliveries, newest first",
            integers: ["limit"], strings: ["userId", "channel", "status", "since", "cursor"]),
        Route(method: .put, path: "/v1/recipients/{userId}", command: .upsertRecipient, summary: "Create or change a recipient's entry"),
        Route(method: .get, path: "/v1/recipients/{userId}", command: .getRecipient, summary: "A recipient's entry"),
        Route(method: .delete, path: "/v1/recipients/{userId}", command: .deleteRecipient, summary: "Erase a recipient's entry"),
        Route(
            method: .get, path: "/v1/templates", command: .listTemplates, summary: "The product's templates by name",
            integers: ["limit"], strings: ["after"]),
        Route(
            method: .put, path: "/v1/templates/{name}", command: .publishTemplate,
            summary: "Publish a template's next version (live at once)"),
        Route(
            method: .get, path: "/v1/templates/{name}", command: .getTemplate,
            summary: "A template as published (the live version by default)",
            integers: ["version"]),
        Route(
            method: .post, path: "/v1/templates/{name}/rollback", command: .rollbackTemplate,
            summary: "Make an earlier version live again (the one before the live one by default)"),
        Route(
            method: .post, path: "/v1/template-previews", command: .previewTemplate,
            summary: "Render a template (published or not) with sample data; nothing is sent"),
        Route(
            method: .get, path: "/v1/audit-events", command: .listAuditEvents, summary: "The audit trail, newest first",
            integers: ["limit"], strings: ["entity", "actor", "tenant", "from", "to", "cursor"]),
    ]
}
