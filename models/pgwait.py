"""A bound on every wait for PostgreSQL's answer: a connection that says nothing is lost."""

from __future__ import annotations

from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import errors
from sqlalchemy.engine import Engine

# psycopg raises it when a wait's own timeout expires (an OperationalError).
_WAIT_TIMEOUT: type[Exception] = getattr(errors, "_WaitTimeout", psycopg.OperationalError)


class ReplyBoundConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait for the server (a statement, a fetch, a commit)
    ends after `reply_timeout` seconds: then the connection is closed and the wait raises
    OperationalError, which SQLAlchemy takes for a disconnect (its pool is dropped).

    The server's statement_timeout ends a slow statement with an answer; this ends the wait
    when no answer can come: TCP keepalives and tcp_user_timeout do not fire when a proxy, a
    NAT box that still acknowledges, or a frozen server took the bytes and says nothing.
    """

    reply_timeout: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        limit = self.reply_timeout if timeout is None else None
        if limit is None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, limit)
        except _WAIT_TIMEOUT:
            # Half a conversation cannot be resumed: nothing more is said on this connection.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"no answer from the database server within {limit:g} s (connection lost)"
            ) from None


def bound_replies(engine: Engine, reply: float, connect: float) -> None:
    """Connections of engine are ReplyBoundConnection with this reply timeout (0: none); a
    connection attempt that times out says so in words."""

    @sa.event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            conn = ReplyBoundConnection.connect(*cargs, **cparams)
        except errors.ConnectionTimeout:
            raise errors.ConnectionTimeout(
                f"no answer from the database server within {connect:g} s of connecting"
            ) from None
        conn.reply_timeout = reply or None
        return conn
