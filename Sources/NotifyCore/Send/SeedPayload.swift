/// The seed platform's per-channel send bodies, read as this service's own: `{message_category, retry_enabled?,
/// payload}` on one channel (the route's, `POST /v1/notifications/email|sms|push`, or `channel`):
///
/// - email `payload {to, sender?, subject, html, text?}`, or `{to, sender?, template_fields: {template_name,
///   global_merge_vars: [{name, content}]}}` for a template of the product's (its data the merge variables);
/// - SMS `payload {to, sender?, body}`;
/// - push `payload {token, sender?, title, body}`, an FCM registration token (the seed's provider is Firebase).
///
/// `to` and `token` are direct addresses (written into the tenant's directory like `recipient.email`); `sender` is
/// accepted and not used: what a message is sent from is the deployment's (its verified domain, its number). Errors
/// name the payload's fields.
enum SeedPayload {
    /// `fields` with `payload` replaced by the `recipient`, `content` or `template` it means.
    static func translated(_ fields: JSONFields) throws(Rejection) -> JSONFields {
        for own in ["recipient", "content", "template"] where fields.has(own) {
            throw Rejection(.schema, "give field 'payload' (the seed's shape) or '\(own)', not both")
        }
        guard let payload = try fields.optionalObject("payload") else { throw Rejection(.schema, "field 'payload' must be an object") }
        guard !fields.has("channels"), let channel = try fields.optionalString("channel", maxLength: 16) else {
            throw Rejection(.schema, "field 'payload' is for one channel: give 'channel' (or POST to /v1/notifications/email, sms or push)")
        }
        _ = try payload.optionalString("sender", maxLength: 320)
        var object = fields.object
        object["payload"] = nil
        switch channel {
        case "email":
            object["recipient"] = ["email": try ContactAddress.email(try payload.requiredText("to", maxLength: 320), field: "payload.to")]
            if let template = try payload.optionalObject("template_fields") {
                object["template"] = [
                    "name": try template.requiredText("template_name", maxLength: 64), "data": try mergeVariables(template),
                ]
            } else {
                let subject = try payload.requiredText("subject", maxLength: SendRequest.maxTitleLength)
                let html = try payload.optionalString("html", maxLength: Command.defaultMaxRequestBytes)
                guard let text = try payload.optionalString("text", maxLength: Command.defaultMaxRequestBytes) ?? html?.plainTextFromHTML,
                    !text.isEmpty
                else { throw Rejection(.schema, "missing required field 'payload.html' (or 'payload.text')") }
                var content: [String: Any] = ["title": subject, "subject": subject, "body": text]
                if let html { content["html"] = html }
                object["content"] = content
            }
        case "sms":
            object["recipient"] = ["phone": try ContactAddress.phone(try payload.requiredText("to", maxLength: 64), field: "payload.to")]
            let body = try payload.requiredText("body", maxLength: Command.defaultMaxRequestBytes)
            let firstLine = body.split(whereSeparator: \.isNewline).first { !$0.allSatisfy(\.isWhitespace) } ?? Substring(body)
            object["content"] = ["title": String(firstLine.prefix(SendRequest.maxTitleLength)), "body": body]
        case "push":
            object["recipient"] = [
                "pushToken": ["platform": PushToken.Platform.fcm.rawValue, "token": try payload.requiredText("token", maxLength: 4096)]
            ]
            object["content"] = [
                "title": try payload.requiredText("title", maxLength: SendRequest.maxTitleLength),
                "body": try payload.requiredText("body", maxLength: Command.defaultMaxRequestBytes),
            ]
        default:
            throw Rejection(
                .schema, "field 'payload' is the seed's shape for email, sms and push; for \(channel) give 'recipient' and 'content'")
        }
        return JSONFields(object)
    }

    /// Mandrill's `global_merge_vars [{name, content}]` as template data `{name: content}`.
    private static func mergeVariables(_ template: JSONFields) throws(Rejection) -> [String: Any] {
        var data: [String: Any] = [:]
        for (index, variable) in (try template.optionalObjects("global_merge_vars", maxCount: 1_000) ?? []).enumerated() {
            let name = try variable.requiredText("name", maxLength: 128)
            guard variable.has("content") else {
                throw Rejection(.schema, "missing required field '\(template.path)global_merge_vars[\(index)].content'")
            }
            data[name] = variable.object["content"]
        }
        return data
    }
}
