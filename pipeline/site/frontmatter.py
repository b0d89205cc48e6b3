"""Rewrite the gallery keys of a Jekyll page's front matter, and nothing else.

People edit these pages by hand: comments, quoting, blank lines, trailing spaces,
line endings and the body are theirs. So the page is never re-serialised. PyYAML
composes the front matter into nodes that carry exact character positions, and the
new text is produced by a list of edits at those positions, only inside the values
of the two managed top-level keys (``images:`` and ``gallery:``). A value that is
already what it should be is not touched, so an up-to-date page comes out
byte-identical.

Jekyll reads front matter with Ruby's Psych: libyaml's parser and YAML 1.1 rules for
plain scalars. Pages are parsed here with PyYAML's libyaml binding and its YAML 1.1
resolver; every scalar written is read back that way and must come out as the same
string, and plain style is used only for text no YAML 1.1 reader could re-type (see
:func:`emit_scalar`). A changed page is parsed again before it is handed back.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Scalar = str | int
MANAGED_KEYS = ("images", "gallery")

_OPEN_RE = re.compile(r"---[ \t]*(\r?\n)")
_CLOSE_RE = re.compile(r"^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.MULTILINE)
# Conservative plain scalars: start with a letter or '/', no YAML indicators anywhere. What
# passes is also checked by a YAML 1.1 round trip (which rejects yes/no/on/null...).
_PLAIN_RE = re.compile(r"(?:[^\W\d_]|/)[\w ./()+,;!?'=~$-]*", re.UNICODE)
# Psych matches booleans and null without regard to case ("yEs" is true there), and
# YAML 1.1 lists y/n as booleans: never plain, whatever PyYAML's resolver says
_PLAIN_UNSAFE_WORDS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}
_PRINTABLE_RE = re.compile("[\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_STR_TAG = "tag:yaml.org,2002:str"
_URL_KEYS = frozenset({"image_url", "thumbnail", "webp", "avif"})  # plain by default, as the site


# libyaml (PyYAML's C binding) is the parser Jekyll's Psych wraps, and 20 times
# faster than PyYAML's pure Python one; both resolve scalars by PyYAML's YAML 1.1 rules
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _style(node: ScalarNode) -> str | None:
    """A scalar's quoting: None (plain), ' " | or > (libyaml says '' for plain)."""
    return node.style or None


class FrontMatterError(Exception):
    """A page whose front matter cannot be rewritten safely; ``line`` is 1-based in the file."""

    def __init__(self, line: int, problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(f"{line}: {problem}")


# -- splitting --------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """A page cut into its parts; ``"".join`` of them is the page again."""

    bom: str
    opening: str  # '---' line, with its line ending
    front: str  # the YAML text between the markers (ends with a line break, or empty)
    closing: str  # '---' or '...' line, with its line ending (if any)
    body: str

    @property
    def newline(self) -> str:
        return "\r\n" if self.opening.endswith("\r\n") else "\n"

    @property
    def first_line(self) -> int:
        """File line number of the front matter's first line."""
        return 2

    def join(self, front: str) -> str:
        return self.bom + self.opening + front + self.closing + self.body


def split_page(text: str) -> Split:
    """Cut a page the way Jekyll does: '---' on the first line, up to the next line
    that is '---' or '...'. Line endings and a BOM are kept as they are."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    rest = text[len(bom) :]
    opening = _OPEN_RE.match(rest)
    if opening is None:
        raise FrontMatterError(1, "no front matter: the first line must be '---'")
    closing = _CLOSE_RE.search(rest, opening.end())
    if closing is None:
        raise FrontMatterError(1, "front matter has no closing '---'")
    return Split(
        bom=bom,
        opening=rest[: opening.end()],
        front=rest[opening.end() : closing.start()],
        closing=rest[closing.start() : closing.end()],
        body=rest[closing.end() :],
    )


# -- parsing ----------------------------------------------------------------------


def read_values(text: str) -> Any:
    """The front matter's values alone, without positions: for reading pages the
    step does not edit (raises :class:`FrontMatterError` or ``yaml.YAMLError``)."""
    return yaml.load(split_page(text).front, Loader=_LOADER)  # a safe loader


@dataclass
class Entry:
    """One list item of a managed block: its node, its key/value nodes and values."""

    node: MappingNode
    pairs: dict[str, tuple[ScalarNode, Node]]  # last one wins, as in YAML readers
    data: dict[str, Any]


@dataclass
class Block:
    """A managed top-level key as found in the page."""

    key: str
    key_node: ScalarNode
    value_node: Node
    entries: list[Entry] | None  # None: the value is empty (null) or a flow list
    data: list[Any]


@dataclass
class FrontMatter:
    """A parsed page: the text, the values, and where the managed blocks are."""

    split: Split
    data: dict[str, Any]
    root: MappingNode | None
    blocks: dict[str, Block] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.split.front

    def line_of(self, index: int) -> int:
        return self.split.first_line + self.text.count("\n", 0, index)


def parse(page: str) -> FrontMatter:
    """Split and parse a page, refusing anything that could not be rewritten safely."""
    split = split_page(page)
    text = split.front
    try:
        root = yaml.compose(text, Loader=_LOADER)
        if root is not None:
            _check_expansion(FrontMatter(split, {}, None), root)
        data = yaml.load(text, Loader=_LOADER)  # a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        row = mark.line if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        lines = text.split("\n")
        if row < len(lines) and "\t" in lines[row][: len(lines[row]) - len(lines[row].lstrip())]:
            problem = "tab used for indentation (YAML allows spaces only)"
        raise FrontMatterError(split.first_line + row, f"invalid YAML: {problem}") from exc
    except yaml.reader.ReaderError as exc:
        # the C reader counts bytes of UTF-8, the Python one characters
        if _LOADER is yaml.SafeLoader:
            row = text.count("\n", 0, exc.position)
        else:
            row = text.encode()[: exc.position].count(b"\n")
        line = split.first_line + row
        raise FrontMatterError(line, f"invalid YAML: {exc.reason}") from exc
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error is one of the above
        raise FrontMatterError(split.first_line, f"invalid YAML: {exc}") from exc
    fm = FrontMatter(split, {}, None)
    if root is None:
        return fm
    if not isinstance(root, MappingNode) or root.flow_style:
        kind = "a list" if isinstance(root, SequenceNode) else "a single value"
        if isinstance(root, MappingNode):
            kind = "a flow mapping ({...})"
        raise FrontMatterError(
            fm.line_of(root.start_mark.index),
            f"front matter must be a block mapping of keys, not {kind}",
        )
    assert isinstance(data, dict)
    fm.root, fm.data = root, data
    managed = [
        (key_node, value_node)
        for key_node, value_node in root.value
        if isinstance(key_node, ScalarNode) and key_node.value in MANAGED_KEYS
    ]
    seen: set[str] = set()
    for key_node, _ in managed:  # before any block: YAML keeps only the last copy's data
        if key_node.value in seen:
            line = fm.line_of(key_node.start_mark.index)
            raise FrontMatterError(line, f"duplicate key {key_node.value!r}")
        seen.add(key_node.value)
    for key_node, value_node in managed:
        key = key_node.value
        fm.blocks[key] = _block(fm, key, key_node, value_node, data.get(key))
    return fm


# Values a page's front matter may expand to once its aliases are followed: a real
# page has a few hundred; a "billion laughs" page of 1 KB has 10**9.
MAX_VALUES = 100_000


def _check_expansion(fm: FrontMatter, root: Node) -> None:
    """Refuse front matter whose aliases expand past :data:`MAX_VALUES` values, or
    refer to themselves (``&a [*a]``): every later walk of the values (building
    them, comparing, rewriting) would take exponential time or never end. The node
    graph itself is small, so it is measured here in linear time, without
    recursion, sharing the size of each aliased node."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # started, not finished: the current node's ancestors
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = _children(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > MAX_VALUES:
                raise FrontMatterError(
                    fm.line_of(node.start_mark.index),
                    f"YAML aliases expand to over {MAX_VALUES} values (an alias bomb?)",
                )
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise FrontMatterError(
                fm.line_of(node.start_mark.index),
                "recursive YAML alias: an anchor is used inside its own value",
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _block(fm: FrontMatter, key: str, key_node: ScalarNode, value: Node, data: Any) -> Block:
    line = fm.line_of(value.start_mark.index)
    if isinstance(value, ScalarNode):
        if data is not None:
            raise FrontMatterError(line, f"{key!r} must be a list of entries, not a single value")
        return Block(key, key_node, value, None, [])
    if not isinstance(value, SequenceNode) or not isinstance(data, list):
        raise FrontMatterError(line, f"{key!r} must be a list of entries")
    entries: list[Entry] = []
    lo, hi = value.start_mark.index, value.end_mark.index
    for n, (item, item_data) in enumerate(zip(value.value, data, strict=True), start=1):
        inside_block = lo <= item.start_mark.index <= hi
        where = fm.line_of(item.start_mark.index if inside_block else lo)
        if not isinstance(item, MappingNode) or not isinstance(item_data, dict):
            raise FrontMatterError(where, f"{key!r} entry {n} must be a mapping of keys")
        pairs: dict[str, tuple[ScalarNode, Node]] = {}
        for k, v in item.value:
            inside = lo <= v.start_mark.index <= v.end_mark.index <= hi
            if not (isinstance(k, ScalarNode) and inside and inside_block) or k.value == "<<":
                raise FrontMatterError(
                    where, f"{key!r} entry {n}: anchors, aliases and merge keys are not supported"
                )
            pairs[k.value] = (k, v)
        entries.append(Entry(item, pairs, item_data))
    if value.flow_style:
        return Block(key, key_node, value, None, data)
    return Block(key, key_node, value, entries, data)


# -- scalars ----------------------------------------------------------------------


def reads_back(text: str, value: Scalar) -> bool:
    """True when ``key: <text>`` reads back (YAML 1.1) as exactly ``value``."""
    try:
        loaded = yaml.load(f"k: {text}\n", Loader=_LOADER)  # a safe loader
    except yaml.YAMLError:
        return False
    if not isinstance(loaded, dict):
        return False
    got = loaded.get("k")
    return type(got) is type(value) and got == value


def emit_scalar(value: Scalar, style: str | None, quote: str = "'") -> str:
    """``value`` as YAML text in ``style`` (None plain, ``'`` or ``"``) when that
    style can hold it, else in the ``quote`` style, else in double quotes with
    escapes (which can hold anything)."""
    if isinstance(value, int):
        return str(value)
    order = [style] if style in (None, "'", '"') else []
    order += [quote, '"']
    for candidate in order:
        text = _render(value, candidate)
        if text is not None and reads_back(text, value):
            return text
    raise AssertionError(f"cannot write {value!r} as YAML")  # pragma: no cover


def _render(value: str, style: str | None) -> str | None:
    if style is None:
        if not _PLAIN_RE.fullmatch(value) or value.endswith(" "):
            return None
        if value.lower() in _PLAIN_UNSAFE_WORDS or " #" in value:
            return None
        return value
    if style == "'":  # no escapes here: only printable text without any line break
        if not all(_PRINTABLE_RE.match(ch) and ch not in "\u2028\u2029" for ch in value):
            return None
        return "'" + value.replace("'", "''") + "'"
    return '"' + "".join(_escape(ch) for ch in value) + '"'


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if _PRINTABLE_RE.match(ch):
        return ch
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"  # pragma: no cover - astral characters are printable


# -- what to write ----------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A managed key of an entry. ``value`` None removes the key; ``keep`` leaves a
    value a person wrote (anything but missing, null or blank) as it is."""

    key: str
    value: Scalar | None
    keep: bool = False


EntrySpec = tuple[Field, ...]


@dataclass(frozen=True)
class BlockSpec:
    """The entries a managed block should hold.

    ``entries`` replace the existing entries from index ``start`` on. With
    ``exact`` the list ends after them (extra entries are removed); without it
    only ``len(entries)`` existing entries are updated and the rest are left alone.
    """

    key: str
    entries: tuple[EntrySpec, ...]
    start: int = 0
    exact: bool = True


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def resolved(spec: EntrySpec, existing: Mapping[str, Any]) -> dict[str, Any]:
    """The managed values an entry will hold once written (kept ones included)."""
    out: dict[str, Any] = {}
    for f in spec:
        if f.value is None:
            continue
        current = existing.get(f.key)
        out[f.key] = current if f.keep and not is_blank(current) else f.value
    return out


def update(fm: FrontMatter, specs: Sequence[BlockSpec]) -> str:
    """The page with the managed blocks rewritten as ``specs`` say, and every byte
    outside the values that change left as it was.

    A changed page is parsed again before it is returned: every other key must read
    as before and the managed keys exactly as intended, or the page is refused (a
    safety net: a layout the editor mishandles must not reach a person's page)."""
    editor = _Editor(fm)
    expected: dict[str, list[Any]] = {}
    for spec in specs:
        block = fm.blocks.get(spec.key)
        expected[spec.key] = editor.wanted(spec, block.data if block else [])
        editor.block(spec)
    front = editor.apply()
    if front == fm.text:
        return fm.split.join(front)
    page = fm.split.join(front)
    after = parse(page)
    wrong = [k for k, v in fm.data.items() if k not in expected and not _same(after.data.get(k), v)]
    wrong += [k for k, v in expected.items() if not _same(after.data.get(k), v)]
    if wrong:
        block = fm.blocks.get(wrong[0])
        raise FrontMatterError(
            fm.line_of(block.key_node.start_mark.index if block else 0),
            f"cannot rewrite {', '.join(map(repr, wrong))} safely in this layout",
        )
    return page


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) or repr(a) == repr(b)  # repr: NaN is not equal to itself


@dataclass
class _Edit:
    start: int
    seq: int
    end: int
    text: str


class _Editor:
    """Collects edits (replace ``text[start:end]``) and applies them in one pass."""

    def __init__(self, fm: FrontMatter) -> None:
        self.fm = fm
        self.text = fm.text
        self.nl = fm.split.newline
        self.edits: list[_Edit] = []
        self.quote = _page_quote(fm.root)
        self.blank_between = _blank_between_keys(self.text, fm.root)

    # -- edits -------------------------------------------------------------------
    def edit(self, start: int, end: int, text: str) -> None:
        self.edits.append(_Edit(start, len(self.edits), end, text))

    def apply(self) -> str:
        out: list[str] = []
        pos = 0
        # an insertion sorts before a deletion that starts where it is
        for e in sorted(self.edits, key=lambda e: (e.start, e.end > e.start, e.seq)):
            if e.start < pos:
                raise FrontMatterError(
                    self.fm.line_of(e.start),
                    "cannot rewrite this layout safely (overlapping edits)",
                )
            out.append(self.text[pos : e.start])
            out.append(e.text)
            pos = e.end
        out.append(self.text[pos:])
        return "".join(out)

    # -- positions ---------------------------------------------------------------
    def line_start(self, index: int) -> int:
        return self.text.rfind("\n", 0, index) + 1

    def next_line(self, index: int) -> int:
        """Start of the line after the one ``index`` is on (or ``index`` when it is
        already at a line start right after a break)."""
        if index > 0 and self.text[index - 1] == "\n":
            return index
        found = self.text.find("\n", index)
        return len(self.text) if found < 0 else found + 1

    def content_end(self, node: Node) -> int:
        """Just after the last character of ``node``'s own text (not the blank
        lines or comments a block collection's end mark runs on to)."""
        if isinstance(node, MappingNode) and not node.flow_style and node.value:
            return self.content_end(node.value[-1][1])
        if isinstance(node, SequenceNode) and not node.flow_style and node.value:
            return self.content_end(node.value[-1])
        end = node.end_mark.index
        while end > node.start_mark.index and self.text[end - 1] in "\r\n":
            end -= 1
        return end

    def dash(self, entry: Entry) -> int:
        return self.text.rfind("-", 0, entry.node.start_mark.index)

    def after_colon(self, key_node: ScalarNode) -> int:
        return self.text.index(":", key_node.end_mark.index) + 1

    # -- style -------------------------------------------------------------------
    def style_for(self, key: str, block: Block | None, near: int) -> str | None:
        """The quoting a new value of ``key`` gets: what the same key uses in the
        nearest entry that has it, else the page's habit."""
        if block is not None and block.entries:
            ordered = sorted(block.entries, key=lambda e: abs(e.node.start_mark.index - near))
            for entry in ordered:
                value = entry.pairs.get(key, (None, None))[1]
                if (
                    isinstance(value, ScalarNode)
                    and value.tag == _STR_TAG
                    and value.value
                    and _style(value) in (None, "'", '"')
                ):
                    return _style(value)
        return None if key in _URL_KEYS else self.quote

    def value_text(self, value: Scalar, style: str | None) -> str:
        return emit_scalar(value, style, self.quote)

    def layout(self, block: Block | None) -> tuple[int, int, str]:
        """Column of the dash, column of the keys, and the text between entries."""
        candidates = [block] if block is not None else []
        candidates += [b for b in self.fm.blocks.values() if b is not block]
        for b in candidates:
            if b.entries:
                first = b.entries[0]
                dash_col = self.dash(first) - self.line_start(self.dash(first))
                key_col = first.node.start_mark.column
                if key_col <= dash_col:
                    key_col = dash_col + 2
                gap = ""
                if len(b.entries) > 1:
                    prev, last = b.entries[-2], b.entries[-1]
                    between = self.text[
                        self.next_line(self.content_end(prev.node)) : self.line_start(
                            self.dash(last)
                        )
                    ]
                    if not between.strip():
                        gap = between
                return dash_col, key_col, gap
        return 2, 4, ""

    # -- blocks ------------------------------------------------------------------
    def block(self, spec: BlockSpec) -> None:
        block = self.fm.blocks.get(spec.key)
        if block is None:
            self.insert_block(spec)
        elif block.entries is None:
            self.rewrite_block(spec, block)
        else:
            self.update_block(spec, block)

    def wanted(self, spec: BlockSpec, existing: list[Any]) -> list[dict[str, Any]]:
        """Every entry of the block as it should read, human keys included."""
        end = spec.start + len(spec.entries)
        out: list[dict[str, Any]] = list(existing[: spec.start])
        for i, entry in enumerate(spec.entries):
            old = existing[spec.start + i] if spec.start + i < len(existing) else {}
            old = old if isinstance(old, dict) else {}
            managed = {f.key for f in entry}
            values = resolved(entry, old)
            values.update({k: v for k, v in old.items() if k not in managed})
            out.append(values)
        if not spec.exact:
            out.extend(existing[end:])
        return out

    def render_entries(
        self, entries: Sequence[Mapping[str, Any]], block: Block | None, near: int
    ) -> str:
        dash_col, key_col, gap = self.layout(block)
        chunks: list[str] = []
        for values in entries:
            lines: list[str] = []
            for key, value in values.items():
                text = self.any_value(key, value, block, near)
                lines.append(f"{key}: {text}")
            first = " " * dash_col + "-" + " " * (key_col - dash_col - 1)
            chunk = first + (self.nl + " " * key_col).join(lines) + self.nl
            chunks.append(chunk)
        return gap.join(chunks)

    def any_value(self, key: str, value: Any, block: Block | None, near: int) -> str:
        if isinstance(value, str | int) and not isinstance(value, bool):
            return self.value_text(value, self.style_for(key, block, near))
        if value is None or isinstance(value, bool | float):
            return yaml.safe_dump(value, default_flow_style=True).split("\n")[0]
        raise FrontMatterError(
            self.fm.line_of(near), f"cannot rewrite {key!r}: write the list in block style"
        )

    def insert_block(self, spec: BlockSpec) -> None:
        """Add a missing key: next to the other managed key, else after the last key."""
        root = self.fm.root
        other = next((b for b in self.fm.blocks.values() if b.key != spec.key), None)
        gap = self.nl if self.blank_between else ""
        text = spec.key + ":" + self.nl
        if other is not None and other.key == "gallery" and spec.key == "images":
            at = self.line_start(other.key_node.start_mark.index)
            body = self.render_entries(self.wanted(spec, []), None, at)
            self.edit(at, at, text + body + gap)
            return
        if other is not None:
            at = self.next_line(self.content_end(other.value_node))
        elif root is not None and root.value:
            at = self.next_line(self.content_end(root.value[-1][1]))
        else:
            at = len(self.text)
        body = self.render_entries(self.wanted(spec, []), None, at)
        self.edit(at, at, gap + text + body)

    def rewrite_block(self, spec: BlockSpec, block: Block) -> None:
        """An empty (null) or flow-style value becomes a block list."""
        wanted = self.wanted(spec, block.data)
        if block.data == wanted:
            return
        colon = self.after_colon(block.key_node)
        end = block.value_node.end_mark.index
        if end > colon and self.text[colon:end].strip():
            self.edit(colon, end, "")
        at = self.next_line(max(colon, end))
        self.edit(at, at, self.render_entries(wanted, block, at))

    def update_block(self, spec: BlockSpec, block: Block) -> None:
        assert block.entries is not None
        entries = block.entries
        for i, entry_spec in enumerate(spec.entries):
            index = spec.start + i
            if index < len(entries):
                self.update_entry(entry_spec, entries[index], block)
        end = spec.start + len(spec.entries)
        if spec.exact and len(entries) > end:
            keep_to = self.next_line(self.content_end(entries[end - 1].node)) if end else None
            start = keep_to if keep_to is not None else self.line_start(self.dash(entries[0]))
            stop = self.next_line(self.content_end(entries[-1].node))
            self.edit(start, stop, "")
        missing = [s for i, s in enumerate(spec.entries) if spec.start + i >= len(entries)]
        if missing:
            at = self.next_line(self.content_end(entries[-1].node))
            _, _, gap = self.layout(block)
            new = [resolved(s, {}) for s in missing]
            self.edit(at, at, gap + self.render_entries(new, block, at))

    def update_entry(self, spec: EntrySpec, entry: Entry, block: Block) -> None:
        node = entry.node
        if node.flow_style:
            wanted = resolved(spec, entry.data)
            merged = {**wanted, **{k: v for k, v in entry.data.items() if k not in wanted}}
            dropped = {f.key for f in spec if f.value is None}
            merged = {k: v for k, v in merged.items() if k not in dropped}
            if merged == entry.data:
                return
            body = self.render_entries([merged], block, node.start_mark.index)
            dash = self.dash(entry)
            self.edit(self.line_start(dash), self.next_line(node.end_mark.index), body)
            return
        # The entry is cut into one segment per key: from the key's line to the next
        # key's line (comments after a key stay with it). Unchanged segments are
        # copied as they are; changed values are edited inside their segment.
        key_col = node.start_mark.column
        keys = [k for k, _ in node.value]
        starts = [keys[0].start_mark.index] + [
            self.line_start(k.start_mark.index) for k in keys[1:]
        ]
        region_end = self.next_line(self.content_end(node))
        segments = [self.text[a:b] for a, b in zip(starts, [*starts[1:], region_end], strict=True)]
        index = {k.value: i for i, k in enumerate(keys)}  # the last of duplicates wins
        removed: set[int] = set()
        added: dict[int, list[str]] = {}  # segment index (-1: in front) -> new key lines
        previous = -1
        for f in spec:
            i = index.get(f.key)
            if i is None:
                if f.value is not None:
                    style = self.style_for(f.key, block, node.start_mark.index)
                    line = f"{f.key}: {self.value_text(f.value, style)}"
                    added.setdefault(previous, []).append(" " * key_col + line + self.nl)
                continue
            if f.value is None:
                removed.add(i)
                continue
            previous = i
            current = entry.data.get(f.key)
            if (f.keep and not is_blank(current)) or (
                type(current) is type(f.value) and current == f.value
            ):
                continue
            start, end, text = self.value_edit(f, keys[i], entry.pairs[f.key][1], block)
            offset = starts[i]
            segments[i] = segments[i][: start - offset] + text + segments[i][end - offset :]
        if (
            not removed
            and not added
            and segments
            == [self.text[a:b] for a, b in zip(starts, [*starts[1:], region_end], strict=True)]
        ):
            return
        out = list(added.get(-1, []))
        for i, segment in enumerate(segments):
            if i not in removed:
                out.append(segment if i else " " * key_col + segment)
            out.extend(added.get(i, []))
        self.edit(starts[0], region_end, "".join(out).lstrip(" "))

    def value_edit(
        self, f: Field, key_node: ScalarNode, value_node: Node, block: Block
    ) -> tuple[int, int, str]:
        """The edit that gives ``key_node`` the value ``f.value``: (start, end, text)."""
        assert f.value is not None
        line = self.fm.line_of(value_node.start_mark.index)
        if not isinstance(value_node, ScalarNode):
            raise FrontMatterError(line, f"{f.key!r} must be a single value, not a list or mapping")
        start, end = value_node.start_mark.index, value_node.end_mark.index
        if self.text[start:end][:1] in ("&", "!", "*"):
            raise FrontMatterError(line, f"{f.key!r}: cannot rewrite a value with an anchor or tag")
        is_text = value_node.tag == _STR_TAG
        style = _style(value_node) if is_text else self.style_for(f.key, block, start)
        if start < end and _style(value_node) not in ("|", ">"):
            return start, end, self.value_text(f.value, style)
        # empty (null) or block scalar: the new value follows the colon
        colon = self.after_colon(key_node)
        stop = self.content_end(value_node) if start < end else colon
        if start == end:
            spaces = len(self.text[colon:]) - len(self.text[colon:].lstrip(" \t"))
            if self.text[colon + spaces : colon + spaces + 1] != "#":
                stop = colon + spaces
        if _style(value_node) in ("|", ">"):
            style = self.quote
        return colon, stop, " " + self.value_text(f.value, style)


def _page_quote(root: MappingNode | None) -> str:
    """The quote character the page uses most for its values (single by default)."""
    counts = {"'": 0, '"': 0}

    def walk(node: Node) -> None:
        if isinstance(node, ScalarNode):
            style = _style(node)
            if style in counts:
                counts[style] += 1
        elif isinstance(node, MappingNode):
            for _, v in node.value:
                walk(v)
        elif isinstance(node, SequenceNode):
            for v in node.value:
                walk(v)

    if root is not None:
        walk(root)
    return '"' if counts['"'] > counts["'"] else "'"


def _blank_between_keys(text: str, root: MappingNode | None) -> bool:
    """Whether the page separates its top-level keys with blank lines."""
    if root is None:
        return False
    keys = [k.start_mark.index for k, _ in root.value]
    for previous, current in itertools.pairwise(keys):
        segment = text[previous:current]
        if re.search(r"\n[ \t]*\r?\n", segment):
            return True
    return False
