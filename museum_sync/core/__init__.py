"""The pure domain core of museum-sync: records, standards, vocabularies, sources, chunks, validation, drift.

Nothing here talks to a service: no dagster, celery, psycopg or elasticsearch import (a test guards it),
so every rule about museum data can be tested, profiled and reused without a running stack.
"""
