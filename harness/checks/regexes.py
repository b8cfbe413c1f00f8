"""Regular expressions from suites, run by Google's RE2 (the ``google-re2`` package).

Suites arrive in pull requests and answers come from a server we do not trust, so a
pattern must never run unbounded. Python's ``re`` backtracks: ``(a+)+b``, ``^(a|aa)+$`` or
OWASP's ``^(([a-z])+.)+[A-Z]([a-z])+$`` take seconds to hours on a short answer, and no
guard over its parse tree catches every shape. RE2 runs in time linear in the answer's
length whatever the pattern, so a verdict never depends on the machine's speed (as it would
with a timeout), and it releases the interpreter lock while it matches, so signals and the
engine's other requests go on meanwhile.

Linear has a factor, the size of the compiled program (RE2's DFA falls back to a slower
automaton, n x program, when a hostile answer exhausts its memory). So the program is capped
at ``MAX_PROGRAM`` instructions, RE2's memory at ``MAX_MEM`` bytes per pattern and the
pattern at ``MAX_PATTERN`` characters.

A pattern is read as Python reads it: it must compile with ``re`` (so a typo gets Python's
message), then is translated where the two syntaxes differ (``\\Z``, ``\\uXXXX``,
``\\UXXXXXXXX``, ``\\N{NAME}``, octal escapes, ``x{,n}``, ``[\\b]``, ``[`` in a class). What
RE2 cannot do is refused with a message that names it: lookahead and lookbehind,
backreferences, possessive quantifiers, atomic and conditional groups, the ``x``, ``a``,
``u`` and ``L`` flags, counted repeats over 1000.

Differences from ``re`` a suite author may meet:

- ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII (``[0-9]``, ``[0-9A-Za-z_]``,
  ``[\\t\\n\\f\\r ]``): ``\\w+`` stops at ``é``; write ``\\pL`` or a class for letters.
- ``$`` (without ``multiline``) matches at the end of the text and, as in Python, before
  a final newline: when the text ends in ``\\n`` and nothing matched, the search is run
  once more without that newline.
- case folding (``ignore_case``) is Unicode simple folding: ``ß`` does not match ``SS``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from typing import Any

import re2

from harness.models import Match

MAX_PATTERN = 2000
MAX_PROGRAM = 1000  # RE2 instructions: ~1 s per MB of answer at worst, milliseconds usually
MAX_MEM = 2 << 20  # RE2's budget per pattern (its default is 8 MiB)
FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL  # the flags a check may set

_WHY = "suite regexes run in a linear-time engine (RE2)"
_SURROGATE = re.compile("[\ud800-\udfff]")  # RE2 reads UTF-8, which cannot hold these
_OCTAL = re.compile(r"0[0-7]{0,2}|[0-7]{3}")  # Python's octal escapes; other digits: groups
_CLASS_OCTAL = re.compile(r"[0-7]{1,3}")  # in a class every digit escape is octal
_GROUP = re.compile(r"\d{1,2}")
_COUNT = re.compile(r"\{,(\d+)\}")


class UnsafePattern(ValueError):
    """The pattern is invalid or cannot run in bounded time; the message says why."""


@dataclass(frozen=True, slots=True)
class SafePattern:
    """A compiled suite regex: ``search`` as ``re.Pattern.search``; ``pattern`` as written."""

    pattern: str
    flags: int
    _re2: Any = field(compare=False, repr=False)
    _dollar: bool = field(compare=False, repr=False)  # retry before a final newline

    @property
    def groups(self) -> int:
        return int(self._re2.groups)

    def search(self, text: str) -> Match | None:
        if _SURROGATE.search(text):  # one character for one: spans stay those of the text
            text = _SURROGATE.sub("\ufffd", text)
        found: Match | None = self._re2.search(text)
        if found is None and self._dollar and text.endswith("\n"):
            found = self._re2.search(text[:-1])
        return found


def quoted(pattern: str) -> str:
    """A pattern as messages show it: in single quotes with its backslashes as written
    (``'Answer:\\s*(.+)'``, where ``repr`` doubles them); ``repr`` when it holds a quote or
    a character that does not print (a line break), so the message stays one line."""
    if "'" in pattern or not pattern.isprintable():
        return repr(pattern)
    return f"'{pattern}'"


@functools.lru_cache(maxsize=1024)  # a suite-level `extract` is compiled for every case
def compile_safe(pattern: str, flags: int = 0) -> SafePattern:
    """Compile a suite's pattern (Python syntax; ``flags`` from :data:`FLAGS`) for RE2,
    or raise :class:`UnsafePattern` saying what is wrong or not supported."""
    if flags & ~FLAGS:
        raise ValueError(f"unsupported flags {flags:#x}")
    if len(pattern) > MAX_PATTERN:
        raise UnsafePattern(f"pattern is longer than {MAX_PATTERN} characters")
    try:
        with warnings.catch_warnings():  # "possible nested set": Python's future, not RE2's
            warnings.simplefilter("ignore")
            re.compile(pattern, flags)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise UnsafePattern(f"invalid regular expression: {exc}") from None
    prefix = "".join(f"(?{c})" for f, c in _INLINE if flags & f)
    options = re2.Options()
    options.log_errors = False  # RE2 would write every refusal to stderr
    options.max_mem = MAX_MEM
    try:
        compiled = re2.compile(prefix + _to_re2(pattern), options)
    except re2.error as exc:
        raise UnsafePattern(_refusal(_text(exc), pattern)) from None
    except UnicodeEncodeError:
        raise UnsafePattern("a lone surrogate (U+D800-U+DFFF) cannot be matched") from None
    size = max(compiled.programsize, compiled.reverseprogramsize)
    if size > MAX_PROGRAM:
        raise UnsafePattern(
            f"the pattern compiles to {size} instructions, more than {MAX_PROGRAM} "
            f"({_WHY}, whose time grows with that size): use smaller counted repeats "
            "(each x{m,n} copies x n times), or + and *"
        )
    dollar = "$" in pattern and not flags & re.MULTILINE
    return SafePattern(pattern, flags, compiled, dollar)


_INLINE = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))


def _text(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


_OPERATORS = (  # RE2 names the start of what it refused: "invalid perl operator: (?<="
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?>", "atomic group (?>...)"),
    ("(?(", "conditional group (?(1)...)"),
    ("(?P", "named backreference (?P=name)"),
    ("(?#", "comment (?#...)"),
)


def _refusal(error: str, pattern: str) -> str:
    """The message for what Python accepts and RE2 refuses, from RE2's error text."""
    _kind, _, fragment = error.partition(": ")
    what = fragment or error
    if error.startswith("invalid perl operator"):
        what = next((name for start, name in _OPERATORS if fragment.startswith(start)), "")
        if not what:
            flags = "".join(sorted(set(fragment[2:]) - set("ims-:")))
            what = f"the inline flag(s) {flags} in {fragment}" if flags else fragment
    elif error.startswith("bad repetition operator"):
        what = f"the possessive quantifier {fragment}"
    elif error.startswith("invalid repetition size"):
        what = f"the repeat {fragment} (counted repeats go up to 1000, nested ones multiply)"
    elif error.startswith("pattern too large"):
        what = "a pattern this large"
    return f"{what} is not supported: {_WHY}"


def _to_re2(pattern: str) -> str:
    """Python's syntax -> RE2's, for a pattern ``re`` compiled: the escapes RE2 lacks become
    ``\\x{...}``, ``\\Z`` ``\\z``, ``x{,n}`` ``x{0,n}``; a backreference is refused."""
    out: list[str] = []
    i, n = 0, len(pattern)
    class_open = -1  # index of the first character of the open class, -1 outside one
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            step, text = _escape(pattern, i, inside=class_open >= 0)
            out.append(text)
            i += step
            continue
        if class_open >= 0:
            if ch == "]" and i > class_open:
                class_open = -1
            out.append("\\[" if ch == "[" else ch)  # RE2 would read [:alpha:] as a class
        elif ch == "[":
            start = i + 2 if pattern.startswith("^", i + 1) else i + 1
            class_open = start  # a "]" first in the class is a literal
            out.append(pattern[i:start])
            i = start
            continue
        elif ch == "{" and (count := _COUNT.match(pattern, i)):
            out.append(f"{{0,{count.group(1)}}}")
            i = count.end()
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _escape(pattern: str, i: int, *, inside: bool) -> tuple[int, str]:
    """``(characters read, RE2 text)`` for the escape at ``pattern[i]`` (a backslash)."""
    nxt = pattern[i + 1]
    if nxt in "uU":
        width = 4 if nxt == "u" else 8
        return 2 + width, f"\\x{{{pattern[i + 2 : i + 2 + width]}}}"
    if nxt == "N" and pattern.startswith("{", i + 2):
        end = pattern.index("}", i)
        return end + 1 - i, f"\\x{{{ord(unicodedata.lookup(pattern[i + 3 : end])):x}}}"
    if nxt.isdigit():
        octal = (_CLASS_OCTAL if inside else _OCTAL).match(pattern, i + 1)
        if octal is not None:
            return 1 + len(octal.group(0)), f"\\x{{{int(octal.group(0), 8):x}}}"
        group = _GROUP.match(pattern, i + 1)
        number = group.group(0) if group else nxt
        raise UnsafePattern(f"the backreference \\{number} is not supported: {_WHY}")
    if nxt == "Z" and not inside:
        return 2, "\\z"
    if nxt == "b" and inside:
        return 2, "\\x{8}"
    return 2, pattern[i : i + 2]
