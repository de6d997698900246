"""Reading one form field of a request: sent once at most, its value trimmed."""

from __future__ import annotations

from gateway.errors import InvalidParameterError

FormFields = dict[str, list[str]]


def single_value(fields: FormFields, name: str) -> str | None:
    """The value of field `name` (None when absent); 400 naming it when it was sent more than once."""
    values = fields.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidParameterError(f"{name} was sent {len(values)} times; send it once", param=name)
    return values[0].strip()
