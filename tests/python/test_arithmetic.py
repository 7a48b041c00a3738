"""mlbridge.arithmetic: the calculator shared by the DSPy and LangChain bridges."""

from __future__ import annotations

import pytest

from mlbridge.arithmetic import MAX_EXPONENT, MAX_EXPRESSION, arithmetic_in, calculate


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2+2", 4),
        ("(2 + 3) * 4", 20),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("2 ** 10", 1024),
        ("2^3", 8),
        ("6 × 7", 42),
        ("6 x 7", 42),
        ("-3 + +1", -2),
        ("1 / 4", 0.25),
        ("10 / 2", 5),  # an integral float comes back as an int
    ],
)
def test_calculates(expression: str, value: float) -> None:
    result = calculate(expression)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("__import__('os').system('true')", "unsupported element"),
        ("a + 1", "unsupported element"),
        ("'text'", "unsupported element"),
        ("1 +", "not an arithmetic expression"),
        ("", "1 to"),
        ("1+" * MAX_EXPRESSION + "1", "1 to"),
        (f"2 ** {MAX_EXPONENT + 1}", "too large"),
        ("1 / 0", "division by zero"),
    ],
)
def test_refuses_everything_else(expression: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        calculate(expression)


def test_finds_arithmetic_in_text() -> None:
    assert arithmetic_in("What is 6*7?") == ("6*7", 42)
    assert arithmetic_in("Add (2 + 3) * 4 please") == ("(2 + 3) * 4", 20)
    assert arithmetic_in("no numbers here") is None
    assert arithmetic_in("divide 1/0 or 3+4") == ("3+4", 7)  # skips what does not evaluate
