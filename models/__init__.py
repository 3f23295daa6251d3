"""trialwatch's database: tables, engine and migrations, and nothing else."""

from models.tables import (
    Change,
    CompressionDict,
    DataGeneration,
    Delivery,
    Meta,
    RegistryVersion,
    Snapshot,
    SyncRun,
    Trial,
    Watch,
    WatchEvent,
    WatchMatch,
)

__all__ = [
    "Change",
    "CompressionDict",
    "DataGeneration",
    "Delivery",
    "Meta",
    "RegistryVersion",
    "Snapshot",
    "SyncRun",
    "Trial",
    "Watch",
    "WatchEvent",
    "WatchMatch",
]
