#!/usr/bin/env python3
"""The house's size limits, checked by `make lint`: no file in Sources over 400 lines (migrations excepted) and no
function, initialiser, deinitialiser or subscript over 80 lines outside them. Counting is by braces, skipping string
literals and comments, which is exact enough for code formatted by swift-format."""
import pathlib
import re
import sys

MAX_FILE, MAX_FUNCTION = 400, 80
EXEMPT = re.compile(r"Migrations[^/]*\.swift$")
DECLARATION = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|static|final|override|"
                         r"mutating|nonisolated|convenience|required|package)\s+)*(func|init|deinit|subscript)\b")


def code_only(line: str, in_block: bool) -> tuple[str, bool]:
    """The line without string literals and comments; whether a /* */ comment is still open after it."""
    out, i = [], 0
    while i < len(line):
        if in_block:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            in_block, i = False, end + 2
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_block, i = True, i + 2
        elif line[i] == '"':
            j = i + 1
            while j < len(line) and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            i = j + 1
        else:
            out.append(line[i])
            i += 1
    return "".join(out), in_block


def functions(lines: list[str]):
    """(first line, length) of every function-like body."""
    in_block, in_multiline, stack, depth = False, False, [], 0
    for number, raw in enumerate(lines, 1):
        # The parts of the line outside multi-line string literals (`"""` toggles in and out of one).
        parts = raw.split('"' * 3)
        outside = []
        for index, part in enumerate(parts):
            if index > 0:
                in_multiline = not in_multiline
            if not in_multiline:
                outside.append(part)
        code, in_block = code_only(" ".join(outside), in_block)
        if DECLARATION.match(code):
            # A sibling at the same depth ends a declaration that opened no body (a protocol's requirement).
            while stack and stack[-1][1] == depth:
                stack.pop()
            stack.append((number, depth))
        for char in code:
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                while stack and depth <= stack[-1][1] and number >= stack[-1][0]:
                    start, _ = stack.pop()
                    yield start, number - start + 1


def main() -> int:
    failures = []
    for path in sorted(pathlib.Path("Sources").rglob("*.swift")):
        if EXEMPT.search(str(path)):
            continue
        lines = path.read_text().splitlines()
        if len(lines) > MAX_FILE:
            failures.append(f"{path}: {len(lines)} lines (at most {MAX_FILE})")
        for start, length in functions(lines):
            if length > MAX_FUNCTION:
                failures.append(f"{path}:{start}: a function of {length} lines (at most {MAX_FUNCTION})")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
