#!/usr/bin/env python3
"""Finds SQL in the C sources that calls a function without a schema.

The extension's SQL runs as a superuser (the worker, deliver_loop, SECURITY DEFINER triggers), so
besides a fixed search_path every function call in an SQL string of the C code names its schema
(pg_catalog.now(), microtrigger.iso_utc(...)): a function planted in a writable schema can never
be chosen, whatever search_path the caller had. Prints one line per unqualified call, then
"qualified-names: N passed, M failed" counting C files, and exits 1 when there is any. Usage: qualified_names.py SRC_DIR
"""
import os
import re
import sys

# Words that are followed by "(" in SQL without being function calls.
SQL_SYNTAX = {
    "in", "exists", "values", "any", "all", "some", "coalesce", "nullif", "greatest", "least",
    "cast", "row", "filter", "over", "using", "as", "on", "and", "or", "not", "select", "from",
    "where", "join", "lateral", "with", "conflict", "do", "set", "returning", "into", "by", "when",
    "then", "else", "case", "is", "limit", "offset", "union", "except", "intersect", "distinct",
    "update", "delete", "insert", "table", "only", "ordinality", "partition", "array", "window",
}
# a C string holds SQL (a whole statement or a fragment put together with appendStringInfo)
# when it has an upper-case SQL keyword; messages are written in lower case
SQL_START = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WITH|FROM|WHERE|AND|OR|VALUES|JOIN|FILTER|AS|ON|SET)\b"
                       r"|\|\||::|\$\d")
PRINTF = re.compile(r"%(\d+\$)?(l|ll)?[sdu]|\" INT64_FORMAT \"")
STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
CALL = re.compile(r'(?<![\w.$%"])([A-Za-z_][A-Za-z0-9_]*)\s*\(')
# an alias with a column list: "AS x(a, b)" or ") x(a, b)"
ALIAS = re.compile(r'\b(?:AS|as)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(')


def sql_strings(text):
    """Adjacent C string literals joined, with the line each starts on."""
    pieces = []
    pos = 0
    current = None
    for m in STRING.finditer(text):
        between = text[pos:m.start()]
        joined = current is not None and between.strip() == ""
        if joined:
            current[1] += m.group(1)
        else:
            if current is not None:
                pieces.append(current)
            current = [text.count("\n", 0, m.start()) + 1, m.group(1)]
        pos = m.end()
    if current is not None:
        pieces.append(current)
    return [(line, PRINTF.sub(" ", s.replace("\\n", " "))) for line, s in pieces if SQL_START.search(s)]


def main(src):
    problems = 0
    files_ok = files_bad = 0
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith(".c"):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            # comments may hold quotes: drop them first
            text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
            before = problems
            for line, sql in sql_strings(text):
                sql = re.sub(r"'(?:[^']|'')*'", "''", sql)  # SQL string literals hold no calls
                aliases = {a.lower() for a in ALIAS.findall(sql)}
                for call in CALL.findall(sql):
                    word = call.lower()
                    if word in SQL_SYNTAX or word in aliases:
                        continue
                    print(f"{path}:{line}: unqualified function {call}() in: {sql.strip()[:100]}")
                    problems += 1
            if problems > before:
                files_bad += 1
            else:
                files_ok += 1
    print(f"qualified-names: {files_ok} passed, {files_bad} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "src"))
