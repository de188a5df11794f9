import NotifyCore

/// The OpenAPI 3.1 description of the HTTP API, served at `GET /openapi.json`, generated from `APIRoutes` (the list
/// the listener serves), so the two cannot drift. Request bodies are described as far as the schema language helps
/// a client (the send requests in full); what a command accepts exactly is its parser's, which answers 400 naming
/// the field.
enum OpenAPIDocument {
    /// The document for a daemon whose send API knows `categories` (its `send.categories.*`).
    static func json(categories: MessageCategories) -> [UInt8] { document(categories: categories).bytes }

    static func document(categories: MessageCategories) -> JSONValue {
        var paths: [(String, [(String, JSONValue)])] = []
        for route in APIRoutes.all {
            let operation = operation(route)
            if let index = paths.firstIndex(where: { $0.0 == route.path }) {
                paths[index].1.append((route.method.rawValue.lowercased(), operation))
            } else {
                paths.append((route.path, [(route.method.rawValue.lowercased(), operation)]))
            }
        }
        return .object([
            ("openapi", .string("3.1.0")),
            (
                "info",
                .object([
                    ("title", .string("FlowMart Notification Service")), ("version", .string("1")),
                    (
                        "description",
                        .string("The commands of notifyd's RPC queue, over HTTP. Every command is also at POST /v1/rpc/{command}.")
                    ),
                ])
            ),
            ("paths", .object(paths.map { ($0.0, .object($0.1)) })),
            (
                "components",
                .object([
                    (
                        "securitySchemes",
                        .object([
                            ("apiKey", .object([("type", .string("apiKey")), ("in", .string("header")), ("name", .string("x-api-key"))]))
                        ])
                    ),
                    (
                        "schemas",
                        .object([
                            ("Error", errorSchema), ("SendRequest", sendSchema(batch: false, categories: categories)),
                            ("SendBatch", sendSchema(batch: true, categories: categories)),
                            (
                                "PublishTemplate",
                                .object([
                                    ("type", .string("object")), ("required", .array([.string("template")])),
                                    ("properties", .object([("template", templateSchema)])),
                                ])
                            ),
                            (
                                "PreviewTemplate",
                                .object([
                                    ("type", .string("object")),
                                    (
                                        "properties",
                                        .object([
                                            ("name", templateName),
                                            ("version", .object([("type", .string("integer")), ("minimum", .int(1))])),
                                            ("template", templateSchema), ("data", .object([("type", .string("object"))])),
                                            ("locale", .object([("type", .string("string"))])),
                                        ])
                                    ),
                                ])
                            ),
                        ])
                    ),
                ])
            ),
            ("security", .array([.object([("apiKey", .array([]))])])),
        ])
    }

    private static func operation(_ route: APIRoutes.Route) -> JSONValue {
        var parameters: [JSONValue] = route.parameters.map { parameter(named: $0, in: "path", type: "string", required: true) }
        parameters += route.integers.sorted().map { parameter(named: $0, in: "query", type: "integer", required: false) }
        parameters += route.strings.map { parameter(named: $0, in: "query", type: "string", required: false) }
        let fixed = route.fixed.map(\.1).joined(separator: "-")
        var members: [(String, JSONValue)] = [
            ("operationId", .string(fixed.isEmpty ? route.command.rawValue : "\(route.command.rawValue)-\(fixed)")),
            ("summary", .string(route.summary)), ("parameters", .array(parameters)),
        ]
        if [.post, .put, .patch].contains(route.method) {
            let schema: JSONValue =
                switch route.command {
                case .sendNotification: .object([("$ref", .string("#/components/schemas/SendRequest"))])
                case .sendBatch: .object([("$ref", .string("#/components/schemas/SendBatch"))])
                case .publishTemplate: .object([("$ref", .string("#/components/schemas/PublishTemplate"))])
                case .previewTemplate: .object([("$ref", .string("#/components/schemas/PreviewTemplate"))])
                default: .object([("type", .string("object"))])
                }
            members.append(
                (
                    "requestBody",
                    .object([
                        ("required", .bool([.sendNotification, .sendBatch, .publishTemplate, .previewTemplate].contains(route.command))),
                        ("content", .object([("application/json", .object([("schema", schema)]))])),
                    ])
                ))
        }
        let success =
            route.command == .sendNotification || route.command == .sendBatch
            ? "202"
            : [.createProduct, .createOrganizations, .createServiceKey, .rotateAPIKey, .publishTemplate].contains(route.command)
                ? "201" : "200"
        var responses: [(String, JSONValue)] = [
            (success, response("done", schema: .object([("type", .string("object"))]), links: links(route.command)))
        ]
        if route.command == .publishTemplate {
            responses.append(("200", response("already live as published: unchanged", schema: .object([("type", .string("object"))]))))
        }
        if success == "202" {
            responses.append(
                ("208", response("a repeat of an accepted request: its requestId", schema: .object([("type", .string("object"))]))))
        }
        for (status, meaning) in [
            ("400", "the request is not valid; the message names the field"), ("401", "no key, or an unknown, revoked or expired one"),
            ("403", "the key may not do this"), ("404", "not found, or not the caller's"), ("409", "a conflict"),
            ("413", "the body is too large"), ("429", "over the tenant's quota; see Retry-After"),
            ("503", "busy or the database is unavailable; try again"),
        ] {
            responses.append((status, response(meaning, schema: .object([("$ref", .string("#/components/schemas/Error"))]))))
        }
        members.append(("responses", .object(responses)))
        return .object(members)
    }

    /// A parameter; ids of what this service creates are UUIDs, the times RFC 3339, statuses those of a delivery.
    private static func parameter(named name: String, in location: String, type: String, required: Bool) -> JSONValue {
        var schema: [(String, JSONValue)] = [("type", .string(type))]
        if name.hasSuffix("Id"), !["userId", "receiverId", "keyId"].contains(name) { schema.append(("format", .string("uuid"))) }
        if ["createdFrom", "createdTo", "since", "from", "to"].contains(name) { schema.append(("format", .string("date-time"))) }
        if name == "status" { schema.append(("enum", .array(DeliveryStatus.allCases.map { .string($0.rawValue) }))) }
        if name == "limit" { schema += [("minimum", .int(1)), ("maximum", .int(100))] }
        if name == "page" || name == "version" { schema.append(("minimum", .int(1))) }
        if name == "name" { schema += [("pattern", .string(templateNamePattern)), ("maxLength", .int(64))] }
        return .object([("name", .string(name)), ("in", .string(location)), ("required", .bool(required)), ("schema", .object(schema))])
    }

    private static func response(_ description: String, schema: JSONValue, links: [(String, JSONValue)] = []) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("description", .string(description)), ("content", .object([("application/json", .object([("schema", schema)]))])),
        ]
        if !links.isEmpty { members.append(("links", .object(links))) }
        return .object(members)
    }

    /// OpenAPI links from what a command creates to the commands that read or act on it: a client (and schemathesis'
    /// stateful phase) follows them from a send to its cancel and its deliveries, from a publish to its template.
    private static func links(_ command: Command) -> [(String, JSONValue)] {
        func link(_ operation: Command, _ parameters: [(String, String)]) -> (String, JSONValue) {
            (
                operation.rawValue,
                .object([
                    ("operationId", .string(operation.rawValue)), ("parameters", .object(parameters.map { ($0.0, .string($0.1)) })),
                ])
            )
        }
        return switch command {
        case .sendNotification:
            [
                link(.cancelRequest, [("requestId", "$response.body#/requestId")]),
                link(.getDeliveryStatus, [("notificationId", "$response.body#/notificationId")]),
            ]
        case .sendBatch: [link(.cancelRequest, [("requestId", "$response.body#/requestId")])]
        case .publishTemplate:
            [link(.getTemplate, [("name", "$response.body#/name")]), link(.rollbackTemplate, [("name", "$response.body#/name")])]
        case .upsertRecipient:
            [link(.getRecipient, [("userId", "$request.path.userId")]), link(.deleteRecipient, [("userId", "$request.path.userId")])]
        case .createOrganizations: [link(.getOrganization, [("organizationId", "$response.body#/organizations/0/id")])]
        default: []
        }
    }

    private static let errorSchema: JSONValue = .object([
        ("type", .string("object")), ("required", .array([.string("error")])),
        (
            "properties",
            .object([
                (
                    "error",
                    .object([
                        ("type", .string("object")), ("required", .array([.string("code"), .string("message")])),
                        (
                            "properties",
                            .object([
                                ("code", .object([("type", .string("string"))])), ("message", .object([("type", .string("string"))])),
                                ("retryAfterSeconds", .object([("type", .string("integer"))])),
                            ])
                        ),
                    ])
                )
            ])
        ),
    ])

    /// A recipient of a send: a user id and the addresses given with it.
    private static func recipientSchema() -> JSONValue {
        let string: JSONValue = .object([("type", .string("string"))])
        let pushToken: JSONValue = .object([
            ("type", .string("object")), ("required", .array([.string("platform"), .string("token")])),
            (
                "properties",
                .object([
                    ("platform", .object([("type", .string("string")), ("enum", .array([.string("apns"), .string("fcm")]))])),
                    ("token", string),
                ])
            ),
        ])
        return .object([
            ("type", .string("object")),
            (
                "properties",
                .object([("userId", string), ("email", string), ("phone", string), ("pushToken", pushToken), ("locale", string)])
            ),
        ])
    }

    private static func sendSchema(batch: Bool, categories: MessageCategories) -> JSONValue {
        let string: JSONValue = .object([("type", .string("string"))])
        let recipient = recipientSchema()
        let channels = NotificationChannel.allCases.map { JSONValue.string($0.rawValue) }
        let who = batch ? "recipients" : "recipient"
        var forms: [JSONValue] = ["content", "template"].map { .object([("required", .array([.string(who), .string($0)]))]) }
        // The seed's per-channel body (`SeedPayload`): one recipient, so not for batches.
        if !batch { forms.append(.object([("required", .array([.string("payload")]))])) }
        return .object([
            ("type", .string("object")), ("required", .array([.string("messageCategory")])), ("oneOf", .array(forms)),
            (
                "properties",
                .object([
                    ("channel", .object([("type", .string("string")), ("enum", .array(channels))])),
                    (
                        "channels",
                        .object([
                            ("type", .string("array")), ("items", .object([("type", .string("string")), ("enum", .array(channels))])),
                        ])
                    ),
                    (
                        "messageCategory",
                        .object([("type", .string("string")), ("enum", .array(categories.lanes.keys.sorted().map(JSONValue.string)))])
                    ),
                    batch
                        ? (
                            "recipients",
                            .object([("type", .string("array")), ("maxItems", .int(SendBatch.maxRecipients)), ("items", recipient)])
                        )
                        : ("recipient", recipient),
                    (
                        "content",
                        .object([
                            ("type", .string("object")), ("required", .array([.string("title"), .string("body")])),
                            ("properties", .object([("title", string), ("body", string), ("subject", string), ("html", string)])),
                        ])
                    ),
                    (
                        "template",
                        .object([
                            ("type", .string("object")), ("required", .array([.string("name")])),
                            ("properties", .object([("name", templateName), ("data", .object([("type", .string("object"))]))])),
                        ])
                    ),
                    ("locale", string),
                    (
                        "idempotencyKey",
                        .object([
                            ("type", .string("string")), ("minLength", .int(1)), ("maxLength", .int(SendRequest.maxIdempotencyKeyLength)),
                        ])
                    ),
                    ("retryEnabled", .object([("type", .string("boolean")), ("default", .bool(true))])),
                    ("scheduledAt", .object([("type", .string("string")), ("format", .string("date-time"))])),
                    (
                        "payload",
                        .object([
                            ("type", .string("object")),
                            (
                                "description",
                                .string(
                                    "the seed platform's body for one channel: email {to, sender?, subject, html, text?} or {to, template_fields: {template_name, global_merge_vars}}, sms {to, sender?, body}, push {token, sender?, title, body}"
                                )
                            ),
                        ])
                    ),
                    ("digest", digestSchema),
                ])
            ),
        ])
    }

    /// A send's digest: its window and how many items it holds at most.
    private static let digestSchema: JSONValue = .object([
        ("type", .string("object")),
        (
            "properties",
            .object([
                ("windowSeconds", range(DigestPolicy.windowSeconds, default: DigestPolicy.defaultWindowSeconds)),
                ("maxItems", range(DigestPolicy.maxItems, default: DigestPolicy.defaultMaxItems)),
            ])
        ),
    ])

    private static func range(_ range: ClosedRange<Int>, default value: Int) -> JSONValue {
        .object([
            ("type", .string("integer")), ("minimum", .int(range.lowerBound)), ("maximum", .int(range.upperBound)),
            ("default", .int(value)),
        ])
    }

    private static let templateNamePattern = "^[a-z0-9][a-z0-9._-]{0,63}$"
    private static let templateName: JSONValue = .object([("type", .string("string")), ("pattern", .string(templateNamePattern))])

    /// `ProductTemplate`: the base parts, per-channel parts, and per-locale variants of the same shape.
    private static let templateSchema: JSONValue = {
        let text: JSONValue = .object([
            ("type", .string("string")), ("minLength", .int(1)), ("maxLength", .int(ProductTemplate.maxPartLength)),
        ])
        let variant: [(String, JSONValue)] = [
            ("title", text), ("body", text),
            (
                "email",
                .object([("type", .string("object")), ("properties", .object([("subject", text), ("text", text), ("html", text)]))])
            ),
            ("sms", .object([("type", .string("object")), ("properties", .object([("body", text)]))])),
            ("push", .object([("type", .string("object")), ("properties", .object([("title", text), ("body", text)]))])),
        ]
        let required: JSONValue = .array([.string("title"), .string("body")])
        return .object([
            ("type", .string("object")), ("required", required),
            (
                "properties",
                .object(
                    variant + [
                        (
                            "locales",
                            .object([
                                ("type", .string("object")), ("maxProperties", .int(ProductTemplate.maxLocales)),
                                (
                                    "additionalProperties",
                                    .object([("type", .string("object")), ("required", required), ("properties", .object(variant))])
                                ),
                            ])
                        )
                    ])
            ),
        ])
    }()
}
