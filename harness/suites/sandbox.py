"""The Jinja2 sandbox suites' templates run in, with bounds on time, loops, numbers and size.

Templates arrive in pull requests, so besides ``ImmutableSandboxedEnvironment``'s rules (no
``__class__`` walks, no mutating the suite's vars) a render is bounded:

- time: ``DEADLINE_SECONDS`` of wall clock per render, checked at every loop iteration,
  call, operator and piece of output;
- loops: ``range`` yields at most ``MAX_RANGE`` items, and one render runs at most
  ``MAX_ITERATIONS`` loop iterations in all (every ``for`` goes through :meth:`guard_loop`);
- numbers: ``**`` and ``*`` refuse an integer result of more than ``MAX_INT_DIGITS``
  digits *before* computing it (``9**(9**10)``);
- size: a string or list a template builds (``'a' * 10**9``, ``+``, ``~``, ``%``, a filter,
  a call) and the rendered text are at most ``MAX_CHARS`` characters; sizes are checked
  before the work where they can be known (``*``, ``+``, numeric arguments, format widths).

Every refusal is a :class:`LimitExceeded` (a ``SecurityError``), which the caller reports
as a collection error naming the file and key.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

DEADLINE_SECONDS = 2.0
MAX_RANGE = 10_000
MAX_ITERATIONS = 1_000_000
MAX_INT_DIGITS = 4_000
MAX_CHARS = 1_000_000
MAX_FILE_BYTES = 2_000_000  # a template or schema file under evals/
_MAX_BITS = math.ceil(MAX_INT_DIGITS * math.log2(10))
_MAX_WIDTH = 100_000  # a format width or precision ('%09999999d', '{:>999999999}')
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")
_FORMAT = re.compile(r"\{[^{}]*:[^{}\d]*(\d+)(?:[,_])?(?:\.(\d+))?")
_CALL_KWARGS = frozenset({"_loop_vars", "_block_vars"})  # Jinja's own, not the template's


class LimitExceeded(SecurityError):
    """A render went past one of the bounds; the message names it."""


def weight(value: Any, cap: int = MAX_CHARS) -> int:
    """About how many characters ``value`` prints as (strings, numbers, nested lists and
    mappings, shared parts counted each time they print); stops counting past ``cap``."""
    total = 0
    stack = [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 * len(item) + 2
            stack.extend(item)
        elif isinstance(item, dict):
            total += 4 * len(item) + 2
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 8
    return total


def _too_big(what: str, size: int) -> LimitExceeded:
    return LimitExceeded(f"{what} of about {size:,} characters; at most {MAX_CHARS:,} allowed")


def _check_weight(value: Any, what: str) -> None:
    size = weight(value)
    if size > MAX_CHARS:
        raise _too_big(what, size)


def _check_widths(template: str, pattern: re.Pattern[str]) -> None:
    for match in pattern.finditer(template):
        for number in match.groups():
            if number and number.isdigit() and int(number) > _MAX_WIDTH:
                raise LimitExceeded(f"format width {number} is larger than {_MAX_WIDTH:,}; refused")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """``ImmutableSandboxedEnvironment`` with the bounds above; call :meth:`start` before a
    render and :meth:`check_output` on each piece of it."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self.code_generator_class = _GuardedGenerator
        self.globals["range"] = self.bounded_range
        self.globals["lipsum"] = _bounded_lipsum(generate_lorem_ipsum)
        for name, function in list(self.filters.items()):
            self.filters[name] = _guarded_filter(function, name)
        self._deadline = math.inf
        self._iterations = 0
        self._output = 0

    def start(self) -> None:
        """A new render begins: its clock and counters start from zero."""
        self._deadline = time.monotonic() + DEADLINE_SECONDS
        self._iterations = 0
        self._output = 0

    def tick(self) -> None:
        """Refuse to go on past the render's deadline."""
        if time.monotonic() > self._deadline:
            raise LimitExceeded(
                f"rendering took longer than {DEADLINE_SECONDS:g} s; refused (a loop too big?)"
            )

    def check_output(self, piece: str) -> None:
        """Count ``piece`` of the rendered text against ``MAX_CHARS``."""
        self._output += len(piece)
        if self._output > MAX_CHARS:
            raise LimitExceeded(f"the rendered text is longer than {MAX_CHARS:,} characters")
        self.tick()

    def _finalize(self, value: Any) -> Any:
        """Every ``{{ value }}``, before it becomes text: a list whose parts are shared
        (``[x, x]`` forty times over) must not print as a trillion characters."""
        if not isinstance(value, str):
            _check_weight(value, "a value to print")
        return value

    def bounded_range(self, *args: int) -> range:
        """``range``, with at most ``MAX_RANGE`` items."""
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise LimitExceeded(f"range of {len(numbers):,} items; at most {MAX_RANGE:,} allowed")
        return numbers

    def guard_loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Every ``for`` loop's items, counted against ``MAX_ITERATIONS`` and the deadline."""
        for item in iterable:
            self._iterations += 1
            if self._iterations > MAX_ITERATIONS:
                raise LimitExceeded(
                    f"more than {MAX_ITERATIONS:,} loop iterations in one render; refused"
                )
            self.tick()
            yield item

    def guard_join(self, pieces: tuple[Any, ...]) -> str:
        """``~``: the pieces' text, if it stays within ``MAX_CHARS``."""
        _check_weight(pieces, "a string joined with ~")
        self.tick()
        return "".join(str(p) for p in pieces)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_product(left, right)
        elif operator == "+" and not _numbers(left, right):
            _check_weight((left, right), "a + result")
        elif operator == "%" and isinstance(left, str):
            _check_widths(left, _PRINTF)
            _check_weight((left, right), "a % result")
        result = self.binop_table[operator](left, right)
        if operator == "%" and isinstance(result, str):
            _check_weight(result, "a % result")
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.tick()
        if __obj == __self.guard_loop:  # the loops' own guard: iterating is what it bounds
            return __self.guard_loop(args[0])
        shown = [*args, *(v for k, v in kwargs.items() if k not in _CALL_KWARGS)]
        _check_arguments(shown, getattr(__obj, "__name__", "a call"))
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str | list | tuple | dict):
            _check_weight(result, f"the result of {getattr(__obj, '__name__', 'a call')}")
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _check_widths(obj, _FORMAT)
        return super().getattr(obj, attribute)


def _numbers(left: Any, right: Any) -> bool:
    return isinstance(left, int | float) and isinstance(right, int | float)


def _check_power(left: Any, right: Any) -> None:
    """Refuse an integer power of more than ``MAX_INT_DIGITS`` digits, before computing it."""
    integers = isinstance(left, int) and isinstance(right, int) and right > 0
    if integers and abs(left) > 1 and (abs(left).bit_length() - 1) * right > _MAX_BITS:
        raise LimitExceeded(
            f"{_short(left)} ** {_short(right)} has more than {MAX_INT_DIGITS:,} digits"
        )


def _check_product(left: Any, right: Any) -> None:
    """Refuse a repeated string or list, or an integer product, that would be too big."""
    if isinstance(left, int) and not isinstance(right, int | float):
        left, right = right, left
    if isinstance(right, int) and not isinstance(left, int | float):
        size = weight(left) * max(right, 0)
        if size > MAX_CHARS:
            raise _too_big(f"{type(left).__name__} * {_short(right)}", size)
    elif (
        isinstance(left, int)
        and isinstance(right, int)
        and (abs(left).bit_length() + abs(right).bit_length() > _MAX_BITS)
    ):
        raise LimitExceeded(f"a product of more than {MAX_INT_DIGITS:,} digits")


def _check_arguments(values: list[Any], name: str) -> None:
    """Numbers that size a call's result (``center(10**9)``, ``ljust``, ``indent``) and
    arguments too big to print are refused before the call."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CHARS:
            raise LimitExceeded(f"{name}({_short(value)}): at most {MAX_CHARS:,} allowed")
        if isinstance(value, list | tuple | dict | set | frozenset):  # shared parts multiply
            _check_weight(value, f"an argument of {name}")


def _short(number: int) -> str:
    return str(number) if abs(number) < 10**12 else f"a number of {number.bit_length()} bits"


def _bounded_lipsum(lipsum: Callable[..., str]) -> Callable[..., str]:
    """``lipsum`` with at most 100 paragraphs of at most 1,000 words."""

    def bounded(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        if n > 100 or max > 1_000:
            raise LimitExceeded("lipsum: at most 100 paragraphs of 1,000 words")
        return lipsum(n=n, html=html, min=min, max=max)

    return bounded


def _guarded_filter(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``function`` (a filter) with its arguments and result held to the size bounds.
    ``functools.wraps`` keeps Jinja's pass_context / pass_environment marks."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        plain = [a for a in (*args, *kwargs.values()) if not isinstance(a, Context)]
        _check_arguments(plain, f"the {name} filter")
        if name == "format" and args and isinstance(args[0], str):
            _check_widths(args[0], _PRINTF)
        result = function(*args, **kwargs)
        if isinstance(result, str | list | tuple):
            _check_weight(result, f"the result of the {name} filter")
        return result

    return guarded


class _GuardedGenerator(CodeGenerator):
    """Jinja's code generator, with every ``for`` loop's iterable passed through
    ``environment.guard_loop`` and every ``~`` through ``environment.guard_join``."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        node.iter = nodes.Call(
            nodes.EnvironmentAttribute("guard_loop"), [node.iter], [], None, None
        )
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.guard_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")
