"""Hypothesis strategies derived from protobuf descriptors, generic over every request message.

`request_strategy(cls, artifacts)` draws instances of any generated message class: each field is absent or
holds a value of its type, mixed with edge values (empty and huge strings, malformed sha256 and
URIs, negative and extreme integers, NaN/inf, unknown enum numbers, long repeated fields). Nested
messages recurse up to a small depth. URL fields are pointed at a closed loopback port so that a
fuzzed request never reaches past 127.0.0.1.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st

LOOPBACK_NOWHERE = "http://127.0.0.1:9"
"""Where every fuzzed URL field points: loopback, a port nobody serves (discard)."""
URL_FIELDS = ("base_url",)
MAX_DEPTH = 3
ARTIFACT_REF = "maestro.common.v1.ArtifactRef"

EDGE_STRINGS = (
    "", " ", "\t\n", "0" * 64, "f" * 64, "F" * 64, "g" * 64, "0" * 63, "0" * 65, "0" * 32, "z" * 32,
    "file:///etc/passwd", "../../../../etc/passwd", "/etc/passwd", "s3://bucket/key", "memory://x",
    "file:///tmp/sha256/00/" + "0" * 64 + "/x.json", "sha256/00/" + "0" * 64 + "/../../x",
    "http://127.0.0.1:9/v1", "%s%n%x", "{}", "null", "\x00", "\x00" * 16, "é" * 10, "\U0001f4a5",
    "Descender", "Discoverer", "Ascender", "Worshipper", "Merchant", "descender", "Juggler",
    "v1", "v2", "v999", "CollectDataset", "AnnotateDataset", "def initiation(ctx):\n    return True\n",
    "import os\nos.system('true')", "while True:\n    pass", "gnomish_mines", "delphi",
)
INT32 = (0, 1, -1, 2, 3, 7, 100, 2**31 - 1, -(2**31), 2**16)
INT64 = INT32 + (2**63 - 1, -(2**63), 2**40, 10**12)
UINT32 = (0, 1, 2**32 - 1)
UINT64 = (0, 1, 2**64 - 1)
FLOATS = (0.0, -0.0, 1e-300, -1.0, 1.0, 0.5, 1e300, float("nan"), float("inf"), float("-inf"))


def text_values(huge_chars: int = 70_000) -> st.SearchStrategy[str]:
    """Strings: short random ones, edge values, and huge ones (longer than the services' text limits)."""
    printable = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
    huge = st.sampled_from((129, 4097, 20_001, 65_537, huge_chars)).map(lambda n: "x" * n)
    return st.one_of(printable, st.sampled_from(EDGE_STRINGS), huge)


def _int_range(field: FieldDescriptor) -> tuple[int, int, tuple[int, ...]]:
    t = FieldDescriptor
    if field.type in (t.TYPE_INT32, t.TYPE_SINT32, t.TYPE_SFIXED32):
        return -(2**31), 2**31 - 1, INT32
    if field.type in (t.TYPE_INT64, t.TYPE_SINT64, t.TYPE_SFIXED64):
        return -(2**63), 2**63 - 1, INT64
    if field.type in (t.TYPE_UINT32, t.TYPE_FIXED32):
        return 0, 2**32 - 1, UINT32
    return 0, 2**64 - 1, UINT64


def scalar_strategy(field: FieldDescriptor, depth: int, artifacts: tuple = ()) -> st.SearchStrategy:
    """Values for one (non-repeated) element of `field`."""
    t = FieldDescriptor
    if field.type == t.TYPE_STRING:
        if field.name in URL_FIELDS:
            return st.sampled_from(("", LOOPBACK_NOWHERE))
        return text_values()
    if field.type == t.TYPE_BYTES:
        return st.binary(max_size=64)
    if field.type == t.TYPE_BOOL:
        return st.booleans()
    if field.type in (t.TYPE_DOUBLE, t.TYPE_FLOAT):
        width = 64 if field.type == t.TYPE_DOUBLE else 32
        return st.one_of(st.sampled_from(FLOATS), st.floats(width=width))
    if field.type == t.TYPE_ENUM:
        known = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-3, 1000), st.sampled_from((2**31 - 1, -(2**31))))
    if field.type in (t.TYPE_MESSAGE, t.TYPE_GROUP):
        fuzzed = message_dicts(field.message_type, depth + 1, artifacts)
        if field.message_type.full_name == ARTIFACT_REF and artifacts:
            return st.one_of(fuzzed, st.sampled_from(artifacts))
        return fuzzed
    low, high, edges = _int_range(field)
    return st.one_of(st.sampled_from(edges), st.integers(low, high), st.integers(-5, 200).filter(lambda v: low <= v))


def field_strategy(field: FieldDescriptor, depth: int, artifacts: tuple = ()) -> st.SearchStrategy:
    """Values for `field` as a whole: a scalar, a list (repeated), or a dict (map)."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key = field.message_type.fields_by_name["key"]
        value = field.message_type.fields_by_name["value"]
        return st.dictionaries(scalar_strategy(key, depth), scalar_strategy(value, depth, artifacts), max_size=4)
    element = scalar_strategy(field, depth, artifacts)
    if field.is_repeated:
        return st.one_of(st.lists(element, max_size=4), st.lists(element, min_size=60, max_size=300))
    return element


def message_dicts(descriptor: Descriptor, depth: int = 0, artifacts: tuple = ()) -> st.SearchStrategy[dict]:
    """Dicts of field name -> value for `descriptor` (fields absent at random; empty past MAX_DEPTH)."""
    if depth > MAX_DEPTH:
        return st.just({})
    return st.fixed_dictionaries({}, optional={f.name: field_strategy(f, depth, artifacts) for f in descriptor.fields})


def fill(message, values: dict) -> None:
    """Write `values` (from `message_dicts`) into `message`."""
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if value_field.message_type is not None:
                    fill(target[key], item)
                else:
                    target[key] = item
        elif field.is_repeated:
            if field.message_type is not None:
                for item in value:
                    fill(target.add(), item)
            else:
                target.extend(value)
        elif field.message_type is not None:
            message_field = getattr(message, name)
            message_field.SetInParent()
            fill(message_field, value)
        else:
            setattr(message, name, value)


def request_strategy(cls, artifacts=()) -> st.SearchStrategy:
    """Instances of the generated message class `cls`, fuzzed field by field; an ArtifactRef field is one of
    `artifacts` (uri/sha256 dicts of real artifacts) half the time, so requests also get past the artifact
    checks into deeper validation."""
    def build(values: dict):
        message = cls()
        fill(message, values)
        return message

    return message_dicts(cls.DESCRIPTOR, 0, tuple(artifacts)).map(build)


def oversized(cls, max_bytes: int, delta: int):
    """A `cls` instance about `max_bytes + delta` bytes long (its first string field filled), or None."""
    for field in cls.DESCRIPTOR.fields:
        if field.type == FieldDescriptor.TYPE_STRING and not field.is_repeated:
            message = cls()
            setattr(message, field.name, "x" * max(0, max_bytes + delta - 8))
            return message
    return None
