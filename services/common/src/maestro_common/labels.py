"""The preference-label artifact: what the annotator writes and the reward trainer reads.

One Parquet file, one row per (pair, skill). Besides the texts the judge read, each side carries
the fields a reward model consumes (the current message and the depth change), so no reader has
to parse text.
"""

from __future__ import annotations

import pyarrow as pa

LABELS = ("first", "second", "tie", "unknown")
"""first/second: that observation fits the skill better; tie: neither; unknown: no usable verdict."""

LABEL_SCHEMA = pa.schema([
    ("pair_id", pa.string()), ("skill", pa.string()),
    ("first_id", pa.string()), ("second_id", pa.string()),
    ("first_text", pa.string()), ("second_text", pa.string()),
    ("first_message", pa.string()), ("second_message", pa.string()),
    ("first_depth_change", pa.int32()), ("second_depth_change", pa.int32()),
    ("label", pa.string()), ("raw_answer", pa.string()),
    ("score_first", pa.float64()), ("score_second", pa.float64()),
    ("judge_mode", pa.string()), ("model", pa.string()), ("prompt_version", pa.string()),
    ("latency_s", pa.float64()), ("prompt_tokens", pa.int32()), ("completion_tokens", pa.int32()),
    ("llm_calls", pa.int32()), ("cache_hits", pa.int32()),
])
"""latency and tokens count only answers that were not served from the answer cache."""
