"""The local stack: real servers as local processes, one command to start, stop and check them."""

from twin_localstack.stack import Stack

__all__ = ["Stack"]
