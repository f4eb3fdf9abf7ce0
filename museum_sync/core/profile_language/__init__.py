"""The profile language's parts that are not the map compiler itself, one job per module.

- ``transforms``: what happens to one source value (null placeholders, regex extract/replace, declared date
  formats, value tables matched exactly then case-insensitively, conditions on another column);
- ``dimensions``: dimension strings (``Diam. 11/16 in. (1.7 cm)``) parsed into measurements with units;
- ``lookups``: side tables (a constituents file keyed by id), read once per process, bounded in size;
- ``lines``: which line of a profile file a ``[map]`` key is on, for errors that name it;
- ``schema``: the JSON Schema of a profile file, generated from the pydantic models (shipped, tested equal).

``museum_sync.core.mapping`` compiles a profile's ``[map]`` with these; ``museum_sync.core.profiles`` loads it.
"""

__all__: list[str] = []
