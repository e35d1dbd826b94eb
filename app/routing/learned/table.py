"""Every head's weights for one feature side by side in one integer, so a text is scored with one sum.

A head's logits are the sums of its weight rows over the features a text has. Summed column by column
in plain Python that cost ~80 microseconds for the task-type head on a long request (19 columns,
~190 known features), and each head intersected the text's features with its own vocabulary again.
Here, when the weight file is read, each feature's rows of all heads are written as fixed-point numbers
into the 64-bit fields of one Python integer, with one more field per head that is 1 where the head
knows the feature (the ``1/sqrt(n)`` scaling needs n). Scoring a text is one intersection with the
table's keys and ``sum(map(...))`` over the hits, in C (big-integer additions); one ``to_bytes`` and a
``struct`` read per head give the column sums back.

Exactness: a weight is rounded once to a multiple of ``2**-scale`` (~1e-14 for the shipped weights,
which the file holds to 6 significant digits); the sums are then exact integers, the same whatever
order the hits come in (float sums were not: a set's order changes with the process's hash seed).
Each field holds ``weight + offset`` with an offset above every |weight|, so a field never goes
negative and nothing carries into its neighbour; ``max_hits`` hits of at most twice the offset fit in
63 bits.
"""
from __future__ import annotations

import math
import struct
from typing import Mapping, Sequence

FIELD_BITS = 64


class WeightTable:
    """``{feature: packed rows}`` for several heads (blocks); ``total`` and ``logits`` score a text."""

    def __init__(self, blocks: Mapping[str, tuple[int, Mapping[str, Sequence[float] | float]]], max_hits: int):
        """``blocks``: head name -> (columns, {feature: that many weights}; a bare number for one column).
        ``max_hits``: the most features one text can have, so that no column sum overflows its field."""
        largest = 0.0
        for columns, rows in blocks.values():
            if columns == 1 and rows and not isinstance(next(iter(rows.values())), (list, tuple)):
                largest = max(largest, max(map(abs, rows.values())))
            elif rows:
                largest = max(largest, max(max(map(abs, row)) for row in rows.values()))
        # The finest ``scale`` with max_hits * 2 * offset <= 2**62, offset = largest * 2**scale + 1.
        headroom = FIELD_BITS - 2 - math.ceil(math.log2(max_hits))
        self.scale = headroom - (math.ceil(math.log2(largest)) + 1 if largest else 0)
        unit = 2 ** self.scale
        self.offset = offset = math.ceil(largest * unit) + 1
        self.max_hits = max_hits
        self._layout: dict[str, tuple[int, int, struct.Struct]] = {}  # name -> (byte offset, columns, reader)
        fields = 0
        for name, (columns, _) in blocks.items():
            self._layout[name] = (fields * 8, columns, struct.Struct(f"<{columns + 1}Q"))
            fields += columns + 1
        self._bytes = fields * 8
        packed: dict[str, int] = {}
        for name, (columns, rows) in blocks.items():
            start, _, writer = self._layout[name]
            shift = start * 8
            if columns == 1:  # a bare weight per feature: its field and the count in the next
                count = (1 << FIELD_BITS) + offset
                for feature, weight in rows.items():
                    weight = weight[0] if isinstance(weight, (list, tuple)) else weight
                    packed[feature] = packed.get(feature, 0) + ((round(weight * unit) + count) << shift)
                continue
            for feature, row in rows.items():
                if len(row) != columns:
                    raise ValueError(f"head {name}: feature {feature!r} has {len(row)} weights for {columns} columns")
                value = int.from_bytes(writer.pack(*[round(weight * unit) + offset for weight in row], 1), "little")
                packed[feature] = packed.get(feature, 0) + (value << shift)
        # New key strings: the weight file's own are spread over the memory its parsed numbers held,
        # which could not go back to the allocator while they lived (10 MB more per process).
        self._packed = {key.encode().decode(): value for key, value in packed.items()}

    def __len__(self) -> int:
        return len(self._packed)

    def total(self, found: frozenset[str] | set[str]) -> int:
        """The packed sum of every head's rows over the features of ``found`` that any head knows."""
        # One look-up per feature, unknown ones (None) dropped in C: cheaper than intersecting first.
        return sum(filter(None, map(self._packed.get, found)))

    def fields(self, total: int) -> bytes:
        """``total`` as its fields' bytes, read by ``logits`` for each head."""
        return total.to_bytes(self._bytes, "little")

    def logits(self, fields: bytes, name: str, bias: Sequence[float]) -> tuple[int, list[float]]:
        """How many of head ``name``'s features a text's ``fields`` hold, and the head's logits:
        ``bias + (sum of its rows) / sqrt(n)``, the bias alone when it knows none of them."""
        start, columns, reader = self._layout[name]
        *sums, hits = reader.unpack_from(fields, start)
        if not hits:
            return 0, list(bias)
        scale = 1.0 / (math.sqrt(hits) * 2 ** self.scale)
        base = hits * self.offset
        return hits, [b + (value - base) * scale for b, value in zip(bias, sums)]
