/// What a command's request is read from, whatever the transport: the body's top-level JSON object, parsed once
/// within the command's limits (its size, 8 levels of nesting), with the fields an HTTP route takes from its path and
/// query added as if the body had them. Requests read it through `fields`; nothing is written back to JSON and
/// parsed again.
public struct CommandInput {
    public let fields: JSONFields

    /// Requests nest little: 8 levels are plenty.
    static let maxDepth = 8

    /// What brought the body, which says how it is read.
    public enum Carrier: Sendable {
        /// A message on the RPC queue: the body is the whole request, a JSON object.
        case message
        /// An HTTP request: the fields its route takes from the path and query join the body's (a field that is
        /// also in the body is refused; those named in `integers` are numbers), and an empty body stands for `{}`.
        case route(fields: [(String, String)], integers: Set<String> = [])
    }

    /// `body` read as `command`'s request.
    public init(_ body: [UInt8], for command: Command, by carrier: Carrier = .message) throws(CommandFailure) {
        var object: [String: Any] = [:]
        var route: [(String, String)] = []
        var integers: Set<String> = []
        var emptyIsObject = false
        if case .route(let fields, let names) = carrier { (route, integers, emptyIsObject) = (fields, names, true) }
        // The route's fields count toward the request's size, as if the body had them.
        let routeBytes = route.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count }
        guard route.isEmpty || routeBytes <= command.maxRequestBytes - body.count else {
            throw .badRequest("the request (body, path and query) is larger than its limit of \(command.maxRequestBytes) bytes")
        }
        if !body.isEmpty || !emptyIsObject {
            var input = JSONInput()
            input.maxBytes = command.maxRequestBytes
            input.maxDepth = Self.maxDepth
            do {
                object = try input.object(from: body)
            } catch {
                throw .badRequest("request body: \(error.detail)")
            }
        }
        for (name, value) in route {
            guard object[name] == nil else {
                throw .badRequest("field '\(name.prefix(64))' is given twice (in the path or query, and the body)")
            }
            if integers.contains(name) {
                // The JSON parser reads every number as a Double; a query's number reads the same way.
                guard let number = Int(value) else { throw .badRequest("query field '\(name)' must be a whole number") }
                object[name] = Double(number)
            } else {
                object[name] = value
            }
        }
        fields = JSONFields(object)
    }
}

/// A request's input is read on the caller's task and used on a database thread. It is immutable, and it holds only
/// what the service's JSON parser builds (strings, doubles, booleans, `NSNull`, arrays and dictionaries of them) and a
/// route's strings: values nothing can mutate.
extension CommandInput: @unchecked Sendable {}
