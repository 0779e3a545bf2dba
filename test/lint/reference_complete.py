#!/usr/bin/env python3
"""Checks that docs/reference.md names everything the extension defines, and nothing it does not.

From the sources it collects: every microtrigger.* setting (DefineCustom*Variable in src/**/*.c),
every decision outcome (the outcome argument of mt_record_decision(), following a variable to the
literals assigned to it, and the outcome column of every INSERT INTO microtrigger.decisions in
an SQL string of the C code or in src/sql/*.sql), and every table, view, function and procedure
created in src/sql/*.sql. Each must appear in docs/reference.md: settings and outcomes as the
first cell of a row of their table ("| `name` |"), SQL objects in backquotes (a function as
"`name(" or in a backquoted glob such as `validate_*_row`). Each row of the settings and outcome
tables must name something that exists. Prints one line per problem, then
"reference: N passed, M failed" (one check per name) and exits 1 on a failure.
Usage: reference_complete.py REPO_DIR
"""
import fnmatch
import glob
import os
import re
import sys

STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
IDENT = re.compile(r'^[a-z][a-z0-9_]*$')


def c_without_comments(text):
    """C source with comments blanked and adjacent string literals joined."""
    text = re.sub(r'/\*.*?\*/', lambda m: re.sub(r'[^\n]', ' ', m.group(0)), text, flags=re.S)
    text = re.sub(r'//[^\n]*', '', text)
    return re.sub(r'"\s*\n\s*"', '', text)


def split_args(text):
    """The top-level comma-separated arguments of text, which starts just after "(" ."""
    args, depth, cur, i, in_str = [], 0, '', 0, None
    while i < len(text):
        ch = text[i]
        if in_str:
            cur += ch
            if ch == '\\':
                cur += text[i + 1]
                i += 1
            elif ch == in_str:
                in_str = None
        elif ch in '"\'':
            in_str = ch
            cur += ch
        elif ch in '([{':
            depth += 1
            cur += ch
        elif ch in ')]}':
            if depth == 0:
                args.append(cur.strip())
                return args
            depth -= 1
            cur += ch
        elif ch == ',' and depth == 0:
            args.append(cur.strip())
            cur = ''
        else:
            cur += ch
        i += 1
    args.append(cur.strip())
    return args


def outcomes_of_expr(expr, source):
    """The outcome literals an argument expression can have: its literals, or those assigned to
    the variable it names in the same file."""
    found = set(s for s in STRING.findall(expr) if IDENT.match(s))
    if found:
        return found
    var = re.fullmatch(r'[A-Za-z_]\w*', expr)
    if var:
        for m in re.finditer(r'\*?\b' + var.group(0) + r'\s*=\s*([^;=][^;]*);', source):
            found |= set(s for s in STRING.findall(m.group(1)) if IDENT.match(s))
    return found


def decisions_insert_outcomes(sql):
    """Literal outcomes in INSERT INTO microtrigger.decisions (...) VALUES (...) of an SQL text."""
    found = set()
    for m in re.finditer(r'INSERT INTO microtrigger\.decisions\s*\(([^)]*)\)\s*VALUES\s*\(', sql):
        cols = [c.strip() for c in m.group(1).split(',')]
        if 'outcome' not in cols:
            continue
        vals = split_args(sql[m.end():])
        idx = cols.index('outcome')
        if idx < len(vals):
            lit = re.fullmatch(r"'([a-z_]+)'", vals[idx])
            if lit:
                found.add(lit.group(1))
    return found


def main(repo):
    settings, outcomes, sql_objects = set(), set(), {}
    for path in sorted(glob.glob(os.path.join(repo, 'src', '**', '*.c'), recursive=True)):
        src = c_without_comments(open(path, encoding='utf-8').read())
        settings |= set(re.findall(r'DefineCustom\w+Variable\(\s*"microtrigger\.([a-z_]+)"', src))
        for m in re.finditer(r'\bmt_record_decision\s*\(', src):
            args = split_args(src[m.end():])
            if len(args) >= 3 and not src[:m.start()].rstrip().endswith(('void', '*')):
                outcomes |= outcomes_of_expr(args[2], src)
        for s in STRING.findall(src):
            outcomes |= decisions_insert_outcomes(s)
        # a stage that reports its outcome through an out-parameter named outcome (enrich.c)
        for m in re.finditer(r'\*\s*outcome\s*=\s*([^;=][^;]*);', src):
            outcomes |= set(x for x in STRING.findall(m.group(1)) if IDENT.match(x))
    for path in sorted(glob.glob(os.path.join(repo, 'src', 'sql', '*.sql'))):
        sql = open(path, encoding='utf-8').read()
        outcomes |= decisions_insert_outcomes(sql)
        for kind, name in re.findall(r'CREATE (?:OR REPLACE )?(TABLE|VIEW|FUNCTION|PROCEDURE) microtrigger\.(\w+)', sql):
            sql_objects[name] = kind

    ref = open(os.path.join(repo, 'docs', 'reference.md'), encoding='utf-8').read()
    sections = re.split(r'^## ', ref, flags=re.M)
    section = {s.split('\n', 1)[0].strip(): s for s in sections}
    first_cells = lambda title: set(re.findall(r'^\| `([a-z_]+)`', section.get(title, ''), flags=re.M))
    doc_settings, doc_outcomes = first_cells('Settings'), first_cells('Decision outcomes')
    quoted = re.findall(r'`([^`\n]+)`', ref)
    globs = [q for q in quoted if '*' in q and re.fullmatch(r'[a-z_*]+', q)]

    passed = failed = 0

    def report(ok, message):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(message)

    for name in sorted(settings):
        report(name in doc_settings, f'setting microtrigger.{name} is not in the Settings table of docs/reference.md')
    for name in sorted(doc_settings - settings):
        report(False, f'docs/reference.md lists setting {name}, which no DefineCustom*Variable defines')
    for name in sorted(outcomes):
        report(name in doc_outcomes, f'decision outcome {name} is not in the Decision outcomes table of docs/reference.md')
    for name in sorted(doc_outcomes - outcomes):
        report(False, f'docs/reference.md lists outcome {name}, which no source writes')
    for name, kind in sorted(sql_objects.items()):
        if kind in ('FUNCTION', 'PROCEDURE'):
            ok = f'`{name}(' in ref or name in quoted or any(fnmatch.fnmatchcase(name, g) for g in globs)
        else:
            ok = f'`{name}`' in ref
        report(ok, f'{kind.lower()} microtrigger.{name} is not in docs/reference.md')
    if not settings or not outcomes or not sql_objects:
        report(False, 'found no settings, outcomes or SQL objects in the sources: is REPO_DIR right?')
    print(f'reference: {passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else '.'))
