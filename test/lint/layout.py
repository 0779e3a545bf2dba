#!/usr/bin/env python3
"""The layout of src/: the one-way dependency rule written at the top of src/microtrigger.h.

The areas and their order are read from the LAYOUT block of src/microtrigger.h (the rule is
written there, once). Then, for every C file and header under src/:
  - it lives in an area folder (only microtrigger.c and microtrigger.h sit at the top);
  - each `#include "x.h"` of the extension names a header of its own area or of an area before
    it (a back edge fails), or microtrigger.h (not from core);
  - under core/ nothing includes PostgreSQL: no header of the server's include directory, and no
    header of another area.
And the one convention of SQL-callable C functions: the C symbol behind microtrigger.NAME (a
function, procedure or trigger function declared LANGUAGE c in src/sql) is mt_NAME_sql, and every
PG_FUNCTION_INFO_V1 in the C code is one of them (one check per SQL-callable function).
Usage: layout.py [SRC_DIR]   (default: src). Prints "layout: N passed, M failed" (one check per
file, plus one for the folder list) and exits non-zero on a failure.
"""
import os
import re
import sys

PG_INCLUDE = '/usr/include/postgresql/15/server'
TOP_FILES = {'microtrigger.c', 'microtrigger.h'}


def read_areas(src):
    """The area names in order, from the LAYOUT block of microtrigger.h."""
    text = open(os.path.join(src, 'microtrigger.h'), encoding='utf-8').read()
    block = text.split('LAYOUT.', 1)[1].split('microtrigger.c (_PG_init)', 1)[0]
    return re.findall(r'^ \*   ([a-z]+) {2,}', block, re.M)


def is_postgres_header(name):
    """Is this include one of PostgreSQL's (postgres.h, fmgr.h, utils/..., ...)?"""
    return os.path.exists(os.path.join(PG_INCLUDE, name))


def check_sql_callables(src):
    """C symbols of SQL-callable functions follow mt_NAME_sql; returns (passed, failed)."""
    passed = failed = 0
    declared = {}
    sql_dir = os.path.join(src, 'sql')
    for name in sorted(os.listdir(sql_dir)) if os.path.isdir(sql_dir) else []:
        text = open(os.path.join(sql_dir, name), encoding='utf-8').read()
        for stmt in re.split(r';\s*$', text, flags=re.M):
            m = re.search(r'CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\s+microtrigger\.(\w+)\s*\(', stmt)
            sym = re.search(r"'MODULE_PATHNAME'\s*,\s*'(\w+)'", stmt)
            if m and sym:
                declared[sym.group(1)] = m.group(1)
    defined = set()
    for path in glob_c(src):
        defined |= set(re.findall(r'PG_FUNCTION_INFO_V1\((\w+)\)', open(path, encoding='utf-8').read()))
    for sym, name in sorted(declared.items()):
        if sym != f'mt_{name}_sql':
            print(f'not ok: microtrigger.{name} is C symbol {sym}, not mt_{name}_sql')
            failed += 1
        elif sym not in defined:
            print(f'not ok: {sym} (microtrigger.{name}) has no PG_FUNCTION_INFO_V1 in the C code')
            failed += 1
        else:
            passed += 1
    for sym in sorted(defined - set(declared)):
        print(f'not ok: PG_FUNCTION_INFO_V1({sym}) is not declared by any LANGUAGE c function of src/sql')
        failed += 1
    return passed, failed


def glob_c(src):
    """Every C file under src."""
    for root, _, names in os.walk(src):
        for name in sorted(names):
            if name.endswith('.c'):
                yield os.path.join(root, name)


def main(src):
    passed = failed = 0
    areas = read_areas(src)
    rank = {a: i for i, a in enumerate(areas)}
    folders = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)) and d != 'sql')
    if not areas or folders != sorted(areas):
        print(f"not ok: the folders of {src} {folders} are not the areas of microtrigger.h {areas}")
        failed += 1
    else:
        passed += 1

    # where each header of the extension lives: its area, or 'top'
    home = {}
    files = []
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        if os.path.isfile(path) and entry.endswith(('.c', '.h')):
            files.append(('top', entry, path))
            home[entry] = 'top'
    for area in folders:
        for entry in sorted(os.listdir(os.path.join(src, area))):
            if entry.endswith(('.c', '.h')):
                path = os.path.join(src, area, entry)
                files.append((area, entry, path))
                if entry.endswith('.h'):
                    home[entry] = area

    for area, name, path in files:
        problems = []
        if area == 'top' and name not in TOP_FILES:
            problems.append('a source file outside the area folders')
        text = open(path, encoding='utf-8').read()
        text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
        for quoted, angled in re.findall(r'^\s*#\s*include\s+(?:"([^"]+)"|<([^>]+)>)', text, re.M):
            inc = quoted or angled
            if area == 'core':
                if inc in home and home[inc] != 'core':
                    problems.append(f'core includes "{inc}" of {home[inc]}')
                elif is_postgres_header(inc):
                    problems.append(f'core includes PostgreSQL\'s "{inc}"')
                continue
            if not quoted or inc not in home:
                continue
            if inc == 'microtrigger.h' or area == 'top':
                continue
            there = home[inc]
            if there == 'top':
                problems.append(f'includes "{inc}", which only microtrigger.c may use')
            elif area in rank and rank[there] > rank[area]:
                problems.append(f'back edge: {area} includes "{inc}" of {there}, a later area')
        rel = os.path.relpath(path, os.path.dirname(src.rstrip('/')) or '.')
        if problems:
            failed += 1
            for p in problems:
                print(f'not ok: {rel}: {p}')
        else:
            passed += 1
    p, f = check_sql_callables(src)
    passed += p
    failed += f
    print(f'layout: {passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else 'src'))
