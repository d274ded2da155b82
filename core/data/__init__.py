"""Match data: one neutral event schema, the StatsBomb reader, and where match files come from."""

from core.data.schema import EVENT_SCHEMA, FRAME_SCHEMA, FREEZE_FRAME_SCHEMA, MATCH_SCHEMA
from core.data.sources import MatchFiles, demo_match_files, discover
from core.data.statsbomb import read_events, read_three_sixty
from core.errors import SourceError, StatsBombFormatError

__all__ = [
    "EVENT_SCHEMA",
    "FRAME_SCHEMA",
    "FREEZE_FRAME_SCHEMA",
    "MATCH_SCHEMA",
    "MatchFiles",
    "SourceError",
    "StatsBombFormatError",
    "demo_match_files",
    "discover",
    "read_events",
    "read_three_sixty",
]
