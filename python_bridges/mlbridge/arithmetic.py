"""Safe arithmetic for the framework bridges' calculator tools and offline models.

:func:`calculate` evaluates an arithmetic expression (numbers, ``+ - * / // % **``,
parentheses; ``×``, ``x`` between numbers and ``^`` are read as ``*`` and ``**``) by walking its
syntax tree, never with ``eval``; it raises ``ValueError`` on anything else, on an exponent
above :data:`MAX_EXPONENT` and on division by zero. :func:`arithmetic_in` finds and evaluates
the first such expression in free text ("What is 6*7?").
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from typing import Any

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
MAX_EXPRESSION = 200
MAX_EXPONENT = 64

#: An arithmetic expression inside free text, e.g. "6*7" in "What is 6*7?".
ARITHMETIC_IN_TEXT = re.compile(
    r"\(?-?\d+(?:\.\d+)?(?:\s*(?:\*\*|//|[-+*/%×x])\s*\(?-?\d+(?:\.\d+)?\)?)+"
)


def calculate(expression: str) -> int | float:
    """Evaluate an arithmetic expression safely; raises ``ValueError`` on anything else."""
    expression = str(expression).strip().replace("×", "*").replace("^", "**")
    expression = re.sub(r"(?<=\d)\s*x\s*(?=[\d(])", "*", expression)
    if not expression or len(expression) > MAX_EXPRESSION:
        raise ValueError(f"expected an arithmetic expression of 1 to {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from exc

    def walk(node: ast.AST) -> int | float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
                raise ValueError(f"exponent {right} is too large (at most {MAX_EXPONENT})")
            return _BINARY[type(node.op)](left, right)
        raise ValueError(f"unsupported element in {expression!r}: {type(node).__name__}")

    try:
        value = walk(tree)
    except ZeroDivisionError as exc:
        raise ValueError(f"division by zero in {expression!r}") from exc
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def arithmetic_in(text: str) -> tuple[str, int | float] | None:
    """The first arithmetic expression in ``text`` and its value, or ``None``."""
    for match in ARITHMETIC_IN_TEXT.finditer(text):
        candidate = match.group(0).strip()
        try:
            return candidate, calculate(candidate)
        except ValueError:
            continue
    return None
