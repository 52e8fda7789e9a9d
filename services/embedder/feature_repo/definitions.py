"""Feature definitions of the embedder (entities document and author; feature views document_stats, author_stats)."""

from pathlib import Path

from twin_embedder.feast_sink import definitions

DATA_DIR = Path(__file__).resolve().parents[3] / ".local" / "embedder" / "feast"
(
    document,
    author,
    document_stats_file,
    document_stats_push,
    document_stats,
    author_stats_file,
    author_stats_push,
    author_stats,
) = definitions(DATA_DIR)
