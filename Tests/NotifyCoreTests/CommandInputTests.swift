import Testing

@testable import NotifyCore

@Suite("A command's input: its body, with an HTTP route's fields, read once")
struct CommandInputTests {
    static func refusal(_ body: String, route: [(String, String)]? = nil, integers: Set<String> = []) -> String? {
        do {
            _ = try CommandInput(
                Array(body.utf8), for: .getUserNotifications, by: route.map { .route(fields: $0, integers: integers) } ?? .message)
            return nil
        } catch {
            return error.message
        }
    }

    @Test("over RPC a body must be a JSON object; over HTTP an empty one stands for {}")
    func emptyBodies() throws {
        #expect(Self.refusal("")?.contains("request body") == true)
        let query = try GetUserNotifications(CommandInput([], for: .getUserNotifications, by: .route(fields: [("userId", "u1")])))
        #expect(query.userID == "u1" && query.limit == 20)
    }

    @Test(
        "route fields join the body: a field given both ways is refused, integer fields must be whole numbers and read as the parser reads numbers"
    )
    func routeFields() throws {
        #expect(
            Self.refusal(#"{"userId":"u1"}"#, route: [("userId", "u2")])
                == "field 'userId' is given twice (in the path or query, and the body)")
        #expect(
            Self.refusal("", route: [("userId", "u1"), ("limit", "ten")], integers: ["limit"])
                == "query field 'limit' must be a whole number")
        let query = try GetUserNotifications(
            CommandInput(
                Array(#"{"status":"unread"}"#.utf8), for: .getUserNotifications,
                by: .route(fields: [("userId", "u1"), ("limit", "5")], integers: ["limit"])))
        #expect(query == GetUserNotifications(userID: "u1", unreadOnly: true, limit: 5))
        #expect(throws: CommandFailure.self, "a whole number past the request's range is the request's refusal") {
            try GetUserNotifications(
                CommandInput([], for: .getUserNotifications, by: .route(fields: [("userId", "u1"), ("limit", "500")], integers: ["limit"])))
        }
    }

    @Test("the command's size limit and 8 levels of nesting, before anything is parsed")
    func limits() {
        let long = String(repeating: "q", count: Command.defaultMaxRequestBytes)
        #expect(
            Self.refusal("", route: [("userId", "u1"), ("x", long)])?.contains("larger than its limit") == true,
            "the route's fields count toward the size")
        #expect(
            Self.refusal(#"{"\#(long.prefix(100))":1}"#, route: [(String(long.prefix(100)), "1")])?.contains(String(long.prefix(65)))
                == false,
            "a field's name is echoed cut short")
        let deep = String(repeating: "[", count: 9) + String(repeating: "]", count: 9)
        #expect(Self.refusal(#"{"userId":"u1","x":\#(deep)}"#)?.contains("deeper than 8") == true)
        let large = #"{"userId":"u1","x":""# + String(repeating: "a", count: Command.defaultMaxRequestBytes) + #""}"#
        #expect(Self.refusal(large)?.contains("the limit is \(Command.defaultMaxRequestBytes)") == true)
    }
}
