"""A small reader of the libconfig format ProxySQL's .cnf uses, to check rendered files in tests:
settings `name = value` or `name: value`, groups `{...}`, lists `(...)`, strings, integers,
booleans, `#` comments. Independent of how peakready writes the file."""

import re

TOKEN = re.compile(r'\s*(?:#[^\n]*\n?|(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+)\b|(?P<word>[A-Za-z_][\w-]*)|(?P<sym>[=:{}(),;]))')


def tokens(text):
    pos, out = 0, []
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"cannot read at {text[pos:pos + 30]!r}")
        pos = m.end()
        for kind in ("str", "num", "word", "sym"):
            if m.group(kind) is not None:
                out.append((kind, m.group(kind)))
    return out


def parse(text):
    toks = tokens(text)
    i = 0

    def value():
        nonlocal i
        kind, tok = toks[i]
        i += 1
        if kind == "str":
            return tok[1:-1].replace('\\"', '"')
        if kind == "num":
            return int(tok)
        if kind == "word" and tok in ("true", "false"):
            return tok == "true"
        if tok == "{":
            return settings("}")
        if tok == "(":
            items = []
            while toks[i][1] != ")":
                items.append(value())
                if toks[i][1] == ",":
                    i += 1
            i += 1
            return items
        raise ValueError(f"unexpected {tok!r}")

    def settings(end):
        nonlocal i
        out = {}
        while i < len(toks) and toks[i][1] != end:
            kind, name = toks[i]
            assert kind == "word", f"expected a setting name, got {name!r}"
            assert toks[i + 1][1] in ("=", ":"), f"expected = after {name}"
            i += 2
            out[name] = value()
            while i < len(toks) and toks[i][1] in (";", ","):
                i += 1
        i += 1
        return out

    return settings(None)
