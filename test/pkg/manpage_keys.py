#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""gen-chains.ini(5) against the parser, so that neither drifts from the other.

1. The key tables are read from the sources: the `known[]` arrays of load_gen and
   load_chain in daemon/cfg_gen.c and daemon/cfg_chain.c, and of each NF builder (the nf_ops of every
   nf/*_build.c names its type and build function). Every key there must be in
   the man page under its section or NF type, and every key of the page there.
2. Every key of the page is fed to the real `gend --check`: none may be refused
   as an unknown key (so the tables read in 1 are the ones the parser uses).

usage: manpage_keys.py SOURCE_DIR GEND
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

src, gend = sys.argv[1], sys.argv[2]
fails = []


def known_arrays(text):
    """(offset, [keys]) of each `known[] = { ... }` in a C file."""
    out = []
    for m in re.finditer(r'known\[\]\s*=\s*\{(.*?)\};', text, re.S):
        out.append((m.start(), re.findall(r'"([^"]+)"', m.group(1))))
    return out


def enclosing_function(text, off):
    """Name of the function whose body holds offset off (last definition before it)."""
    name = None
    for m in re.finditer(r'^(?:static\s+)?[a-z][\w \*]*?\b(\w+)\(([^;{)]*)\)\s*\{', text, re.M):
        if m.start() > off:
            break
        name = m.group(1)
    return name


def parser_tables():
    tables = {}
    for sect in ('gen', 'chain'):
        path = f'daemon/cfg_{sect}.c'
        cfg = open(os.path.join(src, path)).read()
        for off, keys in known_arrays(cfg):
            if enclosing_function(cfg, off) == f'cfg_load_{sect}':
                tables[sect] = set(keys)
        if sect not in tables:
            fails.append(f'{path}: no known[] table found for [{sect}] in cfg_load_{sect} (renamed?)')
    for path in sorted(glob.glob(os.path.join(src, 'nf/*_build.c'))):
        text = open(path).read()
        ops = re.findall(r'const struct nf_ops nf_ops_\w+\s*=\s*\{(.*?)\};', text, re.S)
        arrays = known_arrays(text)
        for body in ops:
            t = re.search(r'\.type_name\s*=\s*"([^"]+)"', body).group(1)
            build = re.search(r'\.build\s*=\s*(\w+)', body).group(1)
            mine = [k for off, k in arrays if len(ops) == 1 or enclosing_function(text, off) == build]
            if len(mine) != 1:
                fails.append(f'{path}: {len(mine)} known[] tables for type {t} (expected one)')
                continue
            tables['nf ' + t] = set(mine[0])
    return tables


def manpage_tables():
    """Keys per section: a .TP item whose next line is .B/.BR/.BI KEY."""
    tables, cur = {}, None
    lines = open(os.path.join(src, 'daemon/gen-chains.ini.5')).read().splitlines()
    for i, l in enumerate(lines):
        m = re.match(r'\.SH "?\[(\w+)[ \]]', l)
        if m:
            cur = m.group(1)
            if cur != 'nf':
                tables.setdefault(cur, set())
            continue
        if l.startswith('.SH'):
            cur = None
            continue
        m = re.match(r'\.SS "type = (\w+)"', l)
        if m and cur == 'nf':
            cur = 'nf'
            tables.setdefault('nf ' + m.group(1), set())
            tables['_nf_cur'] = m.group(1)
            continue
        if l == '.TP' and cur and i + 1 < len(lines):
            m = re.match(r'\.B[RI]? "?([a-z_0-9]+)', lines[i + 1])
            if m:
                sect = cur if cur != 'nf' else 'nf ' + tables['_nf_cur']
                tables[sect].add(m.group(1))
    tables.pop('_nf_cur', None)
    return tables


code, page = parser_tables(), manpage_tables()
for sect in sorted(set(code) | set(page)):
    c, p = code.get(sect), page.get(sect)
    if c is None:
        fails.append(f'man page documents [{sect}], which the parser does not have')
        continue
    if p is None:
        fails.append(f'man page lacks [{sect}] (keys: {" ".join(sorted(c))})')
        continue
    for k in sorted(c - p):
        fails.append(f'[{sect}] key {k!r}: in the parser, not in gen-chains.ini(5)')
    for k in sorted(p - c):
        fails.append(f'[{sect}] key {k!r}: in gen-chains.ini(5), not in the parser')
n = sum(len(v) for v in code.values())
print(f'parser: {n} keys in {len(code)} tables; man page: {sum(len(v) for v in page.values())} keys')

# 2. The running parser accepts each documented key.
with tempfile.TemporaryDirectory() as d:
    def check(body):
        f = os.path.join(d, 'c.ini')
        open(f, 'w').write(body)
        r = subprocess.run([gend, '--check', '-c', f], capture_output=True, text=True)
        return r.stdout + r.stderr
    base = '[gen]\nports = lo\n'
    for sect, keys in sorted(page.items()):
        for k in sorted(keys):
            if sect == 'gen':
                body = base + f'{k} = 1\n'
            elif sect == 'chain':
                body = base + f'[chain c]\n{k} = 1\n'
            else:
                body = base + f'[nf x]\ntype = {sect[3:]}\n{k} = 1\n'
            out = check(body)
            if re.search(r"unknown key '%s'" % re.escape(k), out):
                fails.append(f'gend --check refuses documented key [{sect}] {k}: {out.strip()}')
    # The probe itself must be able to see a refusal.
    if "unknown key 'no_such_key'" not in check(base + 'no_such_key = 1\n'):
        fails.append('gend --check did not report an unknown [gen] key: the probe is blind')

for f in fails:
    print('FAIL:', f)
print('ok' if not fails else f'{len(fails)} problem(s)')
sys.exit(1 if fails else 0)
