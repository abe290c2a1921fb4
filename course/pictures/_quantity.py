"""Kubernetes resource quantities (``100m``, ``1.5``, ``64Mi``, ``1G``) as numbers, and back.

>>> cpu_millis("250m"), cpu_millis("2"), memory_bytes("64Mi"), memory_bytes("1G")
(250, 2000, 67108864, 1000000000)
>>> format_cpu(2500), format_memory(3 * 2**30)
('2.5', '3Gi')
"""

from __future__ import annotations

from decimal import Decimal

from kubernetes.utils import parse_quantity


def quantity(text: str | int | float) -> Decimal:
    """The value of a quantity in base units, as the ``kubernetes`` client reads it (the one parser the
    course uses, as ``checks.quantity`` does); 0 for text that is not a quantity, since a picture shows
    what it can rather than failing."""
    try:
        return Decimal(parse_quantity(text))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        return Decimal(0)


def cpu_millis(text: str | int | float) -> int:
    return int(quantity(text) * 1000)


def memory_bytes(text: str | int | float) -> int:
    return int(quantity(text))


def format_cpu(millis: int) -> str:
    """``4`` for whole cores, ``2.5`` for half ones, ``350m`` below one core."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    if millis >= 1000 and millis % 100 == 0:
        return f"{millis / 1000:.1f}"
    return f"{millis}m"


def format_memory(size: int) -> str:
    """The largest binary unit that keeps the number whole, else one decimal: ``8Gi``, ``1.5Gi``, ``64Mi``."""
    for unit, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return str(size)
