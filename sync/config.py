"""Settings from config.toml, overridden by TRIALWATCH_* environment variables."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sync.core.ids import InvalidNCTId, normalise_nct_id, quoted

DEFAULT_CONFIG = "config.toml"
DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_HISTORY_URL = "https://clinicaltrials.gov/api/int"

OVERALL_STATUSES = (
    "ACTIVE_NOT_RECRUITING",
    "COMPLETED",
    "ENROLLING_BY_INVITATION",
    "NOT_YET_RECRUITING",
    "RECRUITING",
    "SUSPENDED",
    "TERMINATED",
    "WITHDRAWN",
    "AVAILABLE",
    "NO_LONGER_AVAILABLE",
    "TEMPORARILY_NOT_AVAILABLE",
    "APPROVED_FOR_MARKETING",
    "WITHHELD",
    "UNKNOWN",
)


# A watch's query travels in the URL of every page of its search: the API takes no other form
# (GET only, no length in its OpenAPI spec), and URLs are kept well under the 8 KB request line
# web servers commonly accept. 4,000 characters, and 6,000 bytes once percent-encoded (a quote
# is 3, an "é" 6), leave room for the fields, the page token and the rest of the URL.
MAX_QUERY_CHARS = 4000
MAX_QUERY_URL_BYTES = 6000
QUERY_KEYS = ("term", "cond", "intr", "titles", "spons", "advanced")
# Active watches (config and `watch add` together): each is at least one request per watch run
# at the polite rate of one a second; `max_watches` raises it.
DEFAULT_MAX_WATCHES = 100


def query_size_problem(name: str, values: dict[str, str | None]) -> str | None:
    """Why a watch's query cannot fit in the registry's URLs (its length, never its text)."""
    from urllib.parse import quote_plus

    parts = {k: " ".join(v.split()) for k, v in values.items() if v and v.strip()}
    chars = sum(len(v) for v in parts.values())
    # As the client sends them (a space is "+"), or a little longer.
    encoded = sum(len(quote_plus(v)) for v in parts.values())
    if chars <= MAX_QUERY_CHARS and encoded <= MAX_QUERY_URL_BYTES:
        return None
    longest = max(parts, key=lambda k: len(parts[k]))
    if chars > MAX_QUERY_CHARS:
        size = f"{chars:,} characters long ({longest}: {len(parts[longest]):,})"
        most = f"at most {MAX_QUERY_CHARS:,} characters"
    else:
        size = f"{encoded:,} bytes once encoded for the URL"
        most = f"at most {MAX_QUERY_URL_BYTES:,} bytes encoded"
    return (
        f"watch {name!r}: its query is {size}; the registry's URLs take {most} "
        "(split it into several watches)"
    )


class ConfigError(Exception):
    """A configuration problem a user can fix: says the file, the line and what is wrong."""


class _Strict(BaseModel):
    # No inf or nan: `1e999` is valid TOML, and an infinite timeout or rate is a typo.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ApiSettings(_Strict):
    requests_per_second: float = Field(default=1.0, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    max_retry_seconds: float = Field(default=120.0, gt=0)
    retry_wait_initial: float = Field(default=1.0, ge=0)
    retry_wait_max: float = Field(default=30.0, ge=0)
    batch_size: int = Field(default=200, ge=1, le=1000)
    page_size: int = Field(default=1000, ge=1, le=1000)
    # Full records per page of a mirror's first load: a page of 1000 records is parsed whole
    # (about 400 MB at its peak), 250 keeps a load near 240 MB. A loaded mirror's daily
    # deltas use page_size: 1% of 100,000 studies in one or two pages.
    mirror_page_size: int = Field(default=250, ge=1, le=1000)
    # ...and at most about this many bytes of JSON: a page of large records (1,148 sites are
    # 369 KB) asks the next page for fewer. A page costs about 2.7x its JSON once parsed.
    mirror_page_bytes: int = Field(default=24 * 1024 * 1024, ge=64 * 1024)
    # Worker processes that parse, hash and compress records beside the one writer (0: one
    # per CPU; 1: none, all in the writer), for a run of at least pool_min_records records:
    # a pool costs its start (a fresh interpreter a worker) and the records' trip to it.
    workers: int = Field(default=0, ge=0, le=64)
    pool_min_records: int = Field(default=1000, ge=1)
    # A page of 200 full records is a few MB; anything near this is not a registry answer.
    max_response_bytes: int = Field(default=128 * 1024 * 1024, ge=1024)
    user_agent: str = Field(
        default=(
            "trialwatch/0.1 (ClinicalTrials.gov change tracker; set api.user_agent to add a "
            "contact)"
        ),
        min_length=1,
        max_length=500,
    )

    @field_validator("user_agent")
    @classmethod
    def _header_text(cls, value: str) -> str:
        # An HTTP header: anything but printable ASCII fails every request.
        bad = next((c for c in value if not " " <= c <= "~"), None)
        if bad is not None:
            raise ValueError(
                f"{bad!r} cannot be sent in an HTTP header: use printable ASCII characters"
            )
        return value


class DatabaseSettings(_Strict):
    """How long a wait on the database may last, in seconds (0: no limit). The defaults end a
    connection that went silent (a dropped NAT or firewall) within about two minutes."""

    # PostgreSQL: give up connecting after this.
    connect_timeout_seconds: float = Field(default=10, ge=0)
    # PostgreSQL: the server cancels a statement (lock waits included) running longer.
    statement_timeout_seconds: float = Field(default=60, ge=0)
    # PostgreSQL: any wait for the server's answer ends after this, the connection taken for
    # lost; above the statement timeout, so that a slow statement ends with the server's word.
    reply_timeout_seconds: float = Field(default=90, ge=0)
    # PostgreSQL, both ends of the connection: TCP keepalives end an idle connection whose
    # peer is gone after idle + interval * count seconds (0 idle: the system's keepalives).
    keepalive_idle_seconds: int = Field(default=30, ge=0)
    keepalive_interval_seconds: int = Field(default=10, ge=1)
    keepalive_count: int = Field(default=3, ge=1)
    # PostgreSQL, both ends: a connection whose sent data stays unacknowledged this long ends.
    tcp_user_timeout_seconds: float = Field(default=60, ge=0)
    # SQLite: how long a writer waits for another process's write lock.
    busy_timeout_seconds: float = Field(default=30, ge=0)
    # A run of another host (a shared PostgreSQL) whose heartbeat is older than this is taken
    # for dead and closed as failed by the next run (its process cannot be asked from here).
    stale_run_seconds: float = Field(default=900, ge=60)

    @model_validator(mode="after")
    def _reply_after_statement(self) -> DatabaseSettings:
        reply, statement = self.reply_timeout_seconds, self.statement_timeout_seconds
        if reply and statement and reply <= statement:
            raise ValueError(
                f"database.reply_timeout_seconds ({reply:g}) must be longer than "
                f"database.statement_timeout_seconds ({statement:g}), or 0"
            )
        return self


class WatchConfig(_Strict):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    term: str | None = None
    cond: str | None = None
    intr: str | None = None
    titles: str | None = None
    spons: str | None = None
    status: list[str] = Field(default_factory=list)
    advanced: str | None = None
    track: bool = True
    # Notify this watch's trials from this importance on (default: notify.min_importance).
    min_importance: Importance | None = None
    # A mirror stores every record of its scope (the whole registry when it has no query),
    # fetched by the search itself rather than by ID batches.
    mirror: bool = False
    # A whole-registry mirror's first load from the registry's archive: true downloads it
    # into the data directory, a path names an archive already on disk (relative: to the
    # config file). A query-scoped mirror loads by the API.
    from_archive: bool | str = False

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: list[str]) -> list[str]:
        out = [s.strip().upper() for s in value]
        for s in out:
            if s not in OVERALL_STATUSES:
                raise ValueError(f"unknown status {s!r}; known: {', '.join(OVERALL_STATUSES)}")
        return out

    @model_validator(mode="after")
    def _has_query(self) -> WatchConfig:
        # An empty search would match the whole registry; NCT IDs in query.* make the
        # registry ignore every filter (track such studies with `trialwatch add` instead).
        queries = [self.term, self.cond, self.intr, self.titles, self.spons]
        if self.from_archive:
            if not self.mirror:
                raise ValueError(f"watch {self.name!r}: from_archive needs mirror = true")
            if any((q or "").strip() for q in [*queries, self.advanced]) or self.status:
                raise ValueError(
                    f"watch {self.name!r}: from_archive is for a whole-registry mirror (the "
                    "archive holds every study, unfiltered); a query-scoped mirror loads by "
                    "the API"
                )
        if not self.mirror and not any((q or "").strip() for q in [*queries, self.advanced]):
            raise ValueError(
                f"watch {self.name!r} has no query: set term, cond, intr, titles, spons or advanced"
            )
        too_long = query_size_problem(self.name, {k: getattr(self, k) for k in QUERY_KEYS})
        if too_long:
            raise ValueError(too_long)
        for q in queries:
            if q and re.fullmatch(r"\s*(?:NCT\d{1,8}[\s,|]*)+", q, re.IGNORECASE):
                raise ValueError(
                    f"watch {self.name!r}: {quoted(q.strip(), 60)} is only NCT IDs; track them "
                    "with `trialwatch add` instead"
                )
        return self


class ScheduleSettings(_Strict):
    check_minutes: float = Field(default=30.0, gt=0)
    full_sync_cron: str = "0 3 * * 0"
    digest_cron: str = "0 7 * * *"
    timezone: str = "UTC"


Importance = Literal["high", "medium", "low"]


class NotifySettings(_Strict):
    urls: list[str] = Field(default_factory=list)
    format: Literal["md", "html"] = "md"
    digest_since: str = "1d"
    # A trial-version is notified when one of its events reaches this importance.
    min_importance: Importance = "medium"
    # Event kinds that never trigger a notification (they still show in a digest that is sent).
    quiet: list[str] = Field(default_factory=list)

    @field_validator("quiet")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        from sync.core.events import KINDS

        out = [k.strip().lower() for k in value]
        for k in out:
            if k not in KINDS:
                raise ValueError(f"unknown event kind {k!r}; known: {', '.join(KINDS)}")
        return out


# Trials a digest shows in detail by default (`[digest] max_trials`).
DEFAULT_MAX_TRIALS = 25


class DigestSettings(_Strict):
    """`trialwatch digest` and the digests notifications send."""

    # Trials shown in detail, most important first; the rest are counted by importance and
    # kind in a few lines, so that a digest of a 50,000-study mirror stays readable. 0: all.
    max_trials: int = Field(default=DEFAULT_MAX_TRIALS, ge=0)


class AactSettings(_Strict):
    """AACT's tables in the live PostgreSQL database (schemas aact_history, ctgov, as_of)."""

    # Refresh them after every sync and backfill (the studies with new versions only).
    live: bool = False


class WebSettings(_Strict):
    """`trialwatch serve`: where it listens, the token that allows writes, its public address."""

    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    # Writes (API and forms) need it; without one the app is read-only. TRIALWATCH_WEB__TOKEN
    # keeps it out of the config file.
    token: str | None = Field(default=None, min_length=16, repr=False)
    # The app's public address (https://tw.example.org): feeds, digests and notifications link
    # to its pages. Without it feeds use the address a request came to.
    base_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # Without base_url, the only Host headers links may be built from (others answer 400):
    # names or addresses, without the port; "*" allows any.
    allowed_hosts: list[str] = Field(default_factory=lambda: ["localhost", "127.0.0.1", "::1"])
    # The reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or
    # networks, 10.0.0.0/8); from anyone else those headers are ignored.
    trusted_proxies: list[str] = Field(default_factory=list)
    # A request body past this many bytes answers 413 before it is read.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # How long a sign-in lasts (the server forgets it then, or at sign-out, or a token change).
    session_hours: float = Field(default=12.0, gt=0, le=24 * 365)
    # Rendered pages and API answers kept in memory, per data generation (0: render every
    # request; ETags and 304s all the same).
    cache_mb: float = Field(default=64.0, ge=0)

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        return [h.strip().lower().removeprefix("[").removesuffix("]") for h in hosts if h.strip()]

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, proxies: list[str]) -> list[str]:
        import ipaddress

        for p in proxies:
            try:
                ipaddress.ip_network(p, strict=False)
            except ValueError:
                raise ValueError(f"{p!r} is not an address or a network (10.0.0.0/8)") from None
        return proxies


def split_urls(text: str) -> list[str]:
    """Comma-separated notification URLs; a comma inside a URL (`to=a@x,b@y`) stays in it."""
    parts = re.split(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)", text.strip())
    return [p.strip().rstrip(",").strip() for p in parts if p.strip().strip(",")]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRIALWATCH_", env_nested_delimiter="__", extra="forbid", allow_inf_nan=False
    )

    database_url: str = ""
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    data_dir: str = ""
    api_url: str = DEFAULT_API_URL
    history_url: str = DEFAULT_HISTORY_URL
    backfill_on_add: bool = False
    # A long run (sync, backfill) writes a progress line this often when stderr is no
    # terminal (the daemon's log, a pipe); on a terminal it draws a bar.
    progress_seconds: float = Field(default=60.0, gt=0)
    trials: list[str] = Field(default_factory=list)
    api: ApiSettings = Field(default_factory=ApiSettings)
    # Before `watches`: their validator reads it.
    max_watches: int = Field(default=DEFAULT_MAX_WATCHES, ge=1, le=10_000)
    watches: list[WatchConfig] = Field(default_factory=list)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    aact: AactSettings = Field(default_factory=AactSettings)
    # Where the settings came from; set by load_settings, used to resolve relative paths.
    config_path: str | None = Field(default=None, exclude=True)
    # TRIALWATCH_NOTIFY_URLS, comma-separated: keeps notification secrets out of the config
    # file. When set, it replaces notify.urls.
    notify_urls: str = Field(default="", exclude=True, repr=False)

    @model_validator(mode="after")
    def _notify_urls_from_env(self) -> Settings:
        if self.notify_urls.strip():
            self.notify.urls = split_urls(self.notify_urls)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; the environment wins over them.
        return (env_settings, init_settings)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value:
            return value
        import sqlalchemy.exc
        from sqlalchemy.engine import make_url

        try:
            url = make_url(value)
            if url.drivername in ("postgresql", "postgres"):
                # As people and hosting services write it: psycopg 3 (installed) serves it.
                url = url.set(drivername="postgresql+psycopg")
                value = url.render_as_string(hide_password=False)
            url.get_dialect()
        except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ValueError):
            # The value itself is not repeated: a database URL may hold a password.
            raise ValueError(
                "not a database URL this program can use; expected a SQLAlchemy URL such as "
                "sqlite:////srv/trialwatch/data/trialwatch.db or "
                "postgresql://user@host/dbname"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(
                "trialwatch keeps its data in SQLite (sqlite:///path/to/trialwatch.db) or "
                f"PostgreSQL (postgresql://user@host/dbname); {url.get_backend_name()}:// is "
                "not supported"
            )
        return value

    @field_validator("trials")
    @classmethod
    def _valid_ids(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for raw in value:
            nct = normalise_nct_id(raw)
            if nct not in out:
                out.append(nct)
        return out

    @field_validator("api_url", "history_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        try:
            url = urlsplit(value)
            url.port  # noqa: B018  (raises on a port that is not a number in range)
        except ValueError as exc:
            raise ValueError(f"not a URL: {quoted(value, 60)} ({exc})") from None
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(
                f"expected an http:// or https:// URL with a host, e.g. {DEFAULT_API_URL}; "
                f"got {quoted(value, 60)}"
            )
        return value

    @field_validator("watches")
    @classmethod
    def _unique_watch_names(
        cls, value: list[WatchConfig], info: ValidationInfo
    ) -> list[WatchConfig]:
        most = info.data.get("max_watches", DEFAULT_MAX_WATCHES)
        if len(value) > most:
            raise ValueError(
                f"{len(value):,} watches declared, more than max_watches ({most:,}); each is "
                "searched on every watch run"
            )
        seen: set[str] = set()
        for w in value:
            if w.name in seen:
                raise ValueError(f"watch name {w.name!r} is declared twice")
            seen.add(w.name)
        return value

    @property
    def base_dir(self) -> Path:
        return Path(self.config_path).resolve().parent if self.config_path else Path.cwd()

    @property
    def data_path(self) -> Path:
        if self.data_dir:
            p = Path(self.data_dir).expanduser()
            return p if p.is_absolute() else self.base_dir / p
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(xdg) / "trialwatch"

    @property
    def database_url_resolved(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_path / 'trialwatch.db'}"


def config_path_from(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("TRIALWATCH_CONFIG") or DEFAULT_CONFIG)


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line of the key a validation error points at."""
    names = [str(p) for p in loc if isinstance(p, str)]
    if not names:
        return None
    key = names[-1]
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=", re.MULTILINE)
    if isinstance(loc[-1], int) and len(names) >= 1:
        pattern = re.compile(rf"^\s*\"?{re.escape(names[-1])}\"?\s*=", re.MULTILINE)
    m = pattern.search(text)
    if m is None and len(names) > 1:
        m = re.search(rf"^\s*\[+\s*{re.escape(names[0])}\s*\]+", text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _toml_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> str:
    msg = str(exc)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
    if m:
        return f"{path}, line {m.group(1)}, column {m.group(2)}: invalid TOML: {msg[: m.start()]}"
    if msg.endswith("(at end of document)"):
        last = text.rstrip("\n").count("\n") + 1
        what = msg[: -len("(at end of document)")].strip()
        return f"{path}, line {last} (end of file): invalid TOML: {what}"
    return f"{path}: invalid TOML: {msg}"


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _env_name_of(loc: tuple[Any, ...]) -> str | None:
    """The environment variable that set the value at `loc`, when one did (the environment
    wins over the file, so a bad value there is the variable's fault, not the file's)."""
    names = [str(p) for p in loc if isinstance(p, str)]
    if not names or len(names) != len(loc):
        return None
    prefix = Settings.model_config.get("env_prefix", "")
    delimiter = Settings.model_config.get("env_nested_delimiter") or "__"
    wanted = (prefix + delimiter.join(names)).upper()
    for i in range(len(names), 0, -1):
        # A nested value can also come whole from its parent's variable (JSON).
        candidate = (prefix + delimiter.join(names[:i])).upper()
        if any(k.upper() == candidate for k in os.environ):
            return candidate if i == len(names) else f"{candidate} (for {wanted})"
    return None


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the config file (absent or empty means defaults), then apply the environment."""
    cfg_path = config_path_from(path)
    data: dict[str, Any] = {}
    text = ""
    explicit = path is not None or "TRIALWATCH_CONFIG" in os.environ
    if cfg_path.exists():
        try:
            text = cfg_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{cfg_path}: cannot read: {exc}") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(_toml_error(cfg_path, text, exc)) from exc
    elif explicit:
        raise ConfigError(f"{cfg_path}: no such config file")
    try:
        settings = Settings(**data, config_path=str(cfg_path) if cfg_path.exists() else None)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        env_name = _env_name_of(loc)
        if env_name is not None:
            where = f"environment variable {env_name}"
        else:
            line = _line_of(text, loc) if text else None
            where = f"{cfg_path}, line {line}" if line else str(cfg_path)
        msg = err.get("msg", "invalid value").removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown setting"
        raise ConfigError(f"{where}: {_format_loc(loc)}: {msg}") from exc
    except InvalidNCTId as exc:
        raise ConfigError(f"{cfg_path}: trials: {exc}") from exc
    return settings
